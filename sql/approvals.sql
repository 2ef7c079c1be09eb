-- Human approval: require_approval policies, execlave.approvals, approve /
-- deny, single-use consumption, certificates, pause, expiry, bad input.
SELECT execlave_register_agent('appr-agent') AS appr_id \gset
SELECT execlave_register_agent('appr-other') AS other_id \gset
CREATE ROLE regress_appr_admin IN ROLE execlave_admin;
CREATE ROLE regress_appr_app IN ROLE execlave_app;
GRANT USAGE ON SCHEMA public TO regress_appr_admin, regress_appr_app;

-- Helper: an answer without its ids and times.
CREATE FUNCTION public.appr_shape(a jsonb) RETURNS jsonb
LANGUAGE sql AS $$
    SELECT a - 'approval_request_id' - 'approval_expires_at'
           || jsonb_build_object('has_id', a ? 'approval_request_id', 'has_expiry', a ? 'approval_expires_at')
$$;

-- Helper: expect_error with ids and times masked.
CREATE FUNCTION public.appr_err(stmt text) RETURNS text
LANGUAGE sql AS $$
    SELECT regexp_replace(regexp_replace(public.expect_error(stmt),
        '[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}', '<id>', 'g'),
        ' at .*$', ' at <time>')
$$;
GRANT EXECUTE ON FUNCTION public.appr_err(text) TO regress_appr_admin, regress_appr_app;

-------------------------------------------------------------------------------
-- The mode, for every type; its option
-------------------------------------------------------------------------------
SELECT execlave_create_policy('appr-tools', 'tool_access', 'require_approval', '{"deny": ["refund*", "shell"]}',
                              ARRAY['appr-agent']) IS NOT NULL AS created;
SELECT name, mode, config FROM execlave.policies WHERE name = 'appr-tools';
-- every type takes the mode (created inactive-scoped to the other agent, then dropped)
SELECT t, execlave_create_policy('appr-any-' || t, t, 'require_approval', c, ARRAY['appr-other']) IS NOT NULL AS ok
FROM (VALUES ('prompt_injection', '{}'::jsonb), ('pii_detection', '{}'), ('model_allowlist', '{"allow": ["gpt-4o"]}'),
             ('token_limit', '{"max_total_tokens": 10}'), ('tool_access', '{"deny": ["x"]}'),
             ('rate_limit', '{"max_requests_per_minute": 5}'), ('cost_limit', '{"max_cost_per_trace": 1}'),
             ('budget_cap', '{"max_cost_per_month": 10}')) v(t, c) ORDER BY 1;
DELETE FROM execlave.policies WHERE name LIKE 'appr-any-%';
SELECT execlave_create_policy('appr-x', 'tool_access', 'require_approval', '{"deny": ["x"], "approval_timeout_seconds": 60}') IS NOT NULL AS timeout_ok;
DELETE FROM execlave.policies WHERE name = 'appr-x';
SELECT expect_error($$SELECT execlave_create_policy('appr-x', 'tool_access', 'require_approval', '{"deny": ["x"], "approval_timeout_seconds": 0}')$$);
SELECT expect_error($$SELECT execlave_create_policy('appr-x', 'tool_access', 'require_approval', '{"deny": ["x"], "approval_timeout_seconds": "1h"}')$$);
SELECT expect_error($$SELECT execlave_create_policy('appr-x', 'tool_access', 'require_approval', '{"deny": ["x"], "approval_timeout_seconds": 604801}')$$);
SELECT expect_error($$SELECT execlave_create_policy('appr-x', 'tool_access', 'ask_a_human', '{"deny": ["x"]}')$$);

-------------------------------------------------------------------------------
-- enforce answers requires_approval and writes one pending request
-------------------------------------------------------------------------------
SELECT appr_shape(execlave_enforce('appr-agent', 'refund order 42', NULL, 12.50, ARRAY['refund_order'],
                                   '{"environment": "prod", "order": 42}')) #- '{violations,0,policy_id}' AS answer;
