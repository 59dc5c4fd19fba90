// Contract test: the npm cohere-ai client (8.1.0), pointed at silo, does what
// a Cohere user does with datasets. The Go test sdk-tests/ts_test.go starts a
// server and runs this with SILO_URL and SILO_API_KEY set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CohereClient, CohereError } from 'cohere-ai';

const url = process.env.SILO_URL;
const token = process.env.SILO_API_KEY;
assert.ok(url && token, 'SILO_URL and SILO_API_KEY must be set');

const cohere = new CohereClient({ token, environment: url, clientName: 'cohere-ts-test' });
const rows = '{"text":"hello"}\n{"text":"world"}\n{"text":"a third line"}\n';

// waitValidated polls as a user would (the SDK has no wait in TypeScript).
async function waitValidated(id) {
  for (let i = 0; i < 600; i++) {
    const { dataset } = await cohere.datasets.get(id);
    if (dataset.validationStatus !== 'queued' && dataset.validationStatus !== 'processing') return dataset;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`dataset ${id} still not validated`);
}

async function usage() {
  const u = await cohere.datasets.getUsage();
  return Number(u.organizationUsage);
}

test('create (File), list, get, usage, delete', async () => {
  const before = await usage();
  const data = new File([rows], 'emb.jsonl', { type: 'application/jsonl' });
  const created = await cohere.datasets.create(data, undefined, { name: 'ts sdk', type: 'embed-input' });
  assert.match(created.id, /^ts-sdk-[a-z0-9]{6}$/);

  const d = await waitValidated(created.id);
  assert.equal(d.validationStatus, 'validated');
  assert.equal(d.datasetType, 'embed-input');
  assert.equal(d.name, 'ts sdk');
  assert.equal(d.datasetParts.length, 1);
  assert.equal(d.datasetParts[0].numRows, 3);
  assert.ok(d.createdAt instanceof Date || typeof d.createdAt === 'string');

  // Byte for byte: usage grew by exactly the file's size.
  assert.equal(await usage(), before + Buffer.byteLength(rows));

  const original = await fetch(d.datasetParts[0].originalUrl);
  assert.equal(original.status, 200);
  assert.equal(await original.text(), rows);

  const { datasets } = await cohere.datasets.list();
  assert.ok(datasets.some((x) => x.id === created.id), 'the list has the new dataset');
  const filtered = await cohere.datasets.list({ datasetType: 'chat-finetune-input' });
  assert.ok(!(filtered.datasets || []).some((x) => x.id === created.id), 'the type filter leaves it out');

  const deleted = await cohere.datasets.delete(created.id);
  assert.deepEqual(deleted, {});
  assert.equal(await usage(), before);
  // Cohere's 404 reads "The dataset with id '<id>' was not found." and, as every error body, carries the
  // request id next to the message.
  await assert.rejects(cohere.datasets.get(created.id), (err) => err instanceof CohereError && err.statusCode === 404 &&
    err.body.message === `The dataset with id '${created.id}' was not found.` && typeof err.body.id === 'string' && err.body.id !== '');
});

test('a stream upload arrives as [object Object] and is refused with advice', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'silo-ts-'));
  const path = join(dir, 'data.jsonl');
  writeFileSync(path, rows);
  const before = await usage();
  await assert.rejects(
    cohere.datasets.create(createReadStream(path), undefined, { name: 'stream', type: 'embed-input' }),
    (err) => {
      assert.ok(err instanceof CohereError, String(err));
      assert.equal(err.statusCode, 400);
      assert.match(JSON.stringify(err.body), /\[object Object\].*Blob or File/);
      return true;
    },
  );
  assert.equal(await usage(), before);
});

test('a wrong key is refused with 401', async () => {
  const bad = new CohereClient({ token: 'silo_not_a_key', environment: url });
  await assert.rejects(bad.datasets.getUsage(), (err) => err instanceof CohereError && err.statusCode === 401);
});
