// The webhooks panel, for writer and admin keys (a reader's page never
// gets it): the organisation's endpoints, a form to add one (its signing
// secret shown once), delete with a confirming second click, and an
// endpoint's latest deliveries.

import { el, when } from './format.js';

const TYPES = ['dataset.created', 'dataset.validated', 'dataset.failed', 'dataset.deleted', 'usage.threshold'];

export class WebhookView {
  constructor(root, api, { toast, handle }) {
    Object.assign(this, { root, api, toast, handle });
    this.secret = null; // a webhook just created: its secret, shown once
    this.open = null; // the endpoint whose deliveries are shown
    this.arm = null; // the endpoint whose Delete was clicked once
    this.build();
  }

  build() {
    const boxes = TYPES.map((t) => el('label', { class: 'check' },
      el('input', { type: 'checkbox', name: 'wh-event', value: t }), ` ${t}`));
    const form = el('form', { id: 'wh-create', 'aria-label': 'Add a webhook' },
      el('label', { for: 'wh-url' }, 'Endpoint URL'),
      el('input', { id: 'wh-url', type: 'text', required: true, placeholder: 'https://example.com/silo-events', spellcheck: 'false' }),
      el('fieldset', { class: 'events' }, el('legend', {}, 'Events (none ticked: all)'), boxes),
      el('label', { for: 'wh-desc' }, 'Description (optional)'),
      el('input', { id: 'wh-desc', type: 'text', maxlength: 500 }),
      el('p', { id: 'wh-error', class: 'error', role: 'alert' }),
      el('button', { type: 'submit', id: 'wh-submit' }, 'Add webhook'));
    form.addEventListener('submit', (ev) => this.onCreate(ev));
    this.secretRoot = el('div');
    this.tbody = el('tbody');
    this.deliveries = el('div', { id: 'wh-deliveries' });
    this.root.replaceChildren(el('section', { class: 'card', id: 'webhooks-card', 'aria-labelledby': 'webhooks-title' },
      el('h2', { id: 'webhooks-title' }, 'Webhooks'),
      el('p', { class: 'muted small' }, 'silo posts signed events (CloudEvents, Standard Webhooks signatures) to these URLs when ' +
        'datasets are created, validated, fail or are deleted, and when usage crosses 80, 95 or 100 % of the quota.'),
      this.secretRoot,
      el('table', { id: 'webhooks' },
        el('caption', { class: 'visually-hidden' }, 'Webhook endpoints of your organisation'),
        el('thead', {}, el('tr', {},
          el('th', { scope: 'col' }, 'URL'), el('th', { scope: 'col' }, 'Events'), el('th', { scope: 'col' }, 'Created'),
          el('th', { scope: 'col' }, el('span', { class: 'visually-hidden' }, 'Actions')))),
        this.tbody),
      el('p', { id: 'wh-empty', class: 'muted', hidden: true }, 'No webhooks yet.'),
      this.deliveries,
      form));
  }

  async refresh() {
    try {
      const { webhooks } = await this.api.webhooks();
      this.tbody.replaceChildren(...webhooks.map((w) => this.row(w)));
      this.root.querySelector('#wh-empty').hidden = webhooks.length > 0;
      if (this.open && !webhooks.some((w) => w.id === this.open.id)) this.open = null;
      await this.renderDeliveries();
    } catch (err) {
      this.handle(err);
    }
  }

  row(w) {
    const armed = this.arm === w.id;
    return el('tr', { 'data-id': w.id },
      el('td', {}, el('span', { class: 'name wh-url' }, w.url), el('br'), el('code', { class: 'muted' }, w.id),
        w.description ? [el('br'), el('span', { class: 'muted small' }, w.description)] : ''),
      el('td', {}, w.events.length ? w.events.join(', ') : 'all events'),
      el('td', {}, el('time', { datetime: w.created_at }, when(w.created_at))),
      el('td', { class: 'actions' },
        el('button', { type: 'button', class: 'secondary small', 'aria-label': `Deliveries of ${w.url}`,
          onclick: () => { this.open = w; this.renderDeliveries(); } }, 'Deliveries'), ' ',
        el('button', { type: 'button', class: 'danger small', 'aria-label': armed ? `Confirm: delete ${w.url}` : `Delete ${w.url}`,
          onclick: () => this.onDelete(w) }, armed ? 'Confirm delete' : 'Delete')));
  }

