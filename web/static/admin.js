// The all-organisations view, built only for an admin key: every org with
// its usage, quota, share used and a sparkline, fullest first; create an
// org, set a quota, manage keys (a new key's secret is shown once), see an
// org's projects with their usage against their quotas, delete an org. A writer's or reader's page never gets any of it in its DOM.

import { el, parseSize, percent, size, sparkline, when } from './format.js';

const ROLES = ['reader', 'writer', 'admin', 'metrics'];
const WARN = 80, FULL = 95; // percent used: highlighted, nearly full

export class AdminView {
  constructor(root, api, { toast, handle, selfOrg }) {
    Object.assign(this, { root, api, toast, handle, selfOrg });
    this.open = { quota: null, keys: null, projects: null }; // the org whose panel is open
    this.secret = null; // {org, key}: a key just created, shown once
    this.build();
  }

  build() {
    this.tbody = el('tbody');
    const form = el('form', { id: 'org-create', class: 'inline', 'aria-label': 'Create an organisation' },
      el('label', { for: 'org-name' }, 'New organisation'),
      el('input', { id: 'org-name', type: 'text', maxlength: 100, required: true, placeholder: 'name' }),
      el('label', { for: 'org-quota' }, 'Quota'),
      el('input', { id: 'org-quota', type: 'text', placeholder: 'default, or e.g. 10 GB', size: 20 }),
      el('button', { type: 'submit', class: 'small' }, 'Create'));
    form.addEventListener('submit', (ev) => this.onCreateOrg(ev));
    this.section = el('section', { class: 'card', id: 'orgs-card', 'aria-labelledby': 'orgs-title' },
      el('div', { class: 'row' }, el('h2', { id: 'orgs-title' }, 'All organisations'), form),
      el('p', { id: 'org-create-status', class: 'error', role: 'alert' }),
      el('table', { id: 'orgs' },
        el('caption', { class: 'visually-hidden' }, 'Every organisation, fullest first'),
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col' }, 'Organisation'), el('th', { scope: 'col', class: 'num' }, 'Usage'),
          el('th', { scope: 'col', class: 'num' }, 'Quota'), el('th', { scope: 'col' }, 'Used'),
          el('th', { scope: 'col' }, 'Last 30 days'),
          el('th', { scope: 'col' }, el('span', { class: 'visually-hidden' }, 'Actions')))),
        this.tbody));
    this.root.replaceChildren(this.section);
  }

  async refresh() {
    try {
      const { orgs } = await this.api.orgs();
      const since = Date.now() - 30 * 24 * 3600 * 1000;
      const histories = await Promise.all(orgs.map((o) => this.api.orgHistory(o.id)
        .then((h) => h.samples.filter((s) => new Date(s.at).getTime() >= since || s === h.samples[h.samples.length - 1]))
        .catch(() => [])));
      const keys = this.open.keys ? (await this.api.keys(this.open.keys)).keys : [];
      const projects = this.open.projects ? (await this.api.projects(this.open.projects)).projects : [];
      const rows = orgs.map((o, i) => ({ o, hist: histories[i], pct: percent(o.usage_bytes + o.reserved_bytes, o.quota_bytes) }));
      rows.sort((a, b) => b.pct - a.pct || a.o.name.localeCompare(b.o.name));
      this.tbody.replaceChildren(...rows.flatMap((r) => this.orgRows(r, keys, projects)));
    } catch (err) {
      this.handle(err);
    }
  }

  orgRows({ o, hist, pct }, keys, projects) {
    const level = pct >= FULL ? 'full' : pct >= WARN ? 'near-full' : '';
    const meter = el('span', { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': o.quota_bytes,
      'aria-valuenow': o.usage_bytes, 'aria-label': `${o.name}: ${Math.round(pct)}% of its quota` });
    const fill = el('span', { class: 'meter-fill' });
    fill.style.width = `${pct}%`;
    meter.append(fill);
    const self = o.id === this.selfOrg;
    const row = el('tr', { 'data-org': o.id, 'data-name': o.name, class: level },
      el('th', { scope: 'row' }, el('span', { class: 'name' }, o.name), self ? el('span', { class: 'badge' }, 'yours') : '',
        el('br'), el('code', { class: 'muted' }, o.id)),
      el('td', { class: 'num usage' }, size(o.usage_bytes), o.reserved_bytes > 0 ? el('div', { class: 'muted small' }, `+${size(o.reserved_bytes)} uploading`) : ''),
      el('td', { class: 'num quota' }, size(o.quota_bytes)),
      el('td', { class: 'pct' }, meter, el('span', { class: 'pct-text' }, `${pct > 0 && pct < 1 ? '<1' : Math.round(pct)}%`),
        level === 'full' ? el('span', { class: 'badge failed' }, 'nearly full') : level ? el('span', { class: 'badge queued' }, 'over 80%') : ''),
      el('td', {}, sparkline(hist, o.quota_bytes)),
      el('td', { class: 'actions' },
        el('button', { type: 'button', class: 'secondary small', 'aria-expanded': String(this.open.quota === o.id),
          'aria-label': `Set the quota of ${o.name}`, onclick: () => this.toggle('quota', o.id) }, 'Set quota'),
        el('button', { type: 'button', class: 'secondary small', 'aria-expanded': String(this.open.keys === o.id),
          'aria-label': `Keys of ${o.name}`, onclick: () => this.toggle('keys', o.id) }, 'Keys'),
        el('button', { type: 'button', class: 'secondary small', 'aria-expanded': String(this.open.projects === o.id),
          'aria-label': `Projects of ${o.name}`, onclick: () => this.toggle('projects', o.id) }, 'Projects'),
        self ? '' : el('button', { type: 'button', class: 'danger small', 'aria-label': `Delete organisation ${o.name}`,
          onclick: () => this.confirmDelete(o) }, 'Delete')));
    const out = [row];
    if (this.open.quota === o.id) out.push(this.detail(this.quotaForm(o)));
    if (this.open.keys === o.id) out.push(this.detail(this.keysPanel(o, keys)));
    if (this.open.projects === o.id) out.push(this.detail(this.projectsPanel(o, projects)));
    return out;
  }

  detail(content) {
    return el('tr', { class: 'detail' }, el('td', { colspan: 6 }, content));
  }

  toggle(what, id) {
    this.open[what] = this.open[what] === id ? null : id;
    if (what === 'keys') this.secret = null;
    this.refresh();
  }

  quotaForm(o) {
    const input = el('input', { id: 'quota-input', type: 'text', value: size(o.quota_bytes), size: 14, 'aria-label': `New quota of ${o.name}` });
    const status = el('span', { class: 'error', role: 'alert' });
    const form = el('form', { class: 'inline quota-form' },
      el('label', { for: 'quota-input' }, `Quota of ${o.name}`), input,
      el('button', { type: 'submit', class: 'small' }, 'Save'), status,
      el('span', { class: 'muted small' }, 'e.g. 500 MB, 2 GB, 1.5 GiB; below the usage is allowed (new uploads are refused).'));
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      const q = parseSize(input.value);
      if (Number.isNaN(q)) {
        status.textContent = `“${input.value}” is not a size: write e.g. 2 GB or 500 MB.`;
        return;
      }
      try {
        await this.api.setQuota(o.id, q);
        this.open.quota = null;
        this.toast(`The quota of ${o.name} is now ${size(q)}.`);
        await this.refresh();
      } catch (err) {
        status.textContent = err.message;
      }
    });
    queueMicrotask(() => { input.focus(); input.select(); });
    return form;
  }

  keysPanel(o, keys) {
    const rows = keys.map((k) => el('tr', { 'data-key': k.id, class: k.revoked_at ? 'revoked' : '' },
      el('td', {}, k.name || el('span', { class: 'muted' }, '(no name)')),
      el('td', {}, k.role), el('td', {}, el('code', {}, k.id)),
      el('td', {}, el('time', { datetime: k.created_at }, when(k.created_at))),
      el('td', {}, k.revoked_at ? el('span', { class: 'badge failed' }, `revoked ${when(k.revoked_at)}`)
        : el('button', { type: 'button', class: 'danger small', 'aria-label': `Revoke key ${k.name || k.id}`,
          onclick: () => this.revoke(k) }, 'Revoke'))));
    const name = el('input', { id: 'key-name', type: 'text', maxlength: 100, placeholder: 'e.g. ci, alice', size: 14 });
    const role = el('select', { id: 'key-role' }, ROLES.map((r) => el('option', { value: r, selected: r === 'writer' }, r)));
    const status = el('span', { class: 'error', role: 'alert' });
    const form = el('form', { class: 'inline', id: 'key-create' },
      el('label', { for: 'key-name' }, 'New key'), name, el('label', { for: 'key-role' }, 'Role'), role,
      el('button', { type: 'submit', class: 'small' }, 'Create key'), status);
    form.addEventListener('submit', async (ev) => {
      ev.preventDefault();
      try {
        const k = await this.api.createKey(o.id, role.value, name.value.trim());
        this.secret = { org: o.id, key: k };
        await this.refresh();
      } catch (err) {
        status.textContent = err.message;
      }
    });
    return el('div', { class: 'keys-panel' },
      this.secret && this.secret.org === o.id ? this.secretBox(this.secret.key) : '',
      rows.length ? el('table', { class: 'keys' },
        el('thead', {}, el('tr', {}, ...['Name', 'Role', 'Id', 'Created', 'Status'].map((h) => el('th', { scope: 'col' }, h)))),
        el('tbody', {}, rows)) : el('p', { class: 'muted' }, `${o.name} has no keys yet.`),
      form);
  }

  // projectsPanel lists an org's projects with their usage against their
  // own quotas, fullest first; a project without one is capped by the org's.
  projectsPanel(o, projects) {
    if (!projects.length) return el('p', { class: 'muted' }, `${o.name} has no projects (silo admin projects create --org ${o.name} NAME).`);
    const pctOf = (p) => (p.quota_bytes == null ? -1 : percent(p.usage_bytes + p.reserved_bytes, p.quota_bytes));
    const rows = [...projects].sort((a, b) => pctOf(b) - pctOf(a) || a.name.localeCompare(b.name)).map((p) => {
      const pct = pctOf(p);
      const level = pct >= FULL ? 'full' : pct >= WARN ? 'near-full' : '';
      let used = el('span', { class: 'muted small' }, 'org’s quota only');
      if (p.quota_bytes != null) {
        const fill = el('span', { class: 'meter-fill' });
        fill.style.width = `${pct}%`;
        used = [el('span', { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': p.quota_bytes,
          'aria-valuenow': p.usage_bytes, 'aria-label': `${p.name}: ${Math.round(pct)}% of its quota` }, fill),
        el('span', { class: 'pct-text' }, `${pct > 0 && pct < 1 ? '<1' : Math.round(pct)}%`)];
      }
      return el('tr', { 'data-project': p.id, 'data-name': p.name, class: level },
        el('td', {}, el('span', { class: 'name' }, p.name), ' ', el('code', { class: 'muted' }, p.id)),
        el('td', { class: 'num usage' }, size(p.usage_bytes), p.reserved_bytes > 0 ? el('div', { class: 'muted small' }, `+${size(p.reserved_bytes)} uploading`) : ''),
        el('td', { class: 'num quota' }, p.quota_bytes == null ? 'none' : size(p.quota_bytes)),
        el('td', { class: 'pct' }, used));
    });
    return el('table', { class: 'projects', 'aria-label': `Projects of ${o.name}` },
      el('thead', {}, el('tr', {}, ...['Project', 'Usage', 'Quota', 'Used'].map((h) => el('th', { scope: 'col' }, h)))),
      el('tbody', {}, rows));
  }

  // secretBox shows a new key's secret, the only time silo ever shows it.
  secretBox(k) {
    const code = el('code', { id: 'new-secret', class: 'secret' }, k.key);
    const copied = el('span', { class: 'muted', role: 'status' });
    return el('div', { class: 'secret-box', role: 'region', 'aria-label': 'New API key' },
      el('strong', {}, `New ${k.role} key “${k.name || k.id}”. Copy it now: it is shown only once.`),
      el('div', { class: 'row' }, code,
        el('span', {},
          el('button', { type: 'button', class: 'small', id: 'copy-secret', onclick: async () => {
            try {
              await navigator.clipboard.writeText(k.key);
              copied.textContent = 'Copied.';
            } catch {
              getSelection().selectAllChildren(code); // the user copies by hand
              copied.textContent = 'Selected: press Ctrl+C.';
            }
          } }, 'Copy'), ' ',
          el('button', { type: 'button', class: 'secondary small', id: 'secret-done', onclick: () => { this.secret = null; this.refresh(); } }, 'Done'),
          ' ', copied)));
  }

  async revoke(k) {
    try {
      await this.api.revokeKey(k.id);
      this.toast(`Revoked key ${k.name || k.id}: it now gets 498.`);
      await this.refresh();
    } catch (err) {
      this.handle(err);
    }
  }

  confirmDelete(o) {
    const dlg = document.getElementById('org-confirm');
    const purge = document.getElementById('org-purge');
    document.getElementById('org-confirm-text').textContent = o.usage_bytes > 0
      ? `“${o.name}” holds ${size(o.usage_bytes)} of datasets. Its keys will be revoked. This cannot be undone.`
      : `“${o.name}” holds no datasets. Its keys will be revoked. This cannot be undone.`;
    purge.checked = false;
    document.getElementById('org-purge-row').hidden = o.usage_bytes === 0;
    dlg.returnValue = '';
    dlg.onclose = async () => {
      if (dlg.returnValue !== 'delete') return;
      try {
        await this.api.deleteOrg(o.id, purge.checked);
        if (this.open.keys === o.id) this.open.keys = null;
        this.toast(`Deleted organisation ${o.name}.`);
        await this.refresh();
      } catch (err) {
        this.handle(err);
      }
    };
    dlg.showModal();
  }

  async onCreateOrg(ev) {
    ev.preventDefault();
    const name = document.getElementById('org-name');
    const quota = document.getElementById('org-quota');
    const status = document.getElementById('org-create-status');
    status.textContent = '';
    let q = null;
    if (quota.value.trim()) {
      q = parseSize(quota.value);
      if (Number.isNaN(q)) {
        status.textContent = `“${quota.value}” is not a size: write e.g. 10 GB or 500 MB.`;
        return;
      }
    }
    try {
      const o = await this.api.createOrg(name.value.trim(), q);
      name.value = '';
      quota.value = '';
      this.toast(`Created organisation ${o.name} (${size(o.quota_bytes)}).`);
      await this.refresh();
    } catch (err) {
      status.textContent = err.message;
    }
  }
}
