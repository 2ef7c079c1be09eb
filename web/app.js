// execlave's dashboard: sign-in, then Agents, Violations, Approvals,
// Policies, Webhooks and API keys; routes are the URL's hash (#/agents/<key>).
import { html, render, useState, useEffect, useLayoutEffect, useCallback, fmtTime, fmtMoney, fmtNum, Badge, ErrorMsg, Pager,
  confirm, ConfirmHost, ShownOnce, Chart, usePoll, useLatest } from './ui.js';
import { rpc, hosted, storedKey, storeKey, forgetKey, setUnauthorizedHandler, agentsArgs, violationsArgs, NO_VIOLATION_FILTER } from './api.js';

// The Policies and Approvals pages load when first opened: fewer requests
// before the first page shows (the browser opens six connections at a time).
const lazyPages = {};
function LazyPage({ module, name, props }) {
  const [, setLoaded] = useState(0);
  const [error, setError] = useState(null);
  const Page = lazyPages[name] || null;
  useEffect(() => {
    if (Page) return;
    import(module).then((m) => { lazyPages[name] = m[name]; setLoaded((x) => x + 1); },
      () => setError({ message: 'This page did not load; check the connection and reload.' }));
  }, [name]);
  if (error) return html`<${ErrorMsg} error=${error} />`;
  if (!Page) return html`<p role="status">Loading…</p>`;
  return html`<${Page} ...${props} />`;
}

// The number of pending approval requests (the navigation's badge).
async function pendingCount() {
  return (await rpc('dashboard_approvals', { status: 'pending', limit: 1, offset: 0 })).total;
}

const PAGES = [
  ['agents', 'Agents'], ['violations', 'Violations'], ['approvals', 'Approvals'], ['policies', 'Policies'], ['webhooks', 'Webhooks'], ['keys', 'API keys'],
];
const STATUSES = ['active', 'paused', 'inactive', 'archived'];

function useRoute() {
  const parse = () => (location.hash.replace(/^#\/?/, '') || 'agents').split('/').map(decodeURIComponent);
  const [route, setRoute] = useState(parse());
  useEffect(() => {
    const f = () => setRoute(parse());
    addEventListener('hashchange', f);
    return () => removeEventListener('hashchange', f);
  }, []);
  return route;
}

// Sign-in: the key is checked (dashboard_session) before it is kept.
function SignIn({ onSignedIn, notice }) {
  const [key, setKey] = useState('');
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      const s = await rpc('dashboard_session', {}, key.trim());
      storeKey(key.trim());
      onSignedIn(s);
    } catch (err) {
      let message = err.message;
      if (err.status === 401) message = `This key was refused: ${err.message}. Check it, or create a new one (SELECT api_key FROM execlave_create_api_key('ops', 'prod', 'admin')).`;
      else if (err.status === 403) message = 'This key is bound to one agent: the dashboard needs an admin API key.';
      setError({ message });
    } finally {
      setBusy(false);
    }
  };
  return html`<main class="signin" id="main">
    <h1>execlave</h1>
    <form onSubmit=${submit} aria-describedby="signin-help">
      <p id="signin-help">Sign in with an admin API key. It is kept in this tab only (sessionStorage) and sent to this server's API alone.</p>
      ${notice && html`<p class="notice" role="status">${notice}</p>`}
      <div class="field">
        <label for="api-key">API key</label>
        <input id="api-key" name="api-key" type="password" autocomplete="off" spellcheck="false" required
          placeholder="ag_prod_…" value=${key} onInput=${(e) => setKey(e.target.value)}
          aria-invalid=${error ? 'true' : 'false'} aria-describedby=${error ? 'signin-error' : undefined} />
      </div>
      ${error && html`<p class="error" id="signin-error" role="alert">${error.message}</p>`}
      <button type="submit" class="primary" disabled=${busy}>${busy ? 'Signing in…' : 'Sign in'}</button>
    </form>
  </main>`;
}

function Layout({ session, page, onSignOut, pending, children }) {
  return html`<div class="layout">
    <a class="skip" href="#main" onClick=${(e) => { e.preventDefault(); document.getElementById('main').focus(); }}>Skip to content</a>
    <header class="top">
      <span class="brand">execlave</span>
      <nav aria-label="Pages">
        <ul>${PAGES.map(([id, label]) => html`<li><a href=${'#/' + id} id=${'nav-' + id} aria-current=${page === id ? 'page' : undefined}>${label}${id === 'approvals' && pending
          ? html` <span class="count" id="pending-count">${pending > 999 ? '999+' : pending}<span class="visually-hidden"> pending</span></span>` : ''}</a></li>`)}</ul>
      </nav>
      <span class="who">Signed in as <strong>${session.name}</strong></span>
      <button type="button" onClick=${onSignOut}>Sign out</button>
    </header>
    <main id="main" tabindex="-1">${children}</main>
    <${ConfirmHost} />
  </div>`;
}

// ---------------------------------------------------------------- Agents

