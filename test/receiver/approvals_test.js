'use strict';
// Human approval through the real front (nginx + PostgREST, scripts/http.sh):
// the SDK contract of the approval flow (enforce answers 202 with
// requiresApproval and approvalRequestId; GET /approvals/{id} polled for
// data.status; POST /approvals/{id}/verify with the SDK's actionContext),
// approve and deny over HTTP (admin keys only), single use, bad input, and
// the certificate checked here with Node's crypto.verify against the
// published public key.  Prints TAP.
//
//   node approvals_test.js <base URL> <superuser connection string>

const crypto = require('crypto');
const { Client } = require('pg');
const { HttpClient } = require('./http_client');

const [base, superConn] = process.argv.slice(2);
let n = 0;
function ok(cond, name, diag) {
  n++;
  console.log(`${cond ? 'ok' : 'not ok'} ${n} - ${name}`);
  if (!cond && diag !== undefined) console.log('# ' + JSON.stringify(diag).slice(0, 3000));
}
function is(got, want, name, extra) {
  const cond = JSON.stringify(got) === JSON.stringify(want);
  ok(cond, name, cond ? undefined : { got, want, extra });
}
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

// A receiver's check of a certificate: the message it signs, rebuilt from
// its fields (README "Human approval", Certificates), against the PEM key.
function certificateValid(cert, pem) {
  const message = ['execlave-approval-v1', cert.approval_id, cert.action_context_hash, cert.decision, cert.decided_at].join('\n');
  return crypto.verify(null, Buffer.from(message, 'utf8'), crypto.createPublicKey(pem), Buffer.from(cert.signature, 'base64'));
}
// The digest a receiver computes: SHA-256 of the normalized context's jsonb text.
function sha256(s) { return crypto.createHash('sha256').update(s, 'utf8').digest('hex'); }

