// A small tus 1.0.0 client (tus.io/protocols/resumable-upload): the
// dashboard's uploads go to /v1/uploads in chunks and resume by themselves
// after a dropped connection.
//
// Why not tus-js-client: its browser build is tens of kilobytes of minified
// code to vendor, keep up to date and trust under the page's strict CSP
// (this file is a few), and most of it (fingerprints in localStorage,
// parallel uploads, Node and React Native inputs, deferred lengths) is for
// cases the dashboard does not have: the page resumes from silo's own list
// of uploads (GET /v1/uploads), not from browser storage. What the page
// needs of the protocol is POST, HEAD, PATCH and DELETE, which fit below.
//
// No Upload-Checksum: with a checksum silo keeps all of a PATCH or none of
// it, so on a link that drops every few megabytes an 8 MiB chunk would
// never get through; without one silo keeps what arrived whole, and the
// next PATCH starts there. (Web Crypto is also missing on plain-http
// origins other than localhost.) TCP and silo's length checks guard the
// bytes; the dataset's sha256 is recorded server-side.

const CHUNK = 8 << 20; // 8 MiB per PATCH: progress is saved at least this often
const STALL_MS = 30_000; // a PATCH that moves no byte for this long is dropped and resumed
const ANSWER_MS = 120_000; // how long an answer may take once a request is sent (a final PATCH makes the dataset)
const RETRY_FOR_MS = 10 * 60_000; // give up after this long without progress
const MAX_BACKOFF_MS = 30_000;

export class TusError extends Error {
  constructor(status, message) {
    super(message || `HTTP ${status}`);
    this.status = status; // 0: the connection failed
  }
}

// retryable: what a later attempt can get past. A conflict (409) or a lock
// (423, the dropped PATCH still being wound up by the server) means "ask
// HEAD where we are"; 5xx and 429 mean "later"; 0 is the network.
function retryable(err) {
  const s = err.status;
  return s === 0 || s === 409 || s === 423 || s === 429 || s >= 500;
}

// encodeMetadata writes Upload-Metadata: "key base64(utf-8 value)" pairs.
function encodeMetadata(meta) {
  const b64 = (s) => btoa(String.fromCharCode(...new TextEncoder().encode(s)));
  return Object.entries(meta).filter(([, v]) => v !== undefined && v !== '')
    .map(([k, v]) => `${k} ${b64(String(v))}`).join(',');
}

// Upload sends one file. Either new (create() then send()) or a resume of
// an upload that exists (path and the same file: send() asks HEAD first).
// onProgress(offset, size) after every progress event; onRetry(err, ms,
// offset) before each wait.
export class Upload {
  constructor(file, { headers, path = null, onProgress = () => {}, onRetry = () => {} }) {
    Object.assign(this, { file, headers, path, onProgress, onRetry });
    this.offset = null; // known after create(); else HEAD says
    this.datasetId = null;
    this.xhr = null;
    this.aborted = false;
  }

  // create opens the upload; its whole length is reserved against the
  // quota at once, so an upload that cannot fit is refused here.
  async create(metadata) {
    const r = await this.request('POST', '/v1/uploads', {
      'Upload-Length': String(this.file.size), 'Upload-Metadata': encodeMetadata(metadata),
    });
    // Location is absolute, under silo's public URL; the page keeps to its
    // own origin (the CSP's connect-src 'self'), so only the path is used.
    this.path = new URL(r.getResponseHeader('Location'), location.href).pathname;
    this.offset = Number(r.getResponseHeader('Upload-Offset') || 0);
    return this.path;
  }