function AgentsPage() {
  const [search, setSearch] = useState('');
  const [status, setStatus] = useState('');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const latest = useLatest();
  const load = useCallback(() => latest(() => rpc('dashboard_agents', agentsArgs(search, status, offset)),
    (v) => { setPage(v); setError(null); }, setError), [search, status, offset]);
  // the first page at once (a layout effect runs with the render, not after the next paint); a typed search after 200 ms
  useLayoutEffect(() => {
    if (!search) { load(); return undefined; }
    const t = setTimeout(load, 200);
    return () => clearTimeout(t);
  }, [load]);
  // live statuses: one cheap call every 0.75 s for the agents on the page
  usePoll(async () => {
    if (!page || !page.items.length) return;
    const st = await rpc('dashboard_statuses', { ids: page.items.map((a) => a.id) });
    setPage((p) => p && ({ ...p, items: p.items.map((a) => (st[a.id] ? { ...a, ...st[a.id] } : a)) }));
  }, 750, [page && page.items.map((a) => a.id).join()]);
  return html`<section aria-labelledby="h-agents">
    <h1 id="h-agents">Agents</h1>
    <form class="filters" role="search" onSubmit=${(e) => e.preventDefault()}>
      <div class="field"><label for="agent-search">Search</label>
        <input id="agent-search" type="search" placeholder="key or name" value=${search}
          onInput=${(e) => { setSearch(e.target.value); setOffset(0); }} /></div>
      <div class="field"><label for="agent-status">Status</label>
        <select id="agent-status" value=${status} onChange=${(e) => { setStatus(e.target.value); setOffset(0); }}>
          <option value="">any</option>${STATUSES.map((s) => html`<option value=${s}>${s}</option>`)}
        </select></div>
    </form>
    <${ErrorMsg} error=${error} />
    ${!page ? html`<p role="status">Loading agents…</p>` : page.total === 0 ? html`<div class="empty">
        <p>${search || status ? 'No agent matches these filters.' : 'No agents yet.'}</p>
        ${!search && !status && html`<p>Register one: <code>POST /api/agents {"agentId": "my-assistant"}</code> or <code>SELECT execlave_register_agent('my-assistant')</code>.</p>`}
      </div>` : html`
      <table class="list" id="agents-table">
        <caption class="visually-hidden">Agents</caption>
        <thead><tr><th scope="col">Agent</th><th scope="col">Name</th><th scope="col">Status</th><th scope="col">Last trace</th>
          <th scope="col" class="num">Traces today</th><th scope="col" class="num">Cost today</th><th scope="col" class="num">Violations (24 h)</th></tr></thead>
        <tbody>${page.items.map((a) => html`<tr data-agent=${a.key}>
          <td><a href=${'#/agents/' + encodeURIComponent(a.key)}>${a.key}</a></td>
          <td>${a.name || ''}</td>
          <td><${Badge} status=${a.status} />${a.status === 'paused' && a.pauseReason ? html` <span class="reason">${a.pauseReason}</span>` : ''}</td>
          <td>${fmtTime(a.lastTraceAt)}</td>
          <td class="num">${fmtNum(a.tracesToday)}</td><td class="num">${fmtMoney(a.costToday)}</td>
          <td class="num">${fmtNum(a.violations24h)}</td>
        </tr>`)}</tbody>
      </table>
      <${Pager} page=${page} onOffset=${setOffset} label="Agent pages" />`}
  </section>`;
}

const TABS = [['overview', 'Overview'], ['settings', 'Settings'], ['history', 'History'], ['traces', 'Traces'],
  ['violations', 'Violations'], ['grants', 'Grants'], ['usage', 'Usage and cost']];

function AgentDetail({ agentKey, tab }) {
  const [agent, setAgent] = useState(null);
  const [error, setError] = useState(null);
  const load = useCallback(async () => {
    try { setAgent(await rpc('dashboard_agent', { agentId: agentKey })); setError(null); } catch (e) { setError(e); }
  }, [agentKey]);
  useLayoutEffect(() => { load(); }, [load]);
  usePoll(async () => {
    if (!agent) return;
    const st = await rpc('dashboard_statuses', { ids: [agent.id] });
    if (st[agent.id] && st[agent.id].statusChangedAt !== agent.statusChangedAt) setAgent((a) => ({ ...a, ...st[agent.id] }));
  }, 750, [agent && agent.id, agent && agent.statusChangedAt]);
  const current = tab || 'overview';
  if (error) return html`<section><h1>Agent ${agentKey}</h1><${ErrorMsg} error=${error} /><p><a href="#/agents">Back to the agents</a></p></section>`;
  if (!agent) return html`<p role="status">Loading the agent…</p>`;
  return html`<section aria-labelledby="h-agent">
    <p class="crumbs"><a href="#/agents">Agents</a> / ${agent.key}</p>
    <h1 id="h-agent">${agent.name || agent.key} <${Badge} status=${agent.status} /></h1>
    <nav class="tabs" aria-label="Agent sections"><ul>
      ${TABS.map(([id, label]) => html`<li><a href=${`#/agents/${encodeURIComponent(agent.key)}/${id}`}
        aria-current=${current === id ? 'page' : undefined} id=${'tab-' + id}>${label}</a></li>`)}
    </ul></nav>
    ${current === 'overview' && html`<${AgentOverview} agent=${agent} />`}
    ${current === 'settings' && html`<${AgentSettings} agent=${agent} onChanged=${load} />`}
    ${current === 'history' && html`<${AgentHistory} agent=${agent} />`}
    ${current === 'traces' && html`<${AgentTraces} agent=${agent} />`}
    ${current === 'violations' && html`<${ViolationsList} fixedAgent=${agent.key} />`}
    ${current === 'grants' && html`<${AgentGrants} agent=${agent} onChanged=${load} />`}
    ${current === 'usage' && html`<${AgentUsage} agent=${agent} />`}
  </section>`;
}