SELECT count(*) AS requests FROM execlave.approvals;
SELECT agent_key, status, policies -> 0 ->> 'policy_name' AS policy, context, digest = execlave.approval_digest(context) AS digest_ok,
       expires_at - requested_at AS lifetime, requested_by = current_user AS stamped, decided_at IS NULL AS undecided
FROM execlave.approvals;
-- the digest: SHA-256 of the context's jsonb text
SELECT digest = encode(sha256(convert_to('{"input": "refund order 42", "tools": ["refund_order"], "metadata": {"order": 42}, "environment": "prod", "estimated_cost": 12.5}', 'UTF8')), 'hex') AS documented_digest
FROM execlave.approvals;
-- the same call again shares the pending request; the violation is recorded each time
SELECT execlave_enforce('appr-agent', 'refund order 42', NULL, 12.5, ARRAY['refund_order', 'refund_order'],
                        '{"order": 42, "environment": "prod"}') ->> 'approval_request_id' = id::text AS same_request
FROM execlave.approvals;
SELECT count(*) AS requests FROM execlave.approvals;
SELECT mode, phase, count(*) FROM execlave.violations WHERE policy_name = 'appr-tools' GROUP BY 1, 2;
-- the event approvers decide from
SELECT event_type, data ->> 'agent_key' AS agent, data -> 'context' ->> 'input' AS input,
       data -> 'policies' -> 0 ->> 'policy_name' AS policy, data ? 'expires_at' AS has_expiry,
       (data ->> 'approval_id')::uuid = (SELECT id FROM execlave.approvals) AS names_request
FROM execlave.events WHERE event_type LIKE 'approval.%' ORDER BY id;
-- and the DBA's view
SELECT agent_key, policies -> 0 ->> 'policy_name' AS policy, expires_in > interval '29 minutes' AS fresh
FROM execlave.pending_approvals;
SELECT id AS req1 FROM execlave.approvals \gset
-- not covered yet: still pending
SELECT (execlave_enforce('appr-agent', 'refund order 42', NULL, 12.5, ARRAY['refund_order'],
                         '{"order": 42, "environment": "prod"}') ->> 'allowed')::boolean AS allowed;
-- a block policy wins: no request
SELECT execlave_create_policy('appr-block', 'tool_access', 'block', '{"deny": ["shell"]}', ARRAY['appr-agent']) IS NOT NULL AS created;
SELECT appr_shape(execlave_enforce('appr-agent', 'rm -rf', NULL, NULL, ARRAY['shell'])) - 'violations' - 'warnings' AS answer;
SELECT count(*) AS requests FROM execlave.approvals;
-- no policy fires: allowed, no request
SELECT appr_shape(execlave_enforce('appr-agent', 'hello', NULL, NULL, ARRAY['search'])) AS answer;

-------------------------------------------------------------------------------
-- Deciding: execlave_admin only; twice refused
-------------------------------------------------------------------------------
SET ROLE regress_appr_app;
SELECT appr_err(format('SELECT execlave_approve(%L, %L)', :'req1', 'ok'));
RESET ROLE;
SET ROLE regress_appr_admin;
SELECT status, decided_by, decision_reason FROM jsonb_to_record(execlave_approve(:'req1', 'refund agreed with the customer'))
    AS r(status text, decided_by text, decision_reason text);
SELECT appr_err(format('SELECT execlave_approve(%L, %L)', :'req1', 'again'));
SELECT appr_err(format('SELECT execlave_deny(%L, %L)', :'req1', 'changed my mind'));
RESET ROLE;
SELECT status, decided_by, decision_reason, decided_at IS NOT NULL AS decided FROM execlave.approvals WHERE id = :'req1';
SELECT data ->> 'decision' AS decision, data ->> 'decided_by' AS by, data ->> 'reason' AS reason
FROM execlave.events WHERE event_type = 'approval.resolved' ORDER BY id;
SELECT count(*) AS pending FROM execlave.pending_approvals;

-------------------------------------------------------------------------------
-- Verification and the certificate (before use)
-------------------------------------------------------------------------------
SELECT r - '{certificate,approval_id,action_context_hash}'::text[] AS verdict,
       (r -> 'certificate') - '{signature,key_id,approval_id,action_context_hash,decided_at}'::text[] AS certificate
