// The upload form and the list of incomplete uploads. Every upload goes
// through tus (tus.js): its whole size is reserved when it opens, it is
// sent in chunks and it goes on by itself after a dropped connection. One
// that stopped (the tab closed, the network gone for too long) stays on
// the server until it expires, listed here with Resume (pick the same file
// again) and Cancel (delete it and give its reserved bytes back).

import { APIError } from './api.js';
import { el, percent, room, size, when } from './format.js';
import { Upload, terminate } from './tus.js';

const $ = (id) => document.getElementById(id);
const pathOf = (url) => new URL(url, location.href).pathname;
const idOf = (path) => path.slice(path.lastIndexOf('/') + 1);
const done = (u) => u && u.upload_offset === u.upload_length;

// until says how long until an upload expires, in the largest unit.
function until(iso) {
  const ms = new Date(iso) - Date.now();
  if (!(ms > 60e3)) return 'in a minute';
  const h = ms / 3600e3;
  return h >= 48 ? `in ${Math.round(h / 24)} days` : h >= 1 ? `in ${Math.round(h)} h` : `in ${Math.round(ms / 60e3)} min`;
}

// Note ends an upload job with something to tell that is not a failure.
class Note extends Error {}

export class UploadView {
  // api returns the signed-in key's API (it changes with the key).
  constructor(api, { toast, handle, refresh }) {
    Object.assign(this, { api, toast, handle, refresh });
    this.busy = false; // an upload job runs (one at a time)
    this.running = null; // the Upload it is sending
    this.uploads = [];
    $('upload-form').addEventListener('submit', (ev) => this.submit(ev));
  }

  // render draws the incomplete uploads (from GET /v1/uploads).
  render(uploads) {
    this.uploads = uploads;
    $('uploads-card').hidden = uploads.length === 0;
    $('uploads').tBodies[0].replaceChildren(...uploads.map((u) => this.row(u)));
  }

  row(u) {
    const m = u.metadata;
    const name = m.name || m.dataset_name || m.eval_for_name || '(no name)';
    const role = m.eval_for_name ? 'evaluation file' : m.eval_upload ? 'and its evaluation file' : '';
    const here = this.running && this.running.path === pathOf(u.url);
    const meter = el('span', { class: 'meter', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': u.upload_length,
      'aria-valuenow': u.upload_offset, 'aria-label': `${name}: bytes uploaded` }, el('span', { class: 'meter-fill' }));
    meter.firstChild.style.width = `${percent(u.upload_offset, u.upload_length)}%`;
    const actions = [];
    if (here) {
      actions.push(el('span', { class: 'badge processing' }, 'uploading'));
    } else if (u.partial) {
      actions.push(el('span', { class: 'muted small', title: 'A piece of a parallel upload by another client' }, 'part of a parallel upload'));
    } else if (done(u)) {
      actions.push(el('span', { class: 'muted small' }, 'all sent'));
    } else {
      const input = el('input', { type: 'file', class: 'visually-hidden', 'aria-label': `Resume ${name}: choose ${m.filename || 'the same file'} again` });
      input.disabled = this.busy;
      input.addEventListener('change', () => input.files[0] && this.resume(u, input.files[0]));
      actions.push(el('label', { class: `button small${this.busy ? ' disabled' : ''}`, title: 'Choose the same file again to go on from where it stopped' }, input, 'Resume…'));
    }
    actions.push(el('button', { type: 'button', class: 'secondary small', 'aria-label': `Cancel ${name}`, onclick: () => this.confirmCancel(u) }, 'Cancel'));
    return el('tr', { 'data-upload': u.id },
      el('td', {}, el('span', { class: 'name' }, name), el('br'), el('code', { class: 'muted' }, m.filename || u.id),
        role ? el('span', { class: 'muted small' }, ` · ${role}`) : ''),
      el('td', { class: 'num' }, meter, el('br'), `${size(u.upload_offset)} of ${size(u.upload_length)}`),
      el('td', {}, el('time', { datetime: u.expires_at, title: when(u.expires_at) }, until(u.expires_at))),
      el('td', { class: 'actions' }, actions));
  }