  // send uploads the rest of the file and resolves to the dataset's id if
  // the upload's metadata made one (else null).
  async send() {
    const size = this.file.size;
    let offset = this.offset; // null: ask the server
    let saved = offset ?? -1; // the furthest offset the server has confirmed
    let reached = 0; // the furthest byte sent, for onRetry
    let finished = false; // a PATCH that reached the end was answered
    let failingSince = 0, backoff = 0;
    const progress = (off) => { reached = Math.max(reached, off); this.onProgress(off, size); };
    // confirmed: the server holds more than before, so whatever went
    // wrong was got past; the next failure starts its backoff afresh.
    const confirmed = (off) => {
      if (off > saved) [saved, failingSince, backoff] = [off, 0, 0];
      return off;
    };
    for (;;) {
      try {
        if (offset === null) {
          const h = await this.request('HEAD', this.path);
          if (Number(h.getResponseHeader('Upload-Length')) !== size) {
            throw new TusError(400, `This upload is ${h.getResponseHeader('Upload-Length')} bytes long, the file ${size}.`);
          }
          offset = confirmed(Number(h.getResponseHeader('Upload-Offset')));
          this.datasetId = h.getResponseHeader('Silo-Dataset-Id');
        }
        progress(offset);
        // Done when the server holds every byte and has answered the PATCH
        // that completed it (or a HEAD names its dataset): that answer names
        // the dataset its metadata asked for. A complete upload without one
        // (that answer was lost, or was a 5xx) gets an empty PATCH, which
        // makes the dataset if it can, or says why not.
        if (offset === size && (this.datasetId || finished)) return this.datasetId;
        const r = await this.request('PATCH', this.path, {
          'Content-Type': 'application/offset+octet-stream', 'Upload-Offset': String(offset),
        }, this.file.slice(offset, Math.min(offset + CHUNK, size)), (n) => progress(offset + n));
        offset = confirmed(Number(r.getResponseHeader('Upload-Offset')));
        this.datasetId = r.getResponseHeader('Silo-Dataset-Id');
        finished = offset === size;
      } catch (err) {
        if (this.aborted || !retryable(err)) throw err;
        const now = Date.now();
        failingSince ||= now;
        if (now - failingSince > RETRY_FOR_MS) throw err;
        backoff = Math.min(MAX_BACKOFF_MS, Math.max(1000, backoff * 2, 1000 * (err.retryAfter || 0)));
        this.onRetry(err, backoff, reached);
        await this.wait(backoff);
        if (this.aborted) throw new TusError(0, 'The upload was stopped.');
        offset = null; // the server says where to go on from
      }
    }
  }

  // wait sleeps, or less if the browser comes back online.
  wait(ms) {
    return new Promise((resolve) => {
      const done = () => { clearTimeout(t); removeEventListener('online', done); resolve(); };
      const t = setTimeout(done, ms);
      addEventListener('online', done);
    });
  }

  // abort stops the upload; the bytes sent stay on the server until it is
  // resumed, terminated or expires.
  abort() {
    this.aborted = true;
    if (this.xhr) this.xhr.abort();
  }

  // request makes one tus request with XMLHttpRequest, the one browser API
  // that reports upload progress. A body that moves no byte for STALL_MS,
  // or an answer that takes longer than ANSWER_MS once the request is
  // sent, is given up as a dropped connection.
  request(method, path, extra = {}, body = null, onSent = null) {
    return new Promise((resolve, reject) => {
      const xhr = new XMLHttpRequest();
      this.xhr = xhr;
      xhr.open(method, path);
      for (const [k, v] of Object.entries({ ...this.headers, 'Tus-Resumable': '1.0.0', ...extra })) xhr.setRequestHeader(k, v);
      let stall = null;
      const watch = (ms) => {
        clearTimeout(stall);
        stall = setTimeout(() => xhr.abort(), ms);
      };
      if (body) {
        watch(STALL_MS);
        xhr.upload.onprogress = (e) => { watch(STALL_MS); if (onSent) onSent(e.loaded); };
        xhr.upload.onload = () => watch(ANSWER_MS);
      } else {
        watch(ANSWER_MS);
      }
      const fail = (status, msg) => { clearTimeout(stall); reject(new TusError(status, msg)); };
      xhr.onload = () => {
        clearTimeout(stall);
        if (xhr.status >= 200 && xhr.status < 300) return resolve(xhr);
        let msg;
        try { msg = JSON.parse(xhr.responseText).message; } catch { /* not JSON: a proxy's page */ }
        const err = new TusError(xhr.status, msg);
        err.retryAfter = Number(xhr.getResponseHeader('Retry-After')) || 0; // seconds (silo sends no dates)
        reject(err);
      };
      xhr.onerror = () => fail(0, 'The connection failed.');
      xhr.onabort = () => fail(0, this.aborted ? 'The upload was stopped.' : 'The connection stalled.');
      xhr.send(body);
    });
  }
}

// terminate deletes an upload and releases the quota it holds. A PATCH of
// it that is still being wound up on the server (just aborted here) holds
// its lock for a moment: the server answers 423 until it has, so that is
// retried.
export async function terminate(path, headers) {
  let r;
  for (let i = 0; i < 40; i++) {
    r = await fetch(path, { method: 'DELETE', headers: { ...headers, 'Tus-Resumable': '1.0.0' } });
    if (r.status !== 423) break;
    await new Promise((ok) => setTimeout(ok, 250));
  }
  if (r.status !== 204 && r.status !== 404) {
    const body = await r.json().catch(() => ({}));
    throw new TusError(r.status, body.message);
  }
}
