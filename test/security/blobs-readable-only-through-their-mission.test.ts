/**
 * Blobs are content-addressed, and a sha256 is no secret: it travels in checkpoints, logs and resume
 * packets. Knowing one must not be enough. A participant of mission B who knows the sha256 of a blob
 * uploaded in mission A cannot read it through B's blob route, nor make B's checkpoint refer to it (and
 * then read it through B's resume packet or restore). Only uploading the bytes themselves to B — proving
 * possession — makes them B's too.
 *
 * This guards the fix "Blobs are readable only through the missions that put them" (per-mission blob
 * references in the store contract, e2cad6e); before it, the GET below answered 200 with A's bytes.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { startSecured, type Secured, type SecuredMission } from './secured-server.js';

let s: Secured;
let a: SecuredMission;
let b: SecuredMission;
before(async () => {
  s = await startSecured();
  a = await s.populate('alpha');
  b = await s.populate('bravo');
});
after(() => s.close());

test("B's participants cannot read A's blob by its sha256, whatever their role", async () => {
  for (const token of Object.values(b.tokens)) {
    const bravo = s.anon.withToken(token, 'bravo');
    await assert.rejects(bravo.getBlob(a.blob.sha256), (error: Error & { details?: { status?: number } }) => {
      assert.equal(error.name, 'NotFoundError');
      assert.equal(error.details?.status, 404);
      assert.doesNotMatch(error.message, /secret-of-alpha/);
      return true;
    });
  }
  // A's own participants can.
  assert.deepEqual(Buffer.from(await s.anon.withToken(a.tokens.reader, 'alpha').getBlob(a.blob.sha256)), a.blob.bytes);
});

test("B's checkpoint cannot refer to A's blob, so no resume packet or restore in B leads to it", async () => {
  const writer = s.anon.withToken(b.tokens.writer, 'bravo');
  const before = (await writer.mission()).last_sequence;
  await assert.rejects(
    writer.checkpoint({ summary: 'borrowed', state: {}, files: [{ path: 'stolen.md', size: a.blob.bytes.length, sha256: a.blob.sha256 }] }),
    { name: 'InvalidInputError' },
  );
  assert.equal((await writer.mission()).last_sequence, before);
});

test('uploading the bytes to B makes them readable through B, and only then', async () => {
  const writer = s.anon.withToken(b.tokens.writer, 'bravo');
  const ref = await writer.putBlob(a.blob.bytes);
  assert.equal(ref.sha256, a.blob.sha256);
  assert.deepEqual(Buffer.from(await s.anon.withToken(b.tokens.reader, 'bravo').getBlob(a.blob.sha256)), a.blob.bytes);
  const checkpoint = await writer.checkpoint({ summary: 'own copy', state: {}, files: [{ path: 'mine.md', size: a.blob.bytes.length, sha256: a.blob.sha256 }] });
  assert.equal(checkpoint.files?.[0]?.sha256, a.blob.sha256);
  // A third mission still cannot read it.
  const c = await s.populate('charlie');
  await assert.rejects(s.anon.withToken(c.tokens.lead, 'charlie').getBlob(a.blob.sha256), { name: 'NotFoundError' });
});
