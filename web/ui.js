// Shared pieces of the dashboard: htm bound to Preact, formatting, the
// confirmation dialog, pagers, badges, errors, and the lazily loaded chart.
// Everything is rendered by Preact, which sets text as text: no HTML string
// is ever parsed (no innerHTML, no dangerouslySetInnerHTML).
import { h, render } from './vendor/preact.module.js';
import { useState, useEffect, useLayoutEffect, useRef, useCallback } from './vendor/hooks.module.js';
import htm from './vendor/htm.module.js';

export const html = htm.bind(h);
export { h, render, useState, useEffect, useLayoutEffect, useRef, useCallback };

export function fmtTime(s) {
  if (!s) return '–';
  const d = new Date(s);
  if (isNaN(d)) return String(s);
  return d.toISOString().replace('T', ' ').replace(/\.\d+Z$/, ' UTC');
}
export function fmtMoney(n) {
  if (n === null || n === undefined) return '–';
  return '$' + Number(n).toFixed(Number(n) < 1 && Number(n) > 0 ? 4 : 2);
}
export function fmtNum(n) {
  if (n === null || n === undefined) return '–';
  return Number(n).toLocaleString('en-US');
}

export function Badge({ status }) {
  return html`<span class=${'badge badge-' + status} data-status=${status}>${status}</span>`;
}

export function ErrorMsg({ error }) {
  if (!error) return null;
  return html`<p class="error" role="alert">${error.message}${error.hint ? ' ' + error.hint : ''}</p>`;
}

// "1–50 of 1,234" with Previous / Next; the server pages.
export function Pager({ page, onOffset, label }) {
  if (!page || page.total === undefined) return null;
  const { total, limit, offset } = page;
  const end = Math.min(offset + limit, total);
  const totalText = page.totalCapped ? 'more than 10,000' : fmtNum(total);
  return html`<nav class="pager" aria-label=${label || 'Pages'}>
    <span class="pager-count" aria-live="polite">${total === 0 ? 'none' : `${fmtNum(offset + 1)}–${fmtNum(end)} of ${totalText}`}</span>
    <button type="button" disabled=${offset === 0} onClick=${() => onOffset(Math.max(0, offset - limit))}>Previous</button>
    <button type="button" disabled=${end >= total} onClick=${() => onOffset(offset + limit)}>Next</button>
  </nav>`;
}

// The confirmation dialog of destructive actions (a modal <dialog>: focus
// stays inside, Escape cancels).  confirm({title, message, action, reason})
// resolves to false, true, or the reason typed when one is asked for.
let openConfirm = null;
export function confirm(opts) {
  return new Promise((resolve) => openConfirm({ ...opts, resolve }));
}
export function ConfirmHost() {
  const [req, setReq] = useState(null);
  const [reason, setReason] = useState('');
  const [missing, setMissing] = useState(false);
  const ref = useRef(null);
  openConfirm = (r) => { setReason(''); setMissing(false); setReq(r); };
  useEffect(() => {
    const d = ref.current;
    if (req && d && !d.open) d.showModal();
  }, [req]);
  const close = (value) => {
    const r = req;
    if (ref.current && ref.current.open) ref.current.close();
    setReq(null);
    if (r) r.resolve(value);
  };
  const submit = (e) => {
    e.preventDefault();
    if (req.reason) {
      if (!reason.trim()) { setMissing(true); return; }
      close(reason.trim());
    } else close(true);
  };
  if (!req) return html`<dialog ref=${ref} aria-labelledby="confirm-title"></dialog>`;
  return html`<dialog ref=${ref} class="confirm" aria-labelledby="confirm-title" aria-describedby="confirm-message"
      onCancel=${(e) => { e.preventDefault(); close(false); }}>
    <form onSubmit=${submit}>
      <h2 id="confirm-title">${req.title}</h2>
      <p id="confirm-message">${req.message}</p>
      ${req.reason && html`<div class="field">
        <label for="confirm-reason">${req.reason} (required)</label>
        <textarea id="confirm-reason" name="reason" rows="3" maxlength="2000" aria-required="true" autofocus
          aria-invalid=${missing ? 'true' : 'false'} aria-describedby=${missing ? 'confirm-reason-error' : undefined}
          value=${reason} onInput=${(e) => { setReason(e.target.value); setMissing(false); }}></textarea>
        ${missing && html`<p class="field-error" id="confirm-reason-error" role="alert">A reason is required.</p>`}
      </div>`}
      <div class="actions">
        <button type="submit" class=${req.danger === false ? 'primary' : 'danger'} id="confirm-ok">${req.action}</button>
        <button type="button" id="confirm-cancel" onClick=${() => close(false)}>Cancel</button>
      </div>
    </form>
  </dialog>`;
}