  // submit sends the form's file (and evaluation file) as resumable
  // uploads, refusing first what cannot fit.
  async submit(ev) {
    ev.preventDefault();
    const file = $('up-file').files[0];
    const evalFile = $('up-eval').files[0];
    const name = $('up-name').value.trim();
    const type = $('up-type').value;
    const status = $('up-status');
    status.classList.remove('error');
    if (!file || !name) {
      status.textContent = 'Choose a file and give the dataset a name.';
      return;
    }
    // Refuse what cannot fit before sending a byte (silo would refuse the
    // upload when it opens; this says so in the user's words).
    const need = file.size + (evalFile ? evalFile.size : 0);
    let usage;
    try {
      usage = await this.api().usage();
    } catch (err) {
      this.handle(err);
      return;
    }
    const { free, limit, level } = room(usage);
    if (need > free) {
      const what = evalFile ? `${file.name} and ${evalFile.name}` : file.name;
      status.textContent = `${what} (${size(need)}) ${evalFile ? 'do' : 'does'} not fit: ${size(free)} free of ${size(limit)}`
        + `${level === 'project' ? ' (the project’s quota)' : ''}.`;
      status.classList.add('error');
      return;
    }
    await this.run(async () => {
      // With an evaluation file: two uploads, the evaluation file first,
      // joined into one dataset at the end. Alone, the upload's metadata
      // names the dataset and silo makes it with the last byte.
      let evalId = null;
      if (evalFile) {
        const e = await this.send(evalFile, { filename: evalFile.name, eval_for_name: name }, 0, need);
        evalId = idOf(e.path);
      }
      const meta = evalId ? { filename: file.name, dataset_name: name, dataset_type: type, eval_upload: evalId }
        : { name, type, filename: file.name };
      const up = await this.send(file, meta, evalFile ? evalFile.size : 0, need);
      const id = up.datasetId || (await this.api().datasetFromUploads(name, type, idOf(up.path), evalId)).id;
      $('upload-form').reset();
      return id;
    });
  }

  // resume goes on with an upload that stopped, from the server's offset;
  // the file must be the one it was started with (its size is checked,
  // as a different file of the same size cannot be told apart here).
  async resume(u, file) {
    const status = $('up-status');
    if (this.busy) return;
    if (file.size !== u.upload_length) {
      status.textContent = `${file.name} is ${size(file.size)} (${file.size.toLocaleString()} bytes), but this upload is of a file of ${u.upload_length.toLocaleString()} bytes${u.metadata.filename ? ` (${u.metadata.filename})` : ''}. Choose the same file.`;
      status.classList.add('error');
      this.render(this.uploads); // clears the file input
      return;
    }
    status.classList.remove('error');
    await this.run(async () => {
      const up = await this.send(file, null, 0, file.size, pathOf(u.url));
      return up.datasetId || this.finishPair(u);
    });
  }

  // finishPair makes the dataset of a file and its evaluation file once
  // both uploads are complete; until then it says which one is missing.
  async finishPair(u) {
    const { uploads } = await this.api().uploads();
    const main = uploads.find((x) => x.id === u.id && x.metadata.eval_upload) || uploads.find((x) => x.metadata.eval_upload === u.id);
    if (!main) return null;
    const evalU = uploads.find((x) => x.id === main.metadata.eval_upload);
    const missing = [main, evalU].find((x) => !done(x));
    if (missing) throw new Note(`Uploaded. Now resume ${missing.metadata.filename || missing.id} too: the dataset needs both files.`);
    return (await this.api().datasetFromUploads(main.metadata.dataset_name, main.metadata.dataset_type, main.id, evalU.id)).id;
  }