function AgentOverview({ agent }) {
  return html`<div class="cards">
    <dl class="card">
      <dt>Key</dt><dd>${agent.key}</dd>
      <dt>Status</dt><dd><${Badge} status=${agent.status} /></dd>
      ${agent.status === 'paused' && html`<dt>Paused</dt><dd>${fmtTime(agent.pausedAt)} by ${agent.pausedBy}: <span class="reason">${agent.pauseReason}</span></dd>`}
      <dt>Status changed</dt><dd>${fmtTime(agent.statusChangedAt)}</dd>
      <dt>Description</dt><dd>${agent.description || '–'}</dd>
      <dt>Tags</dt><dd>${(agent.tags || []).join(', ') || '–'}</dd>
      <dt>Registered</dt><dd>${fmtTime(agent.createdAt)}</dd>
    </dl>
    <div class="card">
      <h2>Policies that apply</h2>
      ${agent.policies.length ? html`<ul>${agent.policies.map((p) => html`<li>${p.name} <span class="muted">(${p.type}, ${p.mode}${p.active ? '' : ', disabled'}${p.allAgents ? ', all agents' : ''})</span></li>`)}</ul>`
        : html`<p>None. Create one on the <a href="#/policies">Policies</a> page.</p>`}
    </div>
  </div>`;
}

