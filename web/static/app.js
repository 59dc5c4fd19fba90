// The dashboard: sign in with an API key, then usage, its history and
// breakdown, the datasets table, uploads and deletes; with an admin key, the
// all-organisations view above them (admin.js). Plain DOM, no framework;
// every view is redrawn from the API's answers.

import { AdminView } from './admin.js';
import { API, APIError } from './api.js';
import { el, percent, room, size, when } from './format.js';
import { plot } from './plot.js';
import { UploadView } from './uploads.js';
import { WebhookView } from './webhooks.js';

const TYPES = [
  'embed-input', 'embed-result', 'cluster-result', 'cluster-outliers', 'reranker-finetune-input',
  'single-label-classification-finetune-input', 'chat-finetune-input', 'multi-label-classification-finetune-input',
  'batch-chat-input', 'batch-openai-chat-input', 'batch-embed-v2-input', 'batch-chat-v2-input',
];
const KEY = 'silo.apiKey';
const $ = (id) => document.getElementById(id);

let api = null;
let admin = null; // the all-organisations view, for admin keys only
let hooks = null; // the webhooks panel, for writer and admin keys
let datasets = [];
let pollTimer = null;
let uploads = null; // the upload form and the incomplete uploads (uploads.js)

function show(signedIn) {
  $('signin').hidden = signedIn;
  $('app').hidden = !signedIn;
  $('who').hidden = !signedIn;
}

let toastTimer = null;
function toast(msg) {
  $('toast').textContent = msg;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { $('toast').textContent = ''; }, 8000);
}

async function signIn(key) {
  const candidate = new API(key);
  const me = await candidate.me(); // throws on a bad key
  api = candidate;
  sessionStorage.setItem(KEY, key);
  $('who-text').textContent = `${me.org.name} · ${me.key.role} key${me.key.name ? ` “${me.key.name}”` : ''}`;
  $('who-text').title = `organisation ${me.org.id}, key ${me.key.id}`;
  if (me.key.role === 'admin') {
    admin = new AdminView($('admin-root'), api, { toast, handle, selfOrg: me.org.id });
  }
  if (me.key.role === 'writer' || me.key.role === 'admin') {
    hooks = new WebhookView($('webhooks-root'), api, { toast, handle });
    hooks.refresh();
  }
  show(true);
  await refresh();
}

function signOut() {
  sessionStorage.removeItem(KEY);
  api = null;
  admin = null;
  hooks = null;
  $('admin-root').replaceChildren();
  $('webhooks-root').replaceChildren();
  clearTimeout(pollTimer);
  $('key').value = '';
  show(false);
  $('key').focus();
}

// handle turns an API failure into what the user sees; a key that stopped
// working signs out.
function handle(err) {
  if (err instanceof APIError && (err.status === 401 || err.status === 498)) {
    signOut();
    $('signin-error').textContent = err.status === 498 ? 'This API key has been revoked.' : 'This API key is not valid.';
    return;
  }
  toast(err.message);
}

async function refresh() {
  if (!api) return;
  try {
    const [u, history, breakdown, list, incomplete] = await Promise.all([
      api.usage(), api.history(), api.breakdown(), api.datasets(filters()), api.uploads(), admin && admin.refresh(),
      hooks && hooks.refresh(),
    ]);
    renderUsage(u);
    // A project key's history is its project's: its quota is the line.
    plot($('history'), history.samples, { quota: u.project_id && u.project_limit_bytes != null ? u.project_limit_bytes : u.limit_bytes });
    renderShares($('by-type'), breakdown.by_type, 'type');
    $('fact-count').textContent = breakdown.by_type.reduce((n, s) => n + s.datasets, 0).toLocaleString();
    renderShares($('by-client'), breakdown.by_client, 'client');
    renderShares($('by-key'), breakdown.by_key || [], 'key');
    datasets = list.datasets;
    renderDatasets();
    uploads.render(incomplete.uploads);
    schedulePoll();
  } catch (err) {
    handle(err);
  }
}