  // run does one upload job with the form's progress bar and status, and
  // says how it ended.
  async run(job) {
    const bar = $('up-progress'), status = $('up-status');
    bar.hidden = false;
    bar.value = 0;
    $('up-submit').disabled = true;
    this.busy = true;
    this.drops = 0;
    try {
      const id = await job();
      bar.value = 100;
      const dropped = this.drops === 1 ? ' The connection dropped once; the upload went on from where it stopped.'
        : this.drops ? ` The connection dropped ${this.drops} times; each time the upload went on from where it stopped.` : '';
      status.textContent = id ? `Created ${id}; validation is queued.${dropped}`
        : `Uploaded; the upload names no dataset (name and type), so it stays an upload.${dropped}`;
    } catch (err) {
      const stopped = this.running && this.running.aborted; // cancelled here
      if (err instanceof Note) status.textContent = err.message;
      else if (err.status === 401 || err.status === 498) this.handle(new APIError(err.status, err.message));
      else if (stopped) status.textContent = err.message;
      else if (err.status === 0) status.textContent = `${err.message} The upload is kept: resume it under Incomplete uploads.`;
      else if (err.status === 404) status.textContent = 'This upload no longer exists: it was cancelled, or it expired.';
      else status.textContent = `Upload refused: ${err.message}`;
      status.classList.toggle('error', !stopped && !(err instanceof Note));
    } finally {
      this.busy = false;
      this.running = null;
      $('up-submit').disabled = false;
      bar.hidden = true;
      await this.refresh();
    }
  }

  // send uploads one file (a new upload when metadata is given, else the
  // one at path), showing progress as the part [base, base+size) of total.
  async send(file, metadata, base, total, path = null) {
    const status = $('up-status'), bar = $('up-progress');
    const up = new Upload(file, {
      headers: this.api().headers(), path,
      onProgress: (off) => {
        bar.value = Math.floor((100 * (base + off)) / (total || 1));
        status.textContent = `Uploading ${file.name}: ${size(off)} of ${size(file.size)} (${Math.floor(percent(off, file.size))}%)`;
        this.showSent(up.path, off, file.size);
      },
      onRetry: (err, ms, off) => {
        // A dropped connection shows as a network error, or as 409/423
        // when the browser re-sent the PATCH by itself on a new connection
        // after silo had kept part of the first one (Chromium does).
        const dropped = err.status === 0 || err.status === 409 || err.status === 423;
        if (dropped) this.drops++;
        const why = dropped ? 'The connection dropped' : `The server answered ${err.status}`;
        status.textContent = `${why} after ${size(off)} of ${size(file.size)}; resuming in ${Math.round(ms / 1000)} s…`;
      },
    });
    this.running = up;
    if (metadata) {
      await up.create(metadata);
      this.refresh(); // the reservation shows in the gauge, the upload in the list
    }
    await up.send();
    return up;
  }

  // showSent moves the running upload's meter in the list, if it is there.
  showSent(path, off, total) {
    const tr = path && document.querySelector(`#uploads tr[data-upload="${CSS.escape(idOf(path))}"]`);
    if (!tr) return;
    const meter = tr.querySelector('[role=meter]');
    meter.setAttribute('aria-valuenow', off);
    meter.firstChild.style.width = `${percent(off, total)}%`;
    meter.parentNode.lastChild.textContent = `${size(off)} of ${size(total)}`;
  }

  confirmCancel(u) {
    const dlg = $('cancel-confirm');
    const m = u.metadata;
    const name = `${m.name || m.dataset_name || m.eval_for_name || u.id}${m.eval_for_name ? ' (evaluation file)' : ''}`;
    $('cancel-confirm-text').textContent = `The upload of “${name}” (${size(u.upload_offset)} of ${size(u.upload_length)} sent) will be deleted and the ${size(u.upload_length)} it holds of the quota given back.`;
    dlg.returnValue = '';
    dlg.onclose = async () => {
      if (dlg.returnValue !== 'delete') return;
      const path = pathOf(u.url);
      try {
        if (this.running && this.running.path === path) this.running.abort();
        await terminate(path, this.api().headers());
        this.toast(`Cancelled the upload of ${name}.`);
      } catch (err) {
        this.handle(err);
      }
      await this.refresh();
    };
    dlg.showModal();
  }
}