// A value shown once (a new key, a signing secret) with a copy button.
export function ShownOnce({ label, value, id }) {
  const [copied, setCopied] = useState('');
  const copy = async () => {
    try {
      await navigator.clipboard.writeText(value);
      setCopied('Copied.');
    } catch (e) {
      const el = document.getElementById(id);
      if (el) { el.focus(); el.select(); }
      setCopied('Select the text and copy it (the browser refused clipboard access).');
    }
  };
  return html`<div class="shown-once" role="region" aria-label=${label}>
    <p><strong>${label}</strong>: shown this once; it cannot be read again. Store it now.</p>
    <div class="copy-row">
      <input id=${id} class="secret" readonly value=${value} aria-label=${label} onFocus=${(e) => e.target.select()} />
      <button type="button" onClick=${copy}>Copy</button>
    </div>
    <p class="note" aria-live="polite">${copied}</p>
  </div>`;
}

// uPlot (about 50 kB) is loaded on the first chart only.
let uplotLoading = null;
function loadUPlot() {
  if (window.uPlot) return Promise.resolve(window.uPlot);
  if (!uplotLoading) {
    uplotLoading = new Promise((resolve, reject) => {
      const css = document.createElement('link');
      css.rel = 'stylesheet';
      css.href = 'vendor/uPlot.min.css';
      document.head.appendChild(css);
      const s = document.createElement('script');
      s.src = 'vendor/uPlot.iife.min.js';
      s.onload = () => resolve(window.uPlot);
      s.onerror = () => reject(new Error('the chart library did not load'));
      document.head.appendChild(s);
    });
  }
  return uplotLoading;
}

const COLORS = ['#1f5fbf', '#b3261e', '#1b7a3a', '#8a4b00', '#6a3d9a', '#00707a', '#8c1d5a', '#4d4d4d'];

// A chart: x values (unix seconds), series [{label, values, bars?, dash?}].
export function Chart({ title, x, series, height = 220, yLabel }) {
  const ref = useRef(null);
  const [err, setErr] = useState(null);
  useEffect(() => {
    let plot = null;
    let gone = false;
    loadUPlot().then((uPlot) => {
      if (gone || !ref.current) return;
      const width = Math.max(300, ref.current.clientWidth || 600);
      plot = new uPlot({
        width, height,
        series: [{}, ...series.map((s, i) => ({
          label: s.label, stroke: s.color || COLORS[i % COLORS.length], width: 2,
          fill: s.fill ? (s.color || COLORS[i % COLORS.length]) + '33' : undefined,
          dash: s.dash, points: { show: true, size: 5 },
          paths: s.bars && uPlot.paths && uPlot.paths.bars ? uPlot.paths.bars({ size: [0.6, 40] }) : undefined,
        }))],
        axes: [{}, { label: yLabel, size: 60 }],
        scales: { x: { time: true } },
        legend: { show: true },
      }, [x, ...series.map((s) => s.values)], ref.current);
    }).catch((e) => setErr(e));
    return () => { gone = true; if (plot) plot.destroy(); };
  }, [JSON.stringify([x, series])]);
  return html`<figure class="chart">
    <figcaption>${title}</figcaption>
    <div ref=${ref} class="chart-area" role="img" aria-label=${title}></div>
    <${ErrorMsg} error=${err} />
  </figure>`;
}

// Poll f every ms while mounted (and the tab is visible).
// A list that its filters reload: only the newest request's answer is shown
// (an answer that arrives after a newer request was sent, say the one of a
// cleared search after the one of a new status filter, is dropped).
// latest(f, onValue, onError) runs f and hands over its result if it is still
// the newest.
export function useLatest() {
  const seq = useRef(0);
  return useCallback(async (f, onValue, onError) => {
    const n = ++seq.current;
    try {
      const v = await f();
      if (n === seq.current) onValue(v);
    } catch (e) {
      if (n === seq.current) onError(e);
    }
  }, []);
}

export function usePoll(f, ms, deps) {
  useEffect(() => {
    let stop = false;
    let timer = null;
    const tick = async () => {
      if (stop) return;
      if (document.visibilityState !== 'hidden') {
        try { await f(); } catch (e) { /* the next tick retries */ }
      }
      if (!stop) timer = setTimeout(tick, ms);
    };
    timer = setTimeout(tick, ms);
    return () => { stop = true; clearTimeout(timer); };
  }, deps);
}
