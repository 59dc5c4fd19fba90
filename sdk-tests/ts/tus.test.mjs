// Contract test: tus-js-client (4.3.1), the reference tus client, uploads a
// 100+ MB dataset to silo's /v1/uploads in 4 parallel partial uploads of
// 8 MB chunks, through a loopback TCP proxy that cuts every connection
// after ~20 MB (SILO_TUS_URL; the Go test runs it and counts the cuts, and
// silo's --public-url points at it, so that upload URLs go through it too).
// It must resume by itself (HEAD, then PATCH from the server's offset), the
// dataset must appear, its original must download byte for byte, and usage
// must grow by exactly the file's size.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, createWriteStream, mkdtempSync, statSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import * as tus from 'tus-js-client';

const url = process.env.SILO_URL;
const tusURL = process.env.SILO_TUS_URL;
const token = process.env.SILO_API_KEY;
assert.ok(url && token, 'SILO_URL and SILO_API_KEY must be set');
const auth = { Authorization: `Bearer ${token}` };

async function writeDataset(path, size) {
  const out = createWriteStream(path);
  let n = 0;
  for (let i = 0; n < size; i++) {
    const line = `{"text":"row ${i} ${'y'.repeat(180)}"}\n`;
    n += line.length;
    if (!out.write(line)) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((r) => out.end(r));
}

async function api(path, init = {}) {
  const res = await fetch(url + path, { ...init, headers: { ...auth, ...(init.headers || {}) } });
  return { status: res.status, body: await res.json() };
}

test('tus-js-client: 100+ MB, 4 parallel uploads, connections cut, resumed', { timeout: 110_000 }, async () => {
  const dir = mkdtempSync(join(tmpdir(), 'silo-tus-'));
  const path = join(dir, 'big.jsonl');
  await writeDataset(path, 105 * 1000 * 1000);
  const size = statSync(path).size;
  const want = createHash('sha256').update(readFileSync(path)).digest('hex');
  const before = (await api('/v1/datasets/usage')).body.organization_usage;

  let heads = 0;
  let datasetID = '';
  const started = Date.now();
  await new Promise((resolve, reject) => {
    const upload = new tus.Upload(createReadStream(path), {
      endpoint: `${tusURL}/v1/uploads`,
      headers: auth,
      chunkSize: 8 * 1000 * 1000,
      parallelUploads: 4,
      retryDelays: Array(40).fill(100),
      metadata: { name: 'tus js', type: 'embed-input', filename: 'big.jsonl' },
      onBeforeRequest(req) {
        if (req.getMethod() === 'HEAD') heads++;
      },
      onAfterResponse(req, res) {
        const id = res.getHeader('Silo-Dataset-Id');
        if (id) datasetID = id;
      },
      onError: reject,
      onSuccess: resolve,
    });
    upload.start();
  });
  const secs = (Date.now() - started) / 1000;
  console.log(`tus-js-client: ${size} bytes in ${secs.toFixed(1)} s, ${heads} HEADs to resume`);
  assert.ok(heads >= 1, 'the client never asked where to resume');
  assert.match(datasetID, /^tus-js-[a-z0-9]{6}$/);

  // Usage rose by exactly the file's size, from the final upload's answer on.
  assert.equal((await api('/v1/datasets/usage')).body.organization_usage, before + size);
  assert.equal((await api('/v1/datasets/usage')).body.reserved_bytes, 0);
  const { body } = await api(`/v1/datasets/${datasetID}`);
  const res = await fetch(body.dataset.dataset_parts[0].original_url);
  const got = createHash('sha256').update(Buffer.from(await res.arrayBuffer())).digest('hex');
  assert.equal(got, want, 'the original downloads byte for byte');
  assert.equal((await api('/v1/uploads')).body.uploads.length, 0);
});