  async onDelete(w) {
    if (this.arm !== w.id) { // the first click asks; the second deletes
      this.arm = w.id;
      await this.refresh();
      return;
    }
    this.arm = null;
    try {
      await this.api.deleteWebhook(w.id);
      this.toast(`Deleted the webhook to ${w.url}; its pending deliveries were dropped.`);
    } catch (err) {
      this.handle(err);
    }
    await this.refresh();
  }

  async renderDeliveries() {
    if (!this.open) {
      this.deliveries.replaceChildren();
      return;
    }
    const { deliveries } = await this.api.webhookDeliveries(this.open.id);
    const rows = deliveries.map((d) => el('tr', {},
      el('td', {}, d.type, el('br'), el('code', { class: 'muted' }, d.event_id)),
      el('td', {}, el('span', { class: `badge ${d.status === 'delivered' ? 'validated' : d.status === 'failed' ? 'failed' : 'queued'}` }, d.status)),
      el('td', { class: 'num' }, d.attempts),
      el('td', {}, d.last_status_code ? `HTTP ${d.last_status_code}` : '', d.last_error ? [' ', el('span', { class: 'muted' }, d.last_error)] : ''),
      el('td', {}, d.delivered_at ? el('time', { datetime: d.delivered_at }, when(d.delivered_at))
        : d.next_attempt_at ? ['next ', el('time', { datetime: d.next_attempt_at }, when(d.next_attempt_at))] : '–')));
    this.deliveries.replaceChildren(
      el('h3', { class: 'small' }, `Latest deliveries to ${this.open.url}`, ' ',
        el('button', { type: 'button', class: 'link small', onclick: () => { this.open = null; this.renderDeliveries(); } }, 'close')),
      deliveries.length ? el('table', { id: 'wh-deliveries-table' },
        el('thead', {}, el('tr', {}, el('th', { scope: 'col' }, 'Event'), el('th', { scope: 'col' }, 'Status'),
          el('th', { scope: 'col', class: 'num' }, 'Attempts'), el('th', { scope: 'col' }, 'Last answer'),
          el('th', { scope: 'col' }, 'Delivered / next try'))),
        el('tbody', {}, rows)) : el('p', { class: 'muted' }, 'No deliveries yet.'));
  }

  async onCreate(ev) {
    ev.preventDefault();
    const err = this.root.querySelector('#wh-error');
    err.textContent = '';
    const url = this.root.querySelector('#wh-url').value.trim();
    const events = [...this.root.querySelectorAll('input[name="wh-event"]:checked')].map((b) => b.value);
    const description = this.root.querySelector('#wh-desc').value.trim();
    if (!url) {
      err.textContent = 'Enter the URL silo should post events to.';
      return;
    }
    try {
      const w = await this.api.createWebhook(url, events, description);
      this.showSecret(w);
      ev.target.reset();
      await this.refresh();
    } catch (e) {
      if (e.status === 401 || e.status === 498) this.handle(e);
      else err.textContent = e.message; // e.g. a private address, 422 naming the rule
    }
  }

  // showSecret shows a new endpoint's signing secret, the only time silo
  // ever shows it.
  showSecret(w) {
    this.secretRoot.replaceChildren(el('div', { class: 'secret-box', role: 'region', 'aria-label': 'New webhook secret' },
      el('strong', {}, `Webhook to ${w.url} added. Its signing secret is shown only now: keep it to verify deliveries.`),
      el('div', { class: 'row' }, el('code', { id: 'wh-secret', class: 'secret' }, w.secret),
        el('button', { type: 'button', class: 'secondary small', id: 'wh-secret-done',
          onclick: () => this.secretRoot.replaceChildren() }, 'Done'))));
  }
}