// Settings: the kill switch.  Pausing asks for the reason and confirms.
function AgentSettings({ agent, onChanged }) {
  const [error, setError] = useState(null);
  const [busy, setBusy] = useState(false);
  const [done, setDone] = useState('');
  const pause = async () => {
    const reason = await confirm({
      title: `Pause agent ${agent.key}?`,
      message: 'Its pre-execution checks and traces are refused until it is resumed, and an agent.paused event goes to the webhooks.',
      reason: 'Reason', action: 'Pause agent',
    });
    if (!reason) return;
    setBusy(true);
    try {
      await hosted('PATCH', `/agents/${encodeURIComponent(agent.id)}/pause`, { reason });
      setDone('The agent is paused.');
      setError(null);
      await onChanged();
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  const resume = async () => {
    setBusy(true);
    try {
      await hosted('PATCH', `/agents/${encodeURIComponent(agent.id)}/resume`);
      setDone('The agent is resumed.');
      setError(null);
      await onChanged();
    } catch (e) { setError(e); } finally { setBusy(false); }
  };
  return html`<div class="card settings">
    <h2>Settings</h2>
    <p>Status: <${Badge} status=${agent.status} />${agent.status === 'paused' ? html` since ${fmtTime(agent.pausedAt)} by ${agent.pausedBy}: <span class="reason">${agent.pauseReason}</span>` : ''}</p>
    ${agent.status === 'paused'
      ? html`<button type="button" class="primary" id="resume-agent" disabled=${busy} onClick=${resume}>Resume Agent</button>`
      : html`<button type="button" class="danger" id="pause-agent" disabled=${busy || agent.status === 'archived'} onClick=${pause}>Pause Agent</button>`}
    <p role="status" class="note">${done}</p>
    <${ErrorMsg} error=${error} />
  </div>`;
}

function usePaged(fn, args, deps) {
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const latest = useLatest();
  const load = useCallback(() => latest(() => rpc(fn, { ...args, offset }), (v) => { setPage(v); setError(null); }, setError),
    [offset, ...deps]);
  useEffect(() => { load(); }, [load]);
  useEffect(() => { setOffset(0); }, deps);
  return { page, error, setOffset, reload: load };
}

function AgentHistory({ agent }) {
  const { page, error, setOffset } = usePaged('dashboard_status_history', { agentId: agent.id, limit: 20 }, [agent.id, agent.statusChangedAt]);
  return html`<div>
    <h2>Status history</h2>
    <${ErrorMsg} error=${error} />
    ${page && html`<table class="list"><thead><tr><th scope="col">When</th><th scope="col">From</th><th scope="col">To</th><th scope="col">Who</th><th scope="col">Why</th></tr></thead>
      <tbody>${page.items.map((x) => html`<tr><td>${fmtTime(x.changedAt)}</td><td>${x.oldStatus || '–'}</td>
        <td><${Badge} status=${x.newStatus} /></td><td>${x.changedBy}</td><td>${x.reason || ''}</td></tr>`)}</tbody></table>
      <${Pager} page=${page} onOffset=${setOffset} label="History pages" />`}
  </div>`;
}

function AgentTraces({ agent }) {
  const { page, error, setOffset } = usePaged('dashboard_traces', { agentId: agent.id, limit: 20 }, [agent.id]);
  return html`<div>
    <h2>Recent traces</h2>
    <p class="note">Input and output as stored (masked by pii_detection policies with mask).</p>
    <${ErrorMsg} error=${error} />
    ${page && (page.total === 0 ? html`<p class="empty">No traces yet. Send them with <code>POST /api/traces/ingest</code>.</p>` : html`
      <table class="list"><thead><tr><th scope="col">Started</th><th scope="col">Status</th><th scope="col">Model</th>
        <th scope="col" class="num">Tokens</th><th scope="col" class="num">Cost</th><th scope="col">Input</th><th scope="col">Output</th></tr></thead>
      <tbody>${page.items.map((t) => html`<tr><td>${fmtTime(t.startedAt)}</td><td>${t.status}</td><td>${t.model || ''}</td>
        <td class="num">${fmtNum(t.totalTokens)}</td><td class="num">${fmtMoney(t.costUsd)}</td>
        <td class="text">${t.input || ''}</td><td class="text">${t.output || t.errorMessage || ''}</td></tr>`)}</tbody></table>
      <${Pager} page=${page} onOffset=${setOffset} label="Trace pages" />`)}
  </div>`;
}

const ACTIONS = ['execute', 'read', 'write', 'delete', 'invoke', 'query', 'subscribe'];

function AgentGrants({ agent, onChanged }) {
  const [target, setTarget] = useState('');
  const [actions, setActions] = useState(['read']);
  const [expires, setExpires] = useState('');
  const [error, setError] = useState(null);
  const create = async (e) => {
    e.preventDefault();
    try {
      await hosted('POST', `/agents/${encodeURIComponent(agent.id)}/grants`, {
        targetAgentId: target, allowedActions: actions, ...(expires ? { expiresAt: new Date(expires).toISOString() } : {}),
      });
      setError(null);
      setTarget('');
      await onChanged();
    } catch (err) { setError(err); }
  };
  const revoke = async (g) => {
    const ok = await confirm({ title: 'Revoke this grant?', action: 'Revoke grant',
      message: `${g.sourceAgentKey} may no longer ${g.allowedActions.join(', ')} ${g.targetAgentKey}; this cannot be undone.` });
    if (!ok) return;
    try { await rpc('dashboard_revoke_grant', { grantId: g.id }); await onChanged(); } catch (err) { setError(err); }
  };
  const table = (list, caption) => html`<table class="list"><caption>${caption}</caption>
    <thead><tr><th scope="col">From</th><th scope="col">To</th><th scope="col">Actions</th><th scope="col">Expires</th><th scope="col">Created by</th><th scope="col"><span class="visually-hidden">Revoke</span></th></tr></thead>
    <tbody>${list.length ? list.map((g) => html`<tr><td>${g.sourceAgentKey}</td><td>${g.targetAgentKey}</td><td>${g.allowedActions.join(', ')}</td>
      <td>${g.expiresAt ? fmtTime(g.expiresAt) : 'never'}</td><td>${g.createdBy}</td>
      <td><button type="button" class="danger small" onClick=${() => revoke(g)}>Revoke</button></td></tr>`)
      : html`<tr><td colspan="6">None.</td></tr>`}</tbody></table>`;
  return html`<div>
    <h2>Grants</h2>
    ${table(agent.grantsFrom, `What ${agent.key} may do to other agents`)}
    ${table(agent.grantsTo, `What other agents may do to ${agent.key}`)}
    <form class="card" onSubmit=${create}>
      <h3>New grant from ${agent.key}</h3>
      <div class="field"><label for="grant-target">Target agent (key)</label>
        <input id="grant-target" required value=${target} onInput=${(e) => setTarget(e.target.value)} /></div>
      <fieldset><legend>Actions</legend>${ACTIONS.map((a) => html`<label class="inline"><input type="checkbox" checked=${actions.includes(a)}
        onChange=${(e) => setActions(e.target.checked ? [...actions, a] : actions.filter((x) => x !== a))} /> ${a}</label>`)}</fieldset>
      <div class="field"><label for="grant-expires">Expires (optional)</label>
        <input id="grant-expires" type="datetime-local" value=${expires} onInput=${(e) => setExpires(e.target.value)} /></div>
      <${ErrorMsg} error=${error} />
      <button type="submit" class="primary">Create grant</button>
    </form>
  </div>`;
}

function AgentUsage({ agent }) {
  const [cost, setCost] = useState(null);
  const [error, setError] = useState(null);
  useEffect(() => { rpc('dashboard_cost_per_day', { agentId: agent.id, days: 14 }).then(setCost, setError); }, [agent.id]);
  const limits = [];
  for (const p of agent.policies.filter((p) => p.active)) {
    const c = p.config || {};
    const u = agent.usage || {};
    if (c.max_requests_per_minute !== undefined) limits.push([`${p.name}: requests this minute`, u.minute && u.minute.requests, c.max_requests_per_minute]);
    if (c.max_requests_per_hour !== undefined) limits.push([`${p.name}: requests this hour`, u.hour && u.hour.requests, c.max_requests_per_hour]);
    if (c.max_cost_per_day !== undefined) limits.push([`${p.name}: spend today`, u.day && fmtMoney(u.day.spendUsd), fmtMoney(c.max_cost_per_day)]);
    if (c.max_cost_per_month !== undefined) limits.push([`${p.name}: spend this month`, u.month && fmtMoney(u.month.spendUsd), fmtMoney(c.max_cost_per_month)]);
  }
  const days = cost ? cost.days : [];
  const x = days.map((d) => Date.parse(d.day + 'T00:00:00Z') / 1000);
  const series = [{ label: 'Cost per day (USD)', values: days.map((d) => Number(d.costUsd)), bars: true, fill: true }];
  if (cost && cost.dailyCap !== null) series.push({ label: 'Daily cap', values: days.map(() => Number(cost.dailyCap)), color: '#b3261e', dash: [6, 4] });
  return html`<div>
    <h2>Usage against limits</h2>
    ${agent.usage === null ? html`<p class="note">Windowed usage needs execlave in shared_preload_libraries.</p>` : limits.length ? html`
      <table class="list"><thead><tr><th scope="col">Limit</th><th scope="col" class="num">Used</th><th scope="col" class="num">Limit</th></tr></thead>
      <tbody>${limits.map(([l, used, max]) => html`<tr><td>${l}</td><td class="num">${used ?? 0}</td><td class="num">${max}</td></tr>`)}</tbody></table>`
      : html`<p>No rate, cost or budget policy applies to this agent.</p>`}
    <${ErrorMsg} error=${error} />
    ${cost && html`<${Chart} title="Cost per day, last 14 days (UTC)" x=${x} series=${series} yLabel="USD" />`}
    <h2>Anomaly baseline</h2>
    ${agent.anomalyBaseline && agent.anomalyBaseline.length ? html`<table class="list"><thead><tr><th scope="col">Metric</th><th scope="col" class="num">Observations</th><th scope="col" class="num">Mean</th><th scope="col" class="num">Std dev</th></tr></thead>
      <tbody>${agent.anomalyBaseline.map((b) => html`<tr><td>${b.metric}</td><td class="num">${fmtNum(b.observations)}</td><td class="num">${Number(b.mean).toFixed(3)}</td><td class="num">${Number(b.stddev).toFixed(3)}</td></tr>`)}</tbody></table>`
      : html`<p>No baseline yet (it builds from the agent's traces).</p>`}
  </div>`;
}

// ---------------------------------------------------------------- Violations

function ViolationsPage() {
  return html`<section aria-labelledby="h-violations"><h1 id="h-violations">Violations</h1><${ViolationsList} withChart=${true} /></section>`;
}

function ViolationsList({ fixedAgent, withChart }) {
  const [f, setF] = useState({ ...NO_VIOLATION_FILTER, agent: fixedAgent || '' });
  const [applied, setApplied] = useState(f);
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [detail, setDetail] = useState(null);
  const [perHour, setPerHour] = useState(null);
  const latest = useLatest();
  useLayoutEffect(() => {
    setPage(null);
    latest(() => rpc('dashboard_violations', violationsArgs(applied, offset)), (p) => { setPage(p); setError(null); }, setError);
  }, [applied, offset]);
  // the chart is asked for once the list is there (the list is what the operator waits for)
  const listed = !!page;
  useEffect(() => {
    if (!withChart || !listed) return;
    const a = violationsArgs(applied, 0);
    rpc('dashboard_violations_per_hour', { hours: 24, agent: a.agent, policy: a.policy, mode: a.mode, phase: a.phase }).then(setPerHour, () => setPerHour(null));
  }, [applied, listed]);
  const set = (k) => (e) => setF({ ...f, [k]: e.target.value });
  const open = async (v) => { try { setDetail(await rpc('dashboard_violation', { id: v.id })); } catch (e) { setError(e); } };
  let chart = null;
  if (perHour && perHour.series.length) {
    const start = Date.parse(perHour.from) / 1000;
    const x = Array.from({ length: perHour.hours }, (_, i) => start + i * 3600);
    const series = perHour.series.slice(0, 8).map((s) => {
      const m = new Map(s.counts.map(([t, n]) => [t, n]));
      return { label: s.policyName, values: x.map((t) => m.get(t) || 0) };
    });
    chart = html`<${Chart} title="Violations per hour by policy, last 24 hours" x=${x} series=${series} yLabel="violations" />`;
  }
  return html`<div>
    <form class="filters" onSubmit=${(e) => { e.preventDefault(); setOffset(0); setApplied(f); }} aria-label="Violation filters">
      ${!fixedAgent && html`<div class="field"><label for="vf-agent">Agent</label><input id="vf-agent" value=${f.agent} onInput=${set('agent')} placeholder="key or id" /></div>`}
      <div class="field"><label for="vf-policy">Policy</label><input id="vf-policy" value=${f.policy} onInput=${set('policy')} placeholder="name or id" /></div>
      <div class="field"><label for="vf-mode">Mode</label><select id="vf-mode" value=${f.mode} onChange=${set('mode')}>
        <option value="">any</option><option>log</option><option>flag</option><option>block</option></select></div>
      <div class="field"><label for="vf-phase">Phase</label><select id="vf-phase" value=${f.phase} onChange=${set('phase')}>
        <option value="">any</option><option value="pre_execution">pre_execution</option><option value="ingestion">ingestion</option></select></div>
      <div class="field"><label for="vf-since">Since</label><input id="vf-since" type="datetime-local" value=${f.since} onInput=${set('since')} /></div>
      <div class="field"><label for="vf-until">Until</label><input id="vf-until" type="datetime-local" value=${f.until} onInput=${set('until')} /></div>
      <button type="submit">Apply filters</button>
    </form>
    <${ErrorMsg} error=${error} />
    ${!page ? html`<p role="status">Loading violations…</p>` : page.total === 0 ? html`<p class="empty">No violations${fixedAgent ? ' for this agent' : ''} match. They are recorded when a policy finds something in a pre-execution check or a trace; see the <a href="#/policies">Policies</a> page.</p>` : html`
      <table class="list" id="violations-table"><thead><tr><th scope="col">When</th><th scope="col">Policy</th><th scope="col">Type</th><th scope="col">Mode</th>
        <th scope="col">Agent</th><th scope="col">Phase</th><th scope="col">Message</th><th scope="col"><span class="visually-hidden">Details</span></th></tr></thead>
      <tbody>${page.items.map((v) => html`<tr><td>${fmtTime(v.createdAt)}</td><td>${v.policyName}</td><td>${v.policyType}</td>
        <td><span class=${'mode mode-' + v.mode}>${v.mode}</span></td><td>${v.agentKey}</td><td>${v.phase}</td><td class="text">${v.message}</td>
        <td><button type="button" class="small" onClick=${() => open(v)}>Details<span class="visually-hidden"> of violation ${v.id}</span></button></td></tr>`)}</tbody></table>
      <${Pager} page=${page} onOffset=${setOffset} label="Violation pages" />`}
    ${detail && html`<div class="card detail" role="region" aria-label="Violation details">
      <h2>Violation ${detail.id}</h2>
      <dl><dt>When</dt><dd>${fmtTime(detail.createdAt)}</dd><dt>Policy</dt><dd>${detail.policyName} (${detail.policyType}, ${detail.mode})</dd>
        <dt>Agent</dt><dd>${detail.agentKey}</dd><dt>Trace</dt><dd>${detail.traceId || '–'}</dd><dt>Phase</dt><dd>${detail.phase}</dd>
        <dt>Recorded by</dt><dd>${detail.recordedBy}</dd><dt>Message</dt><dd>${detail.message}</dd></dl>
      <h3>Details</h3><pre class="json" tabindex="0" aria-label="JSON details">${JSON.stringify(detail.details, null, 2)}</pre>
      <button type="button" onClick=${() => setDetail(null)}>Close details</button>
    </div>`}
    ${withChart && chart}
  </div>`;
}

// ---------------------------------------------------------------- Webhooks

const EVENTS = ['agent.paused', 'agent.resumed', 'policy.violated', 'trace.anomaly', 'cost.threshold'];

function WebhooksPage() {
  const [list, setList] = useState(null);
  const [error, setError] = useState(null);
  const [url, setUrl] = useState('');
  const [events, setEvents] = useState([]);
  const [description, setDescription] = useState('');
  const [created, setCreated] = useState(null);
  const [formError, setFormError] = useState(null);
  const [open, setOpen] = useState(null);
  const [note, setNote] = useState('');
  const load = useCallback(async () => { try { setList(await rpc('dashboard_webhooks')); setError(null); } catch (e) { setError(e); } }, []);
  useEffect(() => { load(); }, [load]);
  usePoll(load, 2000, []);
  const create = async (e) => {
    e.preventDefault();
    try {
      const w = await hosted('POST', '/webhooks', { url, ...(events.length ? { events } : {}), ...(description ? { description } : {}) });
      setCreated(w);
      setFormError(null);
      setUrl(''); setDescription(''); setEvents([]);
      await load();
    } catch (err) { setFormError(err); }
  };
  const test = async (w) => {
    try { const r = await rpc('dashboard_test_webhook', { webhookId: w.id }); setNote(`Test event ${r.eventId} queued for ${w.url}.`); await load(); } catch (e) { setError(e); }
  };
  const toggle = async (w) => {
    if (w.active) {
      const ok = await confirm({ title: 'Disable this endpoint?', action: 'Disable endpoint',
        message: `No more deliveries go to ${w.url} until it is enabled again (waiting ones resume then).` });
      if (!ok) return;
    }
    try { await rpc('dashboard_set_webhook_active', { webhookId: w.id, active: !w.active }); await load(); } catch (e) { setError(e); }
  };
  return html`<section aria-labelledby="h-webhooks">
    <h1 id="h-webhooks">Webhooks</h1>
    <${ErrorMsg} error=${error} />
    <p role="status" class="note">${note}</p>
    ${list && html`<p class="note">Delivery worker: ${list.worker}</p>`}
    ${!list ? html`<p role="status">Loading webhooks…</p>` : list.items.length === 0 ? html`<p class="empty">No endpoints yet. Add one below; execlave signs every delivery (Standard Webhooks).</p>` : html`
      <table class="list" id="webhooks-table"><thead><tr><th scope="col">URL</th><th scope="col">Events</th><th scope="col">State</th>
        <th scope="col" class="num">Pending</th><th scope="col" class="num">Retrying</th><th scope="col" class="num">Dead</th><th scope="col" class="num">Delivered</th>
        <th scope="col">Last success</th><th scope="col">Last error</th><th scope="col" class="num">p50 / p99 ms (1 h)</th><th scope="col">Actions</th></tr></thead>
      <tbody>${list.items.map((w) => html`<tr data-webhook=${w.id}><td class="text">${w.url}${w.description ? html`<br /><span class="muted">${w.description}</span>` : ''}</td>
        <td>${w.events.join(', ')}</td><td>${w.active ? 'active' : html`disabled<br /><span class="muted">${w.disabledReason || ''}</span>`}</td>
        <td class="num">${w.pending}</td><td class="num">${w.retrying}</td><td class="num dead-count">${w.dead}</td><td class="num">${w.succeeded}</td>
        <td>${fmtTime(w.lastSuccessAt)}</td><td class="text">${w.lastError || '–'}</td>
        <td class="num">${w.p50LatencyMs ?? '–'} / ${w.p99LatencyMs ?? '–'}</td>
        <td class="actions-cell"><button type="button" class="small test-event" onClick=${() => test(w)}>Send test event</button>
          <button type="button" class="small dead-list" onClick=${() => setOpen(open === w.id ? null : w.id)} aria-expanded=${open === w.id ? 'true' : 'false'}>Dead deliveries</button>
          <button type="button" class="small" onClick=${() => toggle(w)}>${w.active ? 'Disable' : 'Enable'}</button></td></tr>`)}</tbody></table>`}
    ${open && html`<${DeadDeliveries} webhookId=${open} onChanged=${load} />`}
    <form class="card" onSubmit=${create} id="webhook-form">
      <h2>New endpoint</h2>
      <div class="field"><label for="wh-url">URL</label>
        <input id="wh-url" type="url" required value=${url} onInput=${(e) => setUrl(e.target.value)} placeholder="https://example.com/hooks/execlave" /></div>
      <fieldset><legend>Events (none checked: all)</legend>${EVENTS.map((ev) => html`<label class="inline"><input type="checkbox" checked=${events.includes(ev)}
        onChange=${(e) => setEvents(e.target.checked ? [...events, ev] : events.filter((x) => x !== ev))} /> ${ev}</label>`)}</fieldset>
      <div class="field"><label for="wh-desc">Description</label>
        <input id="wh-desc" value=${description} onInput=${(e) => setDescription(e.target.value)} maxlength="2000" /></div>
      <${ErrorMsg} error=${formError} />
      <button type="submit" class="primary">Create endpoint</button>
    </form>
    ${created && html`<${ShownOnce} label=${'Signing secret of ' + created.url} value=${created.secret} id="webhook-secret" />`}
  </section>`;
}

function DeadDeliveries({ webhookId, onChanged }) {
  const { page, error, setOffset, reload } = usePaged('dashboard_deliveries', { webhookId, status: 'dead', limit: 20 }, [webhookId]);
  const [note, setNote] = useState('');
  const redeliver = async (d) => {
    try {
      const r = await rpc('dashboard_redeliver', { deliveryId: d.id });
      setNote(r.redelivered ? `Delivery ${d.id} queued again.` : `Delivery ${d.id} is already pending.`);
      await reload(); await onChanged();
    } catch (e) { setNote(e.message); }
  };
  return html`<div class="card" role="region" aria-label="Dead deliveries">
    <h2>Dead deliveries</h2>
    <p role="status" class="note">${note}</p>
    <${ErrorMsg} error=${error} />
    ${page && (page.total === 0 ? html`<p class="empty">No dead deliveries: every event was delivered or is still being tried.</p>` : html`
      <table class="list" id="dead-table"><thead><tr><th scope="col">Event</th><th scope="col">Created</th><th scope="col" class="num">Attempts</th>
        <th scope="col">Last status</th><th scope="col">Last error</th><th scope="col"><span class="visually-hidden">Redeliver</span></th></tr></thead>
      <tbody>${page.items.map((d) => html`<tr><td>${d.eventType} #${d.eventId}</td><td>${fmtTime(d.createdAt)}</td><td class="num">${d.attempts}</td>
        <td>${d.lastStatusCode ?? '–'}</td><td class="text">${d.lastError || ''}</td>
        <td><button type="button" class="small redeliver" onClick=${() => redeliver(d)}>Redeliver</button></td></tr>`)}</tbody></table>
      <${Pager} page=${page} onOffset=${setOffset} label="Dead delivery pages" />`)}
  </div>`;
}

// ---------------------------------------------------------------- API keys

function KeysPage({ session }) {
  const { page, error, setOffset, reload } = usePaged('dashboard_api_keys', { limit: 50 }, []);
  const [form, setForm] = useState({ name: '', environment: 'prod', scope: 'admin', agent: '', expires: '' });
  const [formError, setFormError] = useState(null);
  const [created, setCreated] = useState(null);
  const [err, setErr] = useState(null);
  const set = (k) => (e) => setForm({ ...form, [k]: e.target.value });
  const create = async (e) => {
    e.preventDefault();
    try {
      const k = await rpc('dashboard_create_api_key', { name: form.name, environment: form.environment, scope: form.scope,
        agent: form.scope === 'agent' ? form.agent : null, expiresAt: form.expires ? new Date(form.expires).toISOString() : null });
      setCreated({ ...k, name: form.name });
      setFormError(null);
      setForm({ ...form, name: '', agent: '' });
      await reload();
    } catch (er) { setFormError(er); }
  };
  const revoke = async (k) => {
    const ok = await confirm({ title: `Revoke the key ${k.name}?`, action: 'Revoke key',
      message: `Requests with ${k.keyPrefix}… are refused from now on; this cannot be undone.${k.current ? ' This is the key you are signed in with: you will be signed out.' : ''}` });
    if (!ok) return;
    try { await rpc('dashboard_revoke_api_key', { keyId: k.id }); await reload(); } catch (er) { setErr(er); }
  };
  return html`<section aria-labelledby="h-keys">
    <h1 id="h-keys">API keys</h1>
    <${ErrorMsg} error=${error || err} />
    ${page && html`<table class="list" id="keys-table"><thead><tr><th scope="col">Name</th><th scope="col">Prefix</th><th scope="col">Scope</th><th scope="col">Agent</th>
        <th scope="col">Created</th><th scope="col">Expires</th><th scope="col">Last used</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Revoke</span></th></tr></thead>
      <tbody>${page.items.map((k) => html`<tr data-key=${k.keyPrefix}><td>${k.name}${k.current ? html` <span class="muted">(this session)</span>` : ''}</td><td><code>${k.keyPrefix}…</code></td>
        <td>${k.scope}</td><td>${k.agentKey || '–'}</td><td>${fmtTime(k.createdAt)}</td><td>${k.expiresAt ? fmtTime(k.expiresAt) : 'never'}</td>
        <td>${fmtTime(k.lastUsedAt)}</td><td>${k.state}</td>
        <td>${k.state === 'active' && html`<button type="button" class="danger small revoke-key" onClick=${() => revoke(k)}>Revoke<span class="visually-hidden"> ${k.name}</span></button>`}</td></tr>`)}</tbody></table>
      <${Pager} page=${page} onOffset=${setOffset} label="Key pages" />`}
    <form class="card" onSubmit=${create} id="key-form">
      <h2>New key</h2>
      <div class="field"><label for="key-name">Name</label><input id="key-name" required maxlength="200" value=${form.name} onInput=${set('name')} /></div>
      <div class="field"><label for="key-env">Environment (1-16 lower-case letters or digits)</label><input id="key-env" required value=${form.environment} onInput=${set('environment')} /></div>
      <div class="field"><label for="key-scope">Scope</label><select id="key-scope" value=${form.scope} onChange=${set('scope')}>
        <option value="admin">admin: everything</option><option value="agent">agent: one agent's own calls</option></select></div>
      ${form.scope === 'agent' && html`<div class="field"><label for="key-agent">Agent (key)</label><input id="key-agent" required value=${form.agent} onInput=${set('agent')} /></div>`}
      <div class="field"><label for="key-expires">Expires (optional)</label><input id="key-expires" type="datetime-local" value=${form.expires} onInput=${set('expires')} /></div>
      <${ErrorMsg} error=${formError} />
      <button type="submit" class="primary">Create key</button>
    </form>
    ${created && html`<${ShownOnce} label=${'API key ' + created.name} value=${created.apiKey} id="new-api-key" />`}
  </section>`;
}

// ---------------------------------------------------------------- the app

function App() {
  // with a key kept from this tab, the page renders at once and the key is
  // checked in parallel (a refusal signs out, as any 401 does)
  const [session, setSession] = useState(storedKey() ? { name: '…' } : null);
  const [notice, setNotice] = useState('');
  const route = useRoute();
  // the pending approvals' count in the navigation, every 5 s
  const [pending, setPending] = useState(0);
  const countPending = useCallback(() => (storedKey() ? pendingCount().then(setPending, () => {}) : Promise.resolve()), []);
  usePoll(countPending, 5000, [session && session.name]);
  // first asked for a moment after sign-in, not while the page's list loads
  useEffect(() => {
    if (!session || session.name === '…') return undefined;
    const t = setTimeout(countPending, 600);
    return () => clearTimeout(t);
  }, [session && session.name]);
  const signOut = (message) => {
    forgetKey();
    setSession(null);
    setNotice(typeof message === 'string' ? message : 'Signed out. The key was removed from this tab.');
  };
  useEffect(() => {
    setUnauthorizedHandler((err) => signOut(`Signed out: the key was refused (${err.message}).`));
    if (storedKey()) {
      rpc('dashboard_session').then((s) => setSession(s),
        (e) => { forgetKey(); setSession(null); setNotice(`Please sign in again: ${e.message}.`); });
    }
  }, []);
  useEffect(() => {
    const names = Object.fromEntries(PAGES);
    document.title = (route[0] === 'agents' && route[1] ? route[1] : names[route[0]] || 'execlave') + ' · execlave';
  }, [route.join('/')]);
  if (!session) return html`<${SignIn} notice=${notice} onSignedIn=${(s) => { setNotice(''); setSession(s); }} />`;
  const [page, a, b] = route;
  let body;
  if (page === 'agents' && a) body = html`<${AgentDetail} key=${a} agentKey=${a} tab=${b} />`;
  else if (page === 'violations') body = html`<${ViolationsPage} />`;
  else if (page === 'approvals') body = html`<${LazyPage} key="approvals" module="./approvals.js" name="ApprovalsPage" props=${{ onCount: countPending }} />`;
  else if (page === 'policies') body = html`<${LazyPage} key="policies" module="./policies.js" name="PoliciesPage" props=${{}} />`;
  else if (page === 'webhooks') body = html`<${WebhooksPage} />`;
  else if (page === 'keys') body = html`<${KeysPage} session=${session} />`;
  else body = html`<${AgentsPage} />`;
  return html`<${Layout} session=${session} page=${page || 'agents'} pending=${pending} onSignOut=${() => signOut()}>${body}<//>`;
}

const root = document.getElementById('app');
root.textContent = '';        // the static "Loading" note
render(html`<${App} />`, root);
