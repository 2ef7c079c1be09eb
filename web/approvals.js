// The Approvals page: the requests that require_approval policies opened
// (POST /rest/rpc/dashboard_approvals: paged on the server, 50 a page,
// refreshed every 2 s showing only the newest answer), filtered by status,
// with Approve and Deny (a reason required, asked in the confirm dialog)
// through POST /api/approvals/{id}/approve | deny.  A request being decided
// or decided here stays in place on the page (with who, when and why, or the
// server's refusal), even once a refresh no longer lists it.  The action context is shown as JSON text (Preact
// sets text, never HTML).
import { html, useState, useCallback, useLayoutEffect, useRef, useLatest, usePoll, fmtTime, ErrorMsg, Pager, confirm } from './ui.js';
import { rpc, hosted } from './api.js';

export const APPROVAL_STATUSES = ['pending', 'approved', 'denied', 'expired', 'cancelled', 'consumed', 'all'];
const PAGE = 50;

// "in 14 min 5 s" / "expired 3 min ago"
export function fmtExpiresIn(s, now = Date.now()) {
  if (!s) return '–';
  const ms = Date.parse(s) - now;
  const abs = Math.abs(ms) / 1000;
  const text = abs >= 86400 ? `${Math.floor(abs / 86400)} d ${Math.floor((abs % 86400) / 3600)} h`
    : abs >= 3600 ? `${Math.floor(abs / 3600)} h ${Math.floor((abs % 3600) / 60)} min`
      : abs >= 60 ? `${Math.floor(abs / 60)} min ${Math.floor(abs % 60)} s` : `${Math.floor(abs)} s`;
  return ms >= 0 ? `in ${text}` : `${text} ago`;
}

function ApprovalRow({ a, onDecide, result }) {
  const st = a.approvalStatus;
  return html`<tr data-approval=${a.id} data-status=${st}>
    <td class="agent"><a href=${'#/agents/' + encodeURIComponent(a.agentKey)}>${a.agentKey}</a></td>
    <td><ul class="plain">${a.policies.map((p) => html`<li><strong>${p.policyName}</strong> <span class="muted">(${p.policyType})</span>${p.message ? html`: <span class="text">${p.message}</span>` : ''}</li>`)}</ul></td>
    <td><pre class="json context" tabindex="0" aria-label="Action context">${JSON.stringify(a.actionContext, null, 2)}</pre></td>
    <td>${fmtTime(a.requestedAt)}${a.requestedBy ? html`<br /><span class="muted">by ${a.requestedBy}</span>` : ''}</td>
    <td>${st === 'pending' || st === 'approved' ? fmtExpiresIn(a.expiresAt) : fmtTime(a.expiresAt)}</td>
    <td class="decision">
      <span class=${'badge badge-approval-' + st} data-status=${st}>${st}</span>
      ${a.decidedAt && html`<div class="decided">${fmtTime(a.decidedAt)} by ${a.decidedBy}: <span class="reason">${a.decisionReason}</span></div>`}
      ${a.consumedAt && html`<div class="muted">used ${fmtTime(a.consumedAt)}</div>`}
    </td>
    <td class="actions-cell">
      ${st === 'pending' && html`
        <button type="button" class="primary small approve" onClick=${() => onDecide(a, 'approve')}>Approve<span class="visually-hidden"> the request of ${a.agentKey}</span></button>
        <button type="button" class="danger small deny" onClick=${() => onDecide(a, 'deny')}>Deny<span class="visually-hidden"> the request of ${a.agentKey}</span></button>`}
      ${result && html`<p class=${result.error ? 'error decide-error' : 'note decide-note'} role=${result.error ? 'alert' : 'status'}>${result.text}</p>`}
    </td>
  </tr>`;
}

// The server's page, with the requests decided here kept where they were.
function keepDecided(shown, fresh, decidedHere) {
  // an answer that was on its way while the request was decided here still says pending
  const out = fresh.items.map((x) => (decidedHere[x.id] && x.approvalStatus === 'pending' ? decidedHere[x.id] : x));
  (shown || []).forEach((x, i) => {
    if (decidedHere[x.id] && !out.some((y) => y.id === x.id)) out.splice(Math.min(i, out.length), 0, decidedHere[x.id]);
  });
  return out;
}

