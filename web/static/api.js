// The dashboard's calls to silo's public API. The key comes from the
// caller (sessionStorage), is sent only in the Authorization header, and
// never appears in a URL.

const CLIENT = 'silo-web';

export class APIError extends Error {
  constructor(status, message) {
    super(message || `HTTP ${status}`);
    this.status = status;
  }
}

export class API {
  constructor(key) { this.key = key; }

  headers() {
    return { Authorization: `Bearer ${this.key}`, 'X-Client-Name': CLIENT, Accept: 'application/json' };
  }

  async call(method, path, payload) {
    let resp;
    const init = { method, headers: this.headers(), cache: 'no-store' };
    if (payload !== undefined) {
      init.headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(payload);
    }
    try {
      resp = await fetch(path, init);
    } catch (e) {
      throw new APIError(0, 'The server cannot be reached. Check that silo is running.');
    }
    const body = await resp.json().catch(() => ({}));
    if (!resp.ok) throw new APIError(resp.status, body.message);
    return body;
  }

  me() { return this.call('GET', '/v1/me'); }
  usage() { return this.call('GET', '/v1/datasets/usage'); }
  history() { return this.call('GET', '/v1/datasets/usage/history?limit=2000'); }
  breakdown() { return this.call('GET', '/v1/datasets/usage/breakdown'); }
  datasets(filter) {
    const q = new URLSearchParams();
    if (filter.type) q.set('datasetType', filter.type);
    if (filter.status) q.set('validationStatus', filter.status);
    q.set('limit', '1000');
    return this.call('GET', `/v1/datasets?${q}`);
  }
  remove(id) { return this.call('DELETE', `/v1/datasets/${encodeURIComponent(id)}`); }

  // The admin API (admin keys only).
  orgs() { return this.call('GET', '/v1/admin/orgs'); }
  orgHistory(id) { return this.call('GET', `/v1/datasets/usage/history?limit=500&org_id=${encodeURIComponent(id)}`); }
  createOrg(name, quota) { return this.call('POST', '/v1/admin/orgs', { name, quota_bytes: quota }); }
  setQuota(id, quota) { return this.call('PATCH', `/v1/admin/orgs/${encodeURIComponent(id)}`, { quota_bytes: quota }); }
  deleteOrg(id, purge) { return this.call('DELETE', `/v1/admin/orgs/${encodeURIComponent(id)}${purge ? '?purge=true' : ''}`); }
  keys(orgId) { return this.call('GET', `/v1/admin/keys?org_id=${encodeURIComponent(orgId)}`); }
  createKey(orgId, role, name) { return this.call('POST', '/v1/admin/keys', { org_id: orgId, role, name }); }
  projects(orgId) { return this.call('GET', `/v1/admin/projects?org_id=${encodeURIComponent(orgId)}`); }
  revokeKey(id) { return this.call('DELETE', `/v1/admin/keys/${encodeURIComponent(id)}`); }

  // Webhook endpoints of the key's organisation (writer keys and up).
  webhooks() { return this.call('GET', '/v1/webhooks'); }
  createWebhook(url, events, description) { return this.call('POST', '/v1/webhooks', { url, events, description }); }
  deleteWebhook(id) { return this.call('DELETE', `/v1/webhooks/${encodeURIComponent(id)}`); }
  webhookDeliveries(id) { return this.call('GET', `/v1/webhooks/${encodeURIComponent(id)}/deliveries`); }

  // Resumable uploads (tus, in tus.js): the org's uploads that are not
  // datasets yet, and a dataset made of complete ones (a file with an
  // evaluation file: two uploads, joined here).
  uploads() { return this.call('GET', '/v1/uploads'); }
  datasetFromUploads(name, type, uploadId, evalUploadId) {
    const q = new URLSearchParams({ name, type, upload_id: uploadId });
    if (evalUploadId) q.set('eval_upload_id', evalUploadId);
    return this.call('POST', `/v1/datasets?${q}`);
  }
}
