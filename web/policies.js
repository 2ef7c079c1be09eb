// The Policies page: the list, and a form per type whose fields are the
// config's keys; the server validates, and its message is shown next to the
// field it names (`key "threshold" ...`).
import { html, useState, useEffect, useCallback, useLatest, fmtNum, ErrorMsg, Pager, confirm } from './ui.js';
import { rpc } from './api.js';

const TYPES = {
  prompt_injection: [['threshold', 'number', 'Score from 0 to 1 at which a text violates'], ['scan_input', 'bool', 'Scan input', true],
    ['scan_output', 'bool', 'Scan output', false], ['builtin_patterns', 'bool', 'Built-in patterns', true],
    ['patterns', 'list', 'Custom phrases (one a line)']],
  pii_detection: [['types', 'list', 'Types (one a line: email, phone, ssn, credit_card, ip_address, iban, api_key; empty: all)'],
    ['scan_input', 'bool', 'Scan input', true], ['scan_output', 'bool', 'Scan output', true], ['mask', 'bool', 'Mask values in stored traces', false]],
  model_allowlist: [['allow', 'list', 'Allowed models (one a line; prefix*)'], ['deny', 'list', 'Denied models (one a line)'],
    ['require_model', 'bool', 'Require a model', false]],
  token_limit: [['max_total_tokens', 'number', 'Most total tokens'], ['max_prompt_tokens', 'number', 'Most prompt tokens'],
    ['max_completion_tokens', 'number', 'Most completion tokens']],
  tool_access: [['allow', 'list', 'Allowed tools (one a line; prefix*)'], ['deny', 'list', 'Denied tools (one a line)']],
  rate_limit: [['max_requests_per_minute', 'number', 'Most requests a UTC minute'], ['max_requests_per_hour', 'number', 'Most requests a UTC hour']],
  cost_limit: [['max_cost_per_trace', 'number', 'Most USD a trace'], ['max_cost_per_day', 'number', 'Most USD a UTC day']],
  budget_cap: [['max_cost_per_month', 'number', 'Most USD a UTC month']],
};

function blankValues(type, config) {
  const v = {};
  for (const [k, kind, , dflt] of TYPES[type]) {
    const c = config ? config[k] : undefined;
    if (kind === 'bool') v[k] = c === undefined ? !!dflt : !!c;
    else if (kind === 'list') v[k] = Array.isArray(c) ? c.map((x) => (typeof x === 'string' ? x : JSON.stringify(x))).join('\n') : '';
    else v[k] = c === undefined ? '' : String(c);
  }
  return v;
}

// The config as typed: numbers as numbers when they parse (else as the
// text, for the server to refuse at that field), lists one item a line.
function toConfig(type, values, original) {
  const config = {};
  for (const [k, kind, , dflt] of TYPES[type]) {
    const v = values[k];
    if (kind === 'bool') { if (v !== !!dflt || (original && k in original)) config[k] = v; }
    else if (kind === 'list') { const items = v.split('\n').map((s) => s.trim()).filter(Boolean); if (items.length) config[k] = items; }
    else if (v.trim() !== '') config[k] = /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v.trim()) : v.trim();
  }
  return config;
}

// Which field an error belongs to: the config key it names, else name, agents or mode.
function fieldOf(err, type) {
  const m = /key "([a-z_]+)"/.exec(err.message) || /"(allow|deny|max_[a-z_]+)"/.exec(err.message);
  if (m && TYPES[type].some(([k]) => k === m[1])) return m[1];
  if (/give (max_[a-z_]+)/.test(err.message)) return TYPES[type][0][0];
  if (/max_cost_per_month/.test(err.message)) return 'max_cost_per_month';
  if (err.code === 'EX002' || /agent/.test(err.message)) return 'agents';
  if (err.code === '23505' || /name/.test(err.message)) return 'name';
  if (/mode/.test(err.message)) return 'mode';
  return null;
}