export function ApprovalsPage({ onCount }) {
  const [status, setStatus] = useState('pending');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState(null);
  const [items, setItems] = useState(null);
  const [error, setError] = useState(null);
  const [results, setResults] = useState({});
  const decided = useRef({});
  const latest = useLatest();
  const load = useCallback(() => latest(() => rpc('dashboard_approvals', { status, limit: PAGE, offset }),
    (p) => { setPage(p); setItems((shown) => keepDecided(shown, p, decided.current)); setError(null); }, setError), [status, offset]);
  useLayoutEffect(() => { load(); }, [load]);
  usePoll(load, 2000, [load]);
  const choose = (st) => { decided.current = {}; setResults({}); setItems(null); setPage(null); setOffset(0); setStatus(st); };
  const turn = (o) => { decided.current = {}; setResults({}); setOffset(o); };
  const replace = (d) => { decided.current = { ...decided.current, [d.id]: d }; setItems((xs) => xs.map((x) => (x.id === d.id ? d : x))); };
  // (a pinned row is kept by keepDecided, so it is still in the list to be replaced)
  const decide = async (a, decision) => {
    // from here on the row stays in place, even if a refresh no longer lists it (decided or expired elsewhere)
    const pinned = !decided.current[a.id];
    if (pinned) decided.current = { ...decided.current, [a.id]: a };
    const reason = await confirm({
      title: `${decision === 'approve' ? 'Approve' : 'Deny'} the request of ${a.agentKey}?`,
      message: decision === 'approve'
        ? 'The agent\'s next call with exactly this action context is allowed, once; an approval.resolved event goes to the webhooks.'
        : 'The request is refused for good; an approval.resolved event goes to the webhooks.',
      reason: 'Reason', action: decision === 'approve' ? 'Approve' : 'Deny', danger: decision !== 'approve',
    });
    if (!reason) {
      if (pinned) { const { [a.id]: _, ...rest } = decided.current; decided.current = rest; }
      return;
    }
    try {
      const d = await hosted('POST', `/approvals/${encodeURIComponent(a.id)}/${decision}`, { reason });
      // the decided request stays on the page, in place, with who, when and why
      replace(d);
      setResults((r) => ({ ...r, [a.id]: { text: decision === 'approve' ? 'Approved.' : 'Denied.' } }));
    } catch (e) {
      setResults((r) => ({ ...r, [a.id]: { error: true, text: `Refused: ${e.message}${e.code ? ` (${e.code})` : ''}` } }));
      // show the request's state now (decided elsewhere, expired)
      try {
        const cur = await hosted('GET', `/approvals/${encodeURIComponent(a.id)}`);
        replace(cur);
      } catch (e2) { /* the message above stays */ }
    }
    if (onCount) onCount();
  };
  return html`<section aria-labelledby="h-approvals">
    <h1 id="h-approvals">Approvals</h1>
    <p class="muted">Requests that a <code>require_approval</code> policy stopped in a pre-execution check; an approval lets that exact action through once.</p>
    <form class="filters" role="search" onSubmit=${(e) => e.preventDefault()}>
      <div class="field"><label for="approval-status">Status</label>
        <select id="approval-status" value=${status} onChange=${(e) => choose(e.target.value)}>
          ${APPROVAL_STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select></div>
      <button type="button" onClick=${load}>Refresh</button>
    </form>
    <${ErrorMsg} error=${error} />
    ${!items || !page ? html`<p role="status">Loading the requests…</p>` : items.length === 0 ? html`<div class="empty">
        <p>${status === 'pending' ? 'Nothing waits for a decision.' : `No ${status === 'all' ? '' : status + ' '}request.`}</p>
        <p>Requests open when a policy in mode <code>require_approval</code> fires in <code>execlave_enforce</code> or <code>POST /api/policies/enforce</code>.</p>
      </div>` : html`
      <table class="list" id="approvals-table">
        <caption class="visually-hidden">Approval requests</caption>
        <thead><tr><th scope="col">Agent</th><th scope="col">Policies</th><th scope="col">Action context</th><th scope="col">Requested</th>
          <th scope="col">Expires</th><th scope="col">Decision</th><th scope="col"><span class="visually-hidden">Approve or deny</span></th></tr></thead>
        <tbody>${items.map((a) => html`<${ApprovalRow} key=${a.id} a=${a} onDecide=${decide} result=${results[a.id]} />`)}</tbody>
      </table>
      <${Pager} page=${page} onOffset=${turn} label="Approval pages" />`}
  </section>`;
}