async function main() {
  const db = new Client({ connectionString: superConn });
  await db.connect();
  const q = async (sql, args) => (await db.query(sql, args)).rows;
  const one = async (sql, args) => Object.values((await q(sql, args))[0])[0];
  await q(`SET client_min_messages = warning`);
  const count = async () => Number(await one(`SELECT count(*) FROM execlave.approvals WHERE agent_key = 'refunder'`));

  const A = await one(`SELECT execlave_register_agent('refunder')`);
  await one(`SELECT execlave_register_agent('bystander')`);
  await q(`SELECT execlave_create_policy('refunds need a human', 'tool_access', 'require_approval',
             '{"deny": ["refund*"]}', ARRAY['refunder', 'bystander'])`);
  const key = async (name, env, scope, agent) =>
    one(`SELECT api_key FROM execlave_create_api_key($1, $2, $3, $4)`, [name, env, scope, agent]);
  const admin = new HttpClient(base, await key('approver', 'prod', 'admin', null));
  const agent = new HttpClient(base, await key('refunder-svc', 'prod', 'agent', 'refunder'));
  const other = new HttpClient(base, await key('bystander-svc', 'prod', 'agent', 'bystander'));
  const pem = await one(`SELECT public_key_pem FROM execlave_approval_public_key()`);

  // the SDK's enforce call and, for the verify call, the action context it rebuilds
  const call = { agentId: A, input: 'refund order 1001', environment: 'production', metadata: { order: 1001 },
    estimatedCost: 2.5, tools: ['refund_order'] };
  const actionContext = { input: call.input, environment: call.environment, metadata: call.metadata,
    estimatedCost: call.estimatedCost, tools: call.tools };

  // --- enforce: 202 with the SDK's field names
  let r = await agent.enforce(call);
  const id = r.json?.approvalRequestId;
  is([r.status, r.json?.success, r.json?.allowed, r.json?.requiresApproval, UUID.test(id ?? ''),
    r.json?.data?.requiresApproval, r.json?.data?.approvalRequestId === id, typeof r.json?.approvalExpiresAt,
    r.json?.violations?.map((v) => [v.policyName, v.policyType, v.enforcementMode])],
  [202, true, false, true, true, true, true, 'string', [['refunds need a human', 'tool_access', 'require_approval']]],
  'enforce: 202 {allowed: false, requiresApproval: true, approvalRequestId}', r.text);
  is(await count(), 1, 'enforce: one pending request written (committed with the 202)');
  is(await one(`SELECT requested_by FROM execlave.approvals WHERE id = $1`, [id]), 'api:refunder-svc',
    'enforce: the request is stamped with the key');
  const ctx = await one(`SELECT context::text FROM execlave.approvals WHERE id = $1`, [id]);
  is([ctx, await one(`SELECT digest FROM execlave.approvals WHERE id = $1`, [id])],
    ['{"input": "refund order 1001", "tools": ["refund_order"], "metadata": {"order": 1001}, "environment": "production", "estimated_cost": 2.5}',
      sha256(ctx)], 'enforce: the stored context and its digest (SHA-256 of its jsonb text)');
  r = await agent.enforce(call);
  is([r.status, r.json?.approvalRequestId], [202, id], 'enforce again while pending: the same request');
  is(await count(), 1, 'enforce again: no second request');

  // --- polling: GET /approvals/{id}
  r = await agent.api('GET', `/approvals/${id}`);
  is([r.status, r.json?.success, r.json?.data?.id, r.json?.data?.status, r.json?.data?.decisionReason, r.json?.data?.agentId,
    r.json?.data?.actionContextHash?.length],
  [200, true, id, 'pending', null, A, 64], 'GET /api/v1/approvals/{id} (agent key): data.status pending', r.text);
  r = await other.api('GET', `/approvals/${id}`);
  is([r.status, r.json?.error?.code, r.json?.error?.sqlstate], [404, 'approval_not_found', 'EX012'],
    'GET by another agent\'s key: 404, as if it did not exist', r.text);
  r = await admin.raw('GET', `/api/approvals/${id}`);
  is([r.status, r.json?.data?.status], [200, 'pending'], 'GET /api/approvals/{id} (admin key, /api)', r.text);
  r = await admin.api('GET', '/approvals?status=pending');
  is([r.status, (r.json?.data ?? []).map((a) => a.id)], [200, [id]], 'GET /api/v1/approvals: the pending requests (admin)', r.text);
  r = await agent.api('GET', '/approvals');
  is([r.status, r.json?.error?.sqlstate], [403, '42501'], 'GET /api/v1/approvals with an agent key: 403', r.text);

  // --- verify before a decision
  r = await agent.api('POST', `/approvals/${id}/verify`, { actionContext });
  is([r.status, r.json?.data?.valid, r.json?.data?.reason, r.json?.data?.certificate], [200, false, 'pending', null],
    'verify while pending: valid false, reason pending', r.text);

  // --- deciding: an agent key is refused, nothing written
  const before = await one(`SELECT count(*) FROM execlave.events`);
  r = await agent.api('POST', `/approvals/${id}/approve`, { reason: 'I approve myself' });
  is([r.status, r.json?.success, r.json?.error?.code, r.json?.error?.sqlstate], [403, false, 'forbidden', '42501'],
    'approve with the agent\'s own key: 403 42501', r.text);
  is([await one(`SELECT status FROM execlave.approvals WHERE id = $1`, [id]), await one(`SELECT count(*) FROM execlave.events`)],
    ['pending', before], 'the refused approve wrote nothing');
  r = await admin.api('POST', `/approvals/${id}/approve`, {});
  is([r.status, r.json?.error?.code, r.json?.error?.sqlstate], [400, 'validation_error', '22023'], 'approve without a reason: 400', r.text);
  r = await admin.api('POST', `/approvals/${id}/approve`, { reason: null });
  is([r.status, r.json?.error?.sqlstate], [400, '22023'], 'approve with a null reason: 400', r.text);
  r = await admin.api('POST', `/approvals/${id}/approve`, { reason: 'ok', note: 1 });
  is([r.status, r.json?.error?.sqlstate], [400, '22023'], 'approve with an unknown field: 400', r.text);
  r = await admin.api('POST', `/approvals/${id}/approve`, { reason: 'customer called' });
  is([r.status, r.json?.success, r.json?.data?.status, r.json?.data?.decidedBy, r.json?.data?.decisionReason],
    [200, true, 'approved', 'api:approver', 'customer called'], 'approve (admin key): 200 approved, stamped with the key', r.text);
  r = await admin.api('POST', `/approvals/${id}/approve`, { reason: 'again' });
  is([r.status, r.json?.error?.code, r.json?.error?.sqlstate], [409, 'approval_already_decided', 'EX013'], 'approve twice: 409', r.text);
  r = await admin.api('POST', `/approvals/${id}/deny`, { reason: 'too late' });
  is([r.status, r.json?.error?.sqlstate], [409, 'EX013'], 'deny after approve: 409', r.text);
  r = await agent.api('GET', `/approvals/${id}`);
  is([r.status, r.json?.data?.status, r.json?.data?.decisionReason], [200, 'approved', 'customer called'], 'poll: approved', r.text);

  // --- verify (an admin's check: writes nothing): the SDK's actionContext, the certificate
  r = await admin.api('POST', `/approvals/${id}/verify`, { actionContext });
  const cert = r.json?.data?.certificate;
  is([r.status, r.json?.data?.valid, r.json?.data?.reason, typeof r.json?.data?.verifiedAt, cert?.algorithm, cert?.approval_id,
    cert?.action_context_hash, cert?.decision, cert?.approved_by],
  [200, true, null, 'string', 'Ed25519', id, sha256(ctx), 'approved', 'api:approver'],
  'verify with the SDK\'s actionContext: valid, with the certificate', r.text);
  ok(cert && certificateValid(cert, pem), 'the certificate checks with crypto.verify and the published key');
  ok(cert && !certificateValid({ ...cert, decision: 'denied' }, pem), 'an altered certificate does not');
  ok(cert && !certificateValid({ ...cert, action_context_hash: sha256('other') }, pem), 'nor one moved to another context');
  r = await agent.api('POST', `/approvals/${id}/verify`, { actionContext: { ...actionContext, estimatedCost: 250 } });
  is([r.status, r.json?.data?.valid, r.json?.data?.reason], [200, false, 'action_context_mismatch'],
    'verify with another context: valid false, action_context_mismatch', r.text);

  // --- bad input
  r = await agent.api('POST', `/approvals/${id}/verify`, { actionContext: [1] });
  is([r.status, r.json?.error?.sqlstate], [400, '22023'], 'verify with an actionContext that is not an object: 400', r.text);
  r = await agent.api('POST', `/approvals/${id}/verify`, {});
  is([r.status, r.json?.error?.sqlstate], [400, '22023'], 'verify without actionContext: 400', r.text);
  r = await agent.api('POST', `/approvals/${id}/verify`, { actionContext: { input: 'x', colour: 'red' } });
  is([r.status, r.json?.error?.sqlstate], [400, '22023'], 'verify with an unknown context field: 400', r.text);
  r = await admin.api('GET', '/approvals/00000000-0000-0000-0000-000000000000');
  is([r.status, r.json?.error?.code, r.json?.error?.sqlstate], [404, 'approval_not_found', 'EX012'], 'GET an unknown id: 404', r.text);
  r = await admin.api('GET', '/approvals/not-a-uuid');
  is([r.status, r.json?.error?.code, r.json?.error?.sqlstate], [400, 'validation_error', '22P02'], 'GET a malformed id: 400', r.text);
  r = await admin.api('POST', '/approvals/00000000-0000-0000-0000-000000000000/approve', { reason: 'ok' });
  is([r.status, r.json?.error?.sqlstate], [404, 'EX012'], 'approve an unknown id: 404', r.text);
  r = await admin.api('POST', '/approvals/nope/deny', { reason: 'ok' });
  is([r.status, r.json?.error?.sqlstate], [400, '22P02'], 'deny a malformed id: 400', r.text);
  r = await admin.api('DELETE', `/approvals/${id}`);
  is([r.status, r.headers.get('allow')], [405, 'GET'], 'DELETE /approvals/{id}: 405', r.text);

  // --- single use: the next enforce with the same context is allowed, once
  r = await agent.enforce({ ...call, estimatedCost: 2.50 });
  is([r.status, r.json?.allowed, r.json?.approvalConsumed, r.json?.approvalRequestId, r.json?.data?.allowed],
    [200, true, true, id, true], 'enforce with the approved context: 200 allowed, the approval consumed', r.text);
  r = await agent.api('GET', `/approvals/${id}`);
  is([r.json?.data?.status, r.json?.data?.approvalStatus, typeof r.json?.data?.consumedAt], ['approved', 'consumed', 'string'],
    'the consumed approval polls as approved (approvalStatus consumed)', r.text);
  r = await agent.enforce(call);
  const id2 = r.json?.approvalRequestId;
  is([r.status, r.json?.requiresApproval, UUID.test(id2 ?? ''), id2 !== id], [202, true, true, true],
    'enforce once more: 202, a new request (no second use)', r.text);

  // --- the SDKs' flow: poll, then verify with the agent's key, which uses the approval
  r = await agent.enforce({ ...call, input: 'refund order 1003' });
  const sdkId = r.json?.approvalRequestId;
  const sdkContext = { ...actionContext, input: 'refund order 1003' };
  await admin.api('POST', `/approvals/${sdkId}/approve`, { reason: 'ok' });
  r = await agent.api('GET', `/approvals/${sdkId}`);
  is(r.json?.data?.status, 'approved', 'sdk flow: the poll sees approved', r.text);
  const [v1, v2] = await Promise.all([agent.api('POST', `/approvals/${sdkId}/verify`, { actionContext: sdkContext }),
    agent.api('POST', `/approvals/${sdkId}/verify`, { actionContext: sdkContext })]);
  is([v1.status, v2.status, [v1.json?.data?.valid, v2.json?.data?.valid].sort(), [v1.json?.data?.consumed, v2.json?.data?.consumed].sort()],
    [200, 200, [false, true], [false, true]], 'sdk flow: of two verify calls at once by the agent, one is valid and uses the approval',
    [v1.text, v2.text]);
  const loser = v1.json?.data?.valid ? v2 : v1;
  is([loser.json?.data?.reason, loser.json?.data?.approvalStatus], ['consumed', 'consumed'], 'sdk flow: the other is told it is used', loser.text);
  r = await agent.enforce({ ...call, input: 'refund order 1003' });
  is([r.status, r.json?.approvalRequestId !== sdkId], [202, true], 'sdk flow: an enforce after it asks anew (no second use)', r.text);
  r = await admin.api('POST', `/approvals/${sdkId}/verify`, { actionContext: sdkContext });
  is([r.json?.data?.valid, r.json?.data?.consumed, r.json?.data?.approvalStatus], [true, false, 'consumed'],
    'sdk flow: an admin\'s verify still says the approval covered it', r.text);

  // --- deny
  r = await admin.raw('POST', `/api/approvals/${id2}/deny`, { reason: 'duplicate refund' });
  is([r.status, r.json?.data?.status, r.json?.data?.decisionReason], [200, 'denied', 'duplicate refund'], 'deny (admin, /api): 200', r.text);
  r = await agent.api('GET', `/approvals/${id2}`);
  is([r.json?.data?.status, r.json?.data?.decisionReason], ['denied', 'duplicate refund'], 'poll: denied with the reason', r.text);
  r = await agent.api('POST', `/approvals/${id2}/verify`, { actionContext });
  is([r.json?.data?.valid, r.json?.data?.reason, r.json?.data?.certificate?.decision], [false, 'denied', 'denied'],
    'verify a denied request: valid false, the signed denial', r.text);
  ok(certificateValid(r.json?.data?.certificate ?? { signature: '' }, pem), 'the denial\'s certificate checks too');

  // --- a block policy wins over require_approval
  await q(`SELECT execlave_create_policy('no shell', 'tool_access', 'block', '{"deny": ["shell"]}', ARRAY['refunder'])`);
  const n0 = await count();
  r = await agent.enforce({ agentId: A, input: 'refund and rm', tools: ['refund_order', 'shell'] });
  is([r.status, r.json?.allowed, r.json?.requiresApproval, r.json?.approvalRequestId], [403, false, undefined, undefined],
    'a block policy wins: 403, no approval request', r.text);
  is(await count(), n0, 'no request written for a blocked call');

  // --- the PostgREST surface answers the same way
  r = await agent.raw('POST', '/rest/rpc/enforce', { agentId: A, input: 'refund order 2000', tools: ['refund_order'] });
  is([r.status, r.json?.allowed, r.json?.requiresApproval, UUID.test(r.json?.approvalRequestId ?? '')], [202, false, true, true],
    'POST /rest/rpc/enforce: 202 with requiresApproval and approvalRequestId', r.text);

  // --- pausing over HTTP cancels the pending request; the SDK sees denied
  r = await agent.enforce({ ...call, input: 'refund order 1002' });
  const id3 = r.json?.approvalRequestId;
  r = await admin.pause(A, 'fraud review');
  is(r.status, 200, 'pause (product page call)', r.text);
  r = await agent.api('GET', `/approvals/${id3}`);
  is([r.json?.data?.status, r.json?.data?.approvalStatus, r.json?.data?.decisionReason, r.json?.data?.decidedBy],
    ['denied', 'cancelled', 'agent paused: fraud review', 'api:approver'], 'the paused agent\'s pending request is cancelled', r.text);
  r = await admin.api('POST', `/approvals/${id3}/approve`, { reason: 'too late' });
  is([r.status, r.json?.error?.sqlstate], [409, 'EX013'], 'a cancelled request cannot be approved', r.text);

  await db.end();
  console.log(`1..${n}`);
}

main().catch((e) => { console.log(`not ok ${++n} - the driver failed: ${e.stack}`); console.log(`1..${n}`); });