function PolicyForm({ policy, onDone }) {
  const [name, setName] = useState(policy ? policy.name : '');
  const [type, setType] = useState(policy ? policy.type : 'prompt_injection');
  const [mode, setMode] = useState(policy ? policy.mode : 'log');
  const [agents, setAgents] = useState(policy && policy.agentKeys ? policy.agentKeys.join(', ') : '');
  const [values, setValues] = useState(blankValues(policy ? policy.type : 'prompt_injection', policy && policy.config));
  const [err, setErr] = useState(null);
  const [busy, setBusy] = useState(false);
  const changeType = (t) => { setType(t); setValues(blankValues(t)); setErr(null); };
  const submit = async (e) => {
    e.preventDefault();
    setBusy(true);
    const agentList = agents.split(',').map((s) => s.trim()).filter(Boolean);
    const config = toConfig(type, values, policy && policy.config);
    try {
      if (policy) {
        await rpc('dashboard_update_policy', { policy: policy.id, mode, config, agentIds: agentList, name: name !== policy.name ? name : null });
      } else {
        await rpc('create_policy', { name, type, mode, config, agentIds: agentList.length ? agentList : null });
      }
      setErr(null);
      onDone();
    } catch (er) {
      setErr({ error: er, field: fieldOf(er, type) });
    } finally { setBusy(false); }
  };
  const fieldErr = (k) => err && err.field === k && html`<p class="field-error" id=${'pf-' + k + '-error'} role="alert">${err.error.message}</p>`;
  const inv = (k) => (err && err.field === k ? { 'aria-invalid': 'true', 'aria-describedby': 'pf-' + k + '-error' } : {});
  const set = (k, v) => setValues({ ...values, [k]: v });
  return html`<form class="card policy-form" onSubmit=${submit} id="policy-form" aria-labelledby="policy-form-title">
    <h2 id="policy-form-title">${policy ? `Edit policy ${policy.name}` : 'New policy'}</h2>
    <div class="field"><label for="pf-name">Name</label><input id="pf-name" required maxlength="200" value=${name} onInput=${(e) => setName(e.target.value)} ...${inv('name')} />${fieldErr('name')}</div>
    <div class="field"><label for="pf-type">Type</label><select id="pf-type" value=${type} disabled=${!!policy} onChange=${(e) => changeType(e.target.value)}>
      ${Object.keys(TYPES).map((t) => html`<option value=${t}>${t}</option>`)}</select></div>
    <div class="field"><label for="pf-mode">Mode</label><select id="pf-mode" value=${mode} onChange=${(e) => setMode(e.target.value)} ...${inv('mode')}>
      <option value="log">log: record</option><option value="flag">flag: record, flag the trace, send policy.violated</option><option value="block">block: refuse</option></select>${fieldErr('mode')}</div>
    <div class="field"><label for="pf-agents">Agents (keys, comma-separated; empty: all agents)</label>
      <input id="pf-agents" value=${agents} onInput=${(e) => setAgents(e.target.value)} ...${inv('agents')} />${fieldErr('agents')}</div>
    <fieldset><legend>${type} settings</legend>
      ${TYPES[type].map(([k, kind, label]) => html`<div class=${'field field-' + kind}>
        ${kind === 'bool'
          ? html`<label class="inline"><input type="checkbox" id=${'pf-' + k} checked=${values[k]} onChange=${(e) => set(k, e.target.checked)} ...${inv(k)} /> ${label} <code>${k}</code></label>`
          : html`<label for=${'pf-' + k}>${label} <code>${k}</code></label>
            ${kind === 'list'
              ? html`<textarea id=${'pf-' + k} rows="3" value=${values[k]} onInput=${(e) => set(k, e.target.value)} ...${inv(k)}></textarea>`
              : html`<input id=${'pf-' + k} inputmode="decimal" value=${values[k]} onInput=${(e) => set(k, e.target.value)} ...${inv(k)} />`}`}
        ${fieldErr(k)}
      </div>`)}
    </fieldset>
    ${err && !err.field && html`<p class="error" role="alert" id="pf-error">${err.error.message}</p>`}
    <div class="actions"><button type="submit" class="primary" disabled=${busy}>${policy ? 'Save policy' : 'Create policy'}</button>
      <button type="button" onClick=${() => onDone(true)}>Cancel</button></div>
  </form>`;
}