// schedulePoll refreshes while validation is under way, so statuses move
// from queued to validated without a reload.
function schedulePoll() {
  clearTimeout(pollTimer);
  if (datasets.some((d) => d.validation_status === 'queued' || d.validation_status === 'processing')) {
    pollTimer = setTimeout(refresh, 1000);
  }
}

function renderUsage(u) {
  const used = u.organization_usage, limit = u.limit_bytes, held = u.reserved_bytes || 0;
  const pct = percent(used, limit);
  const gauge = $('gauge');
  gauge.setAttribute('aria-valuemax', String(limit));
  gauge.setAttribute('aria-valuenow', String(used));
  gauge.setAttribute('aria-valuetext', `${size(used)} of ${size(limit)}`);
  gauge.classList.toggle('warn', pct >= 80 && pct < 95);
  gauge.classList.toggle('full', pct >= 95);
  $('gauge-fill').style.width = `${pct}%`;
  $('gauge-held').style.left = `${pct}%`;
  $('gauge-held').style.width = `${Math.min(percent(held, limit), 100 - pct)}%`;
  $('usage-text').textContent = `${size(used)} of ${size(limit)} used (${pct < 1 && used > 0 ? '<1' : Math.round(pct)}%)`;
  $('usage-held').textContent = held > 0 ? `${size(held)} held by uploads in progress` : '';
  // What this key can still create: for a project key, the tighter of
  // its project's quota and its organisation's.
  const r = room(u);
  $('fact-quota').textContent = size(r.limit);
  $('fact-free').textContent = size(r.free);
  renderProjectUsage(u);
}

// renderProjectUsage shows a project key its project's usage against the
// project's quota, above its organisation's (CONTRACT "Projects").
function renderProjectUsage(u) {
  $('project-usage').hidden = !u.project_id;
  if (!u.project_id) return;
  const used = u.project_usage, limit = u.project_limit_bytes, held = u.project_reserved_bytes || 0;
  $('project-label').textContent = `Project ${u.project_id}`;
  const meter = $('project-meter');
  meter.hidden = limit == null;
  $('project-held').textContent = held > 0 ? `+${size(held)} uploading` : '';
  if (limit == null) {
    $('project-text').textContent = `${size(used)} used (no quota of its own: the organisation’s caps it)`;
    return;
  }
  const pct = percent(used, limit);
  meter.setAttribute('aria-valuemax', String(limit));
  meter.setAttribute('aria-valuenow', String(used));
  meter.classList.toggle('near-full', pct >= 80 && pct < 95);
  meter.classList.toggle('full', pct >= 95);
  $('project-fill').style.width = `${pct}%`;
  $('project-text').textContent = `${size(used)} of ${size(limit)} used (${pct < 1 && used > 0 ? '<1' : Math.round(pct)}%)`;
}

function renderShares(box, shares, what) {
  if (!shares.length) {
    box.replaceChildren(el('p', { class: 'muted' }, 'Nothing stored yet.'));
    return;
  }
  const total = shares.reduce((s, x) => s + x.bytes, 0) || 1;
  const label = (s) => {
    if (what === 'key') {
      return s.key ? [s.name || '(no name)', ' ', el('code', { class: 'muted' }, s.key)]
        : el('span', { class: 'muted', title: 'created before silo recorded which key created each dataset' }, s.name || 'unknown');
    }
    return s.key || (what === 'client' ? '(no client name)' : '(none)');
  };
  const rows = shares.map((s) => el('tr', {},
    el('th', { scope: 'row' }, label(s)),
    el('td', { class: 'num' }, s.datasets),
    el('td', { class: 'num' }, size(s.bytes)),
    el('td', { class: 'barcell', 'aria-hidden': 'true' }, bar((100 * s.bytes) / total))));
  box.replaceChildren(el('table', { class: 'shares' },
    el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, { client: 'Client', key: 'Key', type: 'Type' }[what]),
      el('th', { scope: 'col', class: 'num' }, 'Datasets'), el('th', { scope: 'col', class: 'num' }, 'Size'),
      el('th', { scope: 'col' }, el('span', { class: 'visually-hidden' }, 'Share')))),
    el('tbody', {}, rows)));
}