FROM execlave_verify_approval(:'req1', '{"input": "refund order 42", "environment": "prod", "metadata": {"order": 42},
                                         "estimatedCost": 12.50, "tools": ["refund_order"]}') r;
SELECT r ->> 'valid' AS valid, r ->> 'reason' AS reason
FROM execlave_verify_approval(:'req1', '{"input": "refund order 43", "environment": "prod", "metadata": {"order": 42},
                                         "estimatedCost": 12.5, "tools": ["refund_order"]}') r;
-- the signature checks with the published key over the documented message
SELECT execlave.ed25519_verify(decode(k.public_key, 'base64'),
           convert_to('execlave-approval-v1' || E'\n' || (c ->> 'approval_id') || E'\n' || (c ->> 'action_context_hash')
                      || E'\n' || (c ->> 'decision') || E'\n' || (c ->> 'decided_at'), 'UTF8'),
           decode(c ->> 'signature', 'base64')) AS signature_ok,
       execlave.ed25519_verify(decode(k.public_key, 'base64'),
           convert_to('execlave-approval-v1' || E'\n' || (c ->> 'approval_id') || E'\n' || (c ->> 'action_context_hash')
                      || E'\n' || 'denied' || E'\n' || (c ->> 'decided_at'), 'UTF8'),
           decode(c ->> 'signature', 'base64')) AS altered_ok,
       c ->> 'key_id' = k.key_id AS key_id_ok, c ->> 'approval_id' = :'req1' AS names_request