export function PoliciesPage() {
  const [type, setType] = useState('');
  const [mode, setMode] = useState('');
  const [offset, setOffset] = useState(0);
  const [page, setPage] = useState(null);
  const [error, setError] = useState(null);
  const [editing, setEditing] = useState(null);   // null, 'new' or a policy
  const latest = useLatest();
  const load = useCallback(() => latest(() => rpc('dashboard_policies', { type: type || null, mode: mode || null, limit: 50, offset }),
    (v) => { setPage(v); setError(null); }, setError), [type, mode, offset]);
  useEffect(() => { load(); }, [load]);
  const toggle = async (p) => {
    if (p.active) {
      const ok = await confirm({ title: `Disable policy ${p.name}?`, action: 'Disable policy',
        message: 'It stops checking requests and traces until it is enabled again.' });
      if (!ok) return;
    }
    try { await rpc('dashboard_set_policy_active', { policy: p.id, active: !p.active }); await load(); } catch (e) { setError(e); }
  };
  const drop = async (p) => {
    const ok = await confirm({ title: `Drop policy ${p.name}?`, action: 'Drop policy',
      message: 'The policy is deleted and checks nothing from now on; its recorded violations stay. This cannot be undone.' });
    if (!ok) return;
    try { await rpc('dashboard_drop_policy', { policy: p.id }); await load(); } catch (e) { setError(e); }
  };
  return html`<section aria-labelledby="h-policies">
    <h1 id="h-policies">Policies</h1>
    <form class="filters" onSubmit=${(e) => e.preventDefault()} aria-label="Policy filters">
      <div class="field"><label for="pol-type">Type</label><select id="pol-type" value=${type} onChange=${(e) => { setType(e.target.value); setOffset(0); }}>
        <option value="">any</option>${Object.keys(TYPES).map((t) => html`<option value=${t}>${t}</option>`)}</select></div>
      <div class="field"><label for="pol-mode">Mode</label><select id="pol-mode" value=${mode} onChange=${(e) => { setMode(e.target.value); setOffset(0); }}>
        <option value="">any</option><option>log</option><option>flag</option><option>block</option></select></div>
      <button type="button" class="primary" id="new-policy" onClick=${() => setEditing('new')}>New policy</button>
    </form>
    <${ErrorMsg} error=${error} />
    ${editing && html`<${PolicyForm} key=${editing === 'new' ? 'new' : editing.id} policy=${editing === 'new' ? null : editing}
      onDone=${(cancelled) => { setEditing(null); if (!cancelled) load(); }} />`}
    ${!page ? html`<p role="status">Loading policies…</p>` : page.total === 0 ? html`<p class="empty">No policies${type || mode ? ' match' : ' yet: create one with New policy'}.</p>` : html`
      <table class="list" id="policies-table"><thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Mode</th><th scope="col">Applies to</th>
        <th scope="col">State</th><th scope="col" class="num">Violations (24 h)</th><th scope="col">Actions</th></tr></thead>
      <tbody>${page.items.map((p) => html`<tr data-policy=${p.name}><td>${p.name}</td><td>${p.type}</td><td><span class=${'mode mode-' + p.mode}>${p.mode}</span></td>
        <td>${p.agentKeys ? p.agentKeys.join(', ') : 'all agents'}</td><td>${p.active ? 'enabled' : 'disabled'}</td><td class="num">${fmtNum(p.violations24h)}</td>
        <td class="actions-cell"><button type="button" class="small" onClick=${() => setEditing(p)}>Edit<span class="visually-hidden"> ${p.name}</span></button>
          <button type="button" class="small" onClick=${() => toggle(p)}>${p.active ? 'Disable' : 'Enable'}<span class="visually-hidden"> ${p.name}</span></button>
          <button type="button" class="small danger" onClick=${() => drop(p)}>Drop<span class="visually-hidden"> ${p.name}</span></button></td></tr>`)}</tbody></table>
      <${Pager} page=${page} onOffset=${setOffset} label="Policy pages" />`}
  </section>`;
}