// bar is a share's bar; its width is set through the CSSOM, which the
// page's Content-Security-Policy allows (a style attribute it would not).
function bar(pct) {
  const b = el('span', { class: 'bar' });
  b.style.width = `${pct}%`;
  return b;
}

function filters() {
  return { type: $('f-type').value, status: $('f-status').value };
}

function rowsOf(d) {
  if (d.validation_status !== 'validated') return '–';
  return d.dataset_parts.reduce((n, p) => n + (p.num_rows || 0), 0).toLocaleString();
}

function renderDatasets() {
  const q = $('f-name').value.trim().toLowerCase();
  const shown = datasets.filter((d) => !q || d.name.toLowerCase().includes(q) || d.id.includes(q));
  const body = $('datasets').tBodies[0];
  body.replaceChildren(...shown.flatMap(datasetRows));
  $('empty').hidden = shown.length > 0;
}

function datasetRows(d) {
  const links = d.dataset_parts.flatMap((p) => [
    p.original_url && el('a', { href: p.original_url, download: '' }, `${p.name}`),
    p.url && el('a', { href: p.url, download: '' }, `${p.name} (Avro)`),
  ]).filter(Boolean);
  const main = el('tr', { 'data-id': d.id },
    el('td', {}, el('span', { class: 'name' }, d.name), el('br'), el('code', { class: 'muted' }, d.id)),
    el('td', {}, d.dataset_type),
    el('td', {}, el('span', { class: `badge ${d.validation_status}` }, d.validation_status)),
    el('td', { class: 'num' }, rowsOf(d)),
    el('td', { class: 'num' }, size(d.size_bytes)),
    el('td', {}, el('time', { datetime: d.created_at }, when(d.created_at))),
    el('td', { class: 'actions' },
      el('button', { type: 'button', class: 'danger small', 'aria-label': `Delete ${d.name}`, onclick: () => confirmDelete(d) }, 'Delete')));
  const extra = [];
  if (d.validation_error) {
    extra.push(el('div', { class: 'verror', role: 'note' }, el('strong', {}, 'Validation failed: '), d.validation_error));
  }
  for (const w of d.validation_warnings || []) extra.push(el('div', { class: 'vwarn' }, el('strong', {}, 'Warning: '), w));
  if (links.length) extra.push(el('div', { class: 'links' }, 'Download: ', ...links.flatMap((a, i) => (i ? [' · ', a] : [a]))));
  if (!extra.length) return [main];
  return [main, el('tr', { class: 'detail' }, el('td', { colspan: 7 }, extra))];
}

function confirmDelete(d) {
  const dlg = $('confirm');
  $('confirm-text').textContent = `“${d.name}” (${d.id}, ${size(d.size_bytes)}) will be deleted. This cannot be undone.`;
  dlg.returnValue = '';
  dlg.onclose = async () => {
    if (dlg.returnValue !== 'delete') return;
    try {
      await api.remove(d.id);
      toast(`Deleted ${d.name}.`);
      await refresh();
    } catch (err) {
      handle(err);
    }
  };
  dlg.showModal();
}

function init() {
  for (const sel of [$('up-type'), $('f-type')]) {
    for (const t of TYPES) sel.append(el('option', { value: t }, t));
  }
  $('signin-form').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const key = $('key').value.trim();
    $('signin-error').textContent = '';
    if (!key) {
      $('signin-error').textContent = 'Enter an API key.';
      return;
    }
    try {
      await signIn(key);
    } catch (err) {
      $('signin-error').textContent = err.status === 401 || err.status === 498
        ? 'This API key is not valid or has been revoked.' : err.message;
    }
  });
  $('signout').addEventListener('click', signOut);
  uploads = new UploadView(() => api, { toast, handle, refresh });
  $('f-type').addEventListener('change', refresh);
  $('f-status').addEventListener('change', refresh);
  $('f-name').addEventListener('input', renderDatasets);
  $('filters').addEventListener('submit', (ev) => ev.preventDefault());
  const saved = sessionStorage.getItem(KEY);
  if (saved) signIn(saved).catch(() => show(false));
  else show(false);
}

init();