FROM (SELECT execlave_verify_approval(:'req1', '{"input": "refund order 42", "environment": "prod", "metadata": {"order": 42},
                                                 "estimatedCost": 12.5, "tools": ["refund_order"]}') -> 'certificate' AS c) x,
     execlave_approval_public_key() k;
SELECT algorithm, length(decode(public_key, 'base64')) AS key_bytes, public_key_pem LIKE '-----BEGIN PUBLIC KEY-----%' AS pem
FROM execlave_approval_public_key();
-- the private key is the owner's only
SET ROLE regress_appr_admin;
SELECT expect_error('SELECT seed FROM execlave.approval_signing_key');
SELECT expect_error($$SELECT execlave.ed25519_sign('\x00', '\x00')$$);
RESET ROLE;

-------------------------------------------------------------------------------
-- Single use, bound to the context
-------------------------------------------------------------------------------
-- a different context is not covered (and asks anew)
SELECT appr_shape(execlave_enforce('appr-agent', 'refund order 42', NULL, 99, ARRAY['refund_order'],
                                   '{"order": 42, "environment": "prod"}')) - 'violations' - 'warnings' AS other_context;
-- another agent with the same context is not covered either
SELECT execlave_create_policy('appr-tools-other', 'tool_access', 'require_approval', '{"deny": ["refund*"]}',
                              ARRAY['appr-other']) IS NOT NULL AS created;
SELECT (execlave_enforce('appr-other', 'refund order 42', NULL, 12.5, ARRAY['refund_order'],
                         '{"order": 42, "environment": "prod"}') ->> 'allowed')::boolean AS other_agent_allowed;
-- the same context: allowed once
SELECT appr_shape(execlave_enforce('appr-agent', 'refund order 42', NULL, 12.5, ARRAY['refund_order'],
                                   '{"order": 42, "environment": "prod"}')) - 'violations' - 'warnings' AS first_use;
SELECT status, consumed_at IS NOT NULL AS consumed FROM execlave.approvals WHERE id = :'req1';
SELECT appr_shape(execlave_enforce('appr-agent', 'refund order 42', NULL, 12.5, ARRAY['refund_order'],
                                   '{"order": 42, "environment": "prod"}')) - 'violations' - 'warnings' AS second_use;
SELECT execlave_enforce('appr-agent', 'refund order 42', NULL, 12.5, ARRAY['refund_order'],
                        '{"order": 42, "environment": "prod"}') ->> 'approval_request_id' <> :'req1' AS new_request;
-- a consumed approval still verifies (it covered this context) and says so
SELECT r ->> 'valid' AS valid, r ->> 'status' AS status, r ->> 'consumed_at' IS NOT NULL AS consumed
FROM execlave_verify_approval(:'req1', '{"input": "refund order 42", "environment": "prod", "metadata": {"order": 42},
                                         "estimated_cost": 12.5, "tools": ["refund_order"]}') r;
SELECT appr_err(format('SELECT execlave_approve(%L, %L)', :'req1', 'used'));

-------------------------------------------------------------------------------
-- Deny; verify of undecided and denied requests
-------------------------------------------------------------------------------
SELECT id AS req2 FROM execlave.approvals WHERE status = 'pending' AND context ->> 'estimated_cost' = '99' \gset
SELECT r ->> 'valid' AS valid, r ->> 'reason' AS reason, r -> 'certificate' AS certificate
FROM execlave_verify_approval(:'req2', '{"input": "refund order 42", "environment": "prod", "metadata": {"order": 42},
                                         "estimated_cost": 99, "tools": ["refund_order"]}') r;
SELECT (execlave_deny(:'req2', 'too much')) ->> 'status' AS status;
SELECT r ->> 'valid' AS valid, r ->> 'reason' AS reason, r -> 'certificate' ->> 'decision' AS decision
FROM execlave_verify_approval(:'req2', '{"input": "refund order 42", "environment": "prod", "metadata": {"order": 42},
                                         "estimated_cost": 99, "tools": ["refund_order"]}') r;
-- a denied request does not let the call through; the next call asks anew
SELECT (execlave_enforce('appr-agent', 'refund order 42', NULL, 99, ARRAY['refund_order'],
                         '{"order": 42, "environment": "prod"}') ->> 'approval_request_id') <> :'req2' AS asks_anew;

-------------------------------------------------------------------------------
-- execlave_enforce_strict answers an approval requirement (its request must commit)
-------------------------------------------------------------------------------
SELECT appr_shape(execlave_enforce_strict('appr-agent', 'refund order 5', NULL, NULL, ARRAY['refund_order']))
       - '{violations,warnings}'::text[] AS strict_answer;
SELECT count(*) AS strict_request FROM execlave.approvals WHERE context ->> 'input' = 'refund order 5' AND status = 'pending';

-------------------------------------------------------------------------------
-- The normalized context
-------------------------------------------------------------------------------
SELECT execlave.approval_context('x', 2.500, ARRAY['b', 'a', 'b'], '{"environment": "prod", "k": 1}') AS normalized,
       execlave.approval_context('x', NULL, '{}', '{}') AS minimal,
       execlave.approval_context('x', 2.5, ARRAY['a', 'b'], '{"k": 1, "environment": "prod"}')
         = execlave.approval_context_of('{"input": "x", "estimatedCost": 2.50, "tools": ["b", "a"], "environment": "prod", "metadata": {"k": 1}}')
         AS sql_and_sdk_agree;

-------------------------------------------------------------------------------
-- Ingestion: require_approval behaves like flag
-------------------------------------------------------------------------------
INSERT INTO execlave.traces (agent_key, trace_id, input, tools) VALUES ('appr-agent', 'tr_appr_1', 'refund', ARRAY['refund_order']);
SELECT status FROM execlave.traces WHERE trace_id = 'tr_appr_1';
SELECT mode, phase FROM execlave.violations WHERE trace_id = 'tr_appr_1';
SELECT count(*) AS policy_violated FROM execlave.events WHERE event_type = 'policy.violated' AND data ->> 'trace_id' = 'tr_appr_1';

-------------------------------------------------------------------------------
-- Pausing cancels pending (and approved, unused) requests
-------------------------------------------------------------------------------
SELECT count(*) AS open_before FROM execlave.approvals WHERE agent_id = :'appr_id' AND status IN ('pending', 'approved');
SELECT execlave_pause_agent('appr-agent', 'incident 7');
SELECT status, count(*), min(decision_reason) AS reason FROM execlave.approvals WHERE agent_id = :'appr_id' GROUP BY 1 ORDER BY 1;
SELECT count(*) AS cancel_events FROM execlave.events WHERE event_type = 'approval.resolved' AND data ->> 'decision' = 'cancelled';
SELECT execlave_resume_agent('appr-agent');

-------------------------------------------------------------------------------
-- Expiry: judged at the call, swept by maintenance
-------------------------------------------------------------------------------
SELECT execlave_update_policy('appr-tools', config => '{"deny": ["refund*", "shell"], "approval_timeout_seconds": 1}') IS NOT NULL AS updated;
SELECT execlave_enforce('appr-agent', 'refund order 7', NULL, NULL, ARRAY['refund_order']) ->> 'approval_request_id' AS req3 \gset
SELECT pg_sleep(1.2);
SELECT appr_err(format('SELECT execlave_approve(%L, %L)', :'req3', 'late'));
SELECT status FROM execlave.approvals WHERE id = :'req3';
SELECT count(*) AS pending_view FROM execlave.pending_approvals WHERE id = :'req3';
SELECT r ->> 'valid' AS valid, r ->> 'reason' AS reason
FROM execlave_verify_approval(:'req3', '{"input": "refund order 7", "tools": ["refund_order"]}') r;
-- the same call after expiry asks anew (the old request becomes expired)
SELECT execlave_enforce('appr-agent', 'refund order 7', NULL, NULL, ARRAY['refund_order']) ->> 'approval_request_id' <> :'req3' AS asks_anew;
SELECT status FROM execlave.approvals WHERE id = :'req3';
SELECT pg_sleep(1.2);
SELECT count(*) > 0 AS open_past_expiry FROM execlave.approvals WHERE status IN ('pending', 'approved') AND expires_at <= clock_timestamp();
SELECT (execlave_maintenance() -> 'purged' ->> 'approvals_expired')::int > 0 AS swept;
SELECT count(*) AS open_past_expiry FROM execlave.approvals WHERE status IN ('pending', 'approved') AND expires_at <= clock_timestamp();

-------------------------------------------------------------------------------
-- Bad input
-------------------------------------------------------------------------------
SELECT expect_error($$SELECT execlave_approve('00000000-0000-0000-0000-000000000000', 'ok')$$);
SELECT expect_error($$SELECT execlave_deny('00000000-0000-0000-0000-000000000000', 'no')$$);
SELECT expect_error($$SELECT execlave_approve('not-a-uuid', 'ok')$$);
SELECT appr_err(format('SELECT execlave_approve(%L, NULL)', :'req2'));
SELECT appr_err(format('SELECT execlave_deny(%L, %L)', :'req2', '  '));
SELECT expect_error($$SELECT execlave_approve(NULL, 'ok')$$);
SELECT appr_err(format('SELECT execlave.decide_approval(%L, %L, %L)', :'req2', 'cancelled', 'not a decision'));
SELECT expect_error($$SELECT execlave_verify_approval('00000000-0000-0000-0000-000000000000', '{}')$$);
SELECT expect_error($$SELECT execlave_verify_approval('nope', '{}')$$);
SELECT expect_error(format('SELECT execlave_verify_approval(%L, %L)', :'req1', '[1, 2]'));
SELECT expect_error(format('SELECT execlave_verify_approval(%L, %L)', :'req1', '"refund"'));
SELECT expect_error(format('SELECT execlave_verify_approval(%L, NULL)', :'req1'));
SELECT expect_error(format('SELECT execlave_verify_approval(%L, %L)', :'req1', '{"inputs": "x"}'));
SELECT expect_error(format('SELECT execlave_verify_approval(%L, %L)', :'req1', '{"input": 1}'));
SELECT expect_error(format('SELECT execlave_verify_approval(%L, %L)', :'req1', '{"tools": "x"}'));
SELECT expect_error(format('SELECT execlave_verify_approval(%L, %L)', :'req1', '{"estimatedCost": "1"}'));
-- nothing was written by the refusals
SELECT status, count(*) FROM execlave.approvals GROUP BY 1 ORDER BY 1;
-- read-only transactions cannot ask
BEGIN READ ONLY;
SELECT expect_error($$SELECT execlave_enforce('appr-agent', 'refund order 8', NULL, NULL, ARRAY['refund_order'])$$);
ROLLBACK;

DELETE FROM execlave.policies WHERE name LIKE 'appr-%';
