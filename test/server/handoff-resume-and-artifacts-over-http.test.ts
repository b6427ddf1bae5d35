/**
 * The mission workflow over HTTP: a checkpoint with captured files (blobs verified by sha256), a
 * handoff, the recipient's resume packet and a single accept; idempotent publish answers 201 then 200.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import { bearer, createMission, raw, startTestServer, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'flow', { ezra: 'write', timmy: 'write', watcher: 'read' });
});
after(() => t.close());

test('checkpoint with files → handoff → resume packet → accept once', async () => {
  const bytes = new TextEncoder().encode('# notes\nall good\n');
  const ref = await m.as.ezra!.putBlob(bytes);
  assert.equal(ref.sha256, createHash('sha256').update(bytes).digest('hex'));
  assert.equal(ref.size, bytes.length);
  await assert.rejects(m.as.watcher!.putBlob(bytes), { name: 'PermissionDeniedError' });
  assert.deepEqual(await m.as.watcher!.getBlob(ref.sha256), bytes);
  await assert.rejects(m.as.watcher!.getBlob('f'.repeat(64)), { name: 'NotFoundError' });

  const checkpoint = await m.as.ezra!.checkpoint({
    summary: 'half way',
    state: { step: 3 },
    artifacts: ['notes.md'],
    files: [{ path: 'notes.md', size: ref.size, sha256: ref.sha256 }],
  });
  await assert.rejects(m.as.ezra!.handoff('watcher', checkpoint.checkpoint_id), { name: 'InvalidInputError' });
  await assert.rejects(m.as.ezra!.handoff('timmy', 'no-such-checkpoint'), { name: 'NotFoundError' });
  const handoff = await m.as.ezra!.handoff('timmy', checkpoint.checkpoint_id, 'your turn');
  const packet = await m.as.timmy!.resumePacket(handoff.handoff_id);
  assert.equal(packet.recipient, 'timmy');
  assert.equal(packet.handoff_note, 'your turn');
  assert.deepEqual(packet.checkpoint, checkpoint);
  assert.equal(packet.checkpoint.files![0]!.sha256, ref.sha256);

  await assert.rejects(m.as.ezra!.accept(handoff.handoff_id), { name: 'PermissionDeniedError' });
  const accepted = await m.as.timmy!.accept(handoff.handoff_id);
  assert.equal(accepted.checkpoint_id, checkpoint.checkpoint_id);
  await assert.rejects(m.as.timmy!.accept(handoff.handoff_id), { name: 'ConflictError' });
  assert.deepEqual(await m.as.watcher!.event(accepted.event_id), accepted);
  await assert.rejects(m.as.watcher!.event('nope'), { name: 'NotFoundError' });
});

test('publish with a message_id: 201 the first time, 200 with the same event after', async () => {
  const first = await m.as.ezra!.publishResult('status', { ok: 1 }, { messageId: 'status-1' });
  const again = await m.as.ezra!.publishResult('status', { ok: 1 }, { messageId: 'status-1' });
  assert.equal(first.created, true);
  assert.equal(again.created, false);
  assert.deepEqual(again.event, first.event);
  const res = await raw(t.server, 'POST', '/v1/missions/flow/messages', {
    headers: bearer(m.tokens.ezra!, { 'Content-Type': 'application/json' }),
    body: JSON.stringify({ topic: 'status', payload: { ok: 1 }, message_id: 'status-1' }),
  });
  assert.equal(res.status, 200);
});

test('cells, isolation and events paging', async () => {
  const started = await m.as.ezra!.cellStarted({ cell_id: 'cell-1', level: 1, profile: 'level1-directory', command: ['make', 'test'] });
  const exited = await m.as.ezra!.cellExited({ cell_id: 'cell-1', exit_code: 0, signal: null, duration_ms: 1234 });
  assert.equal(exited.sequence, started.sequence + 1);
  await assert.rejects(m.as.ezra!.configureIsolation('level2-mount-namespace'), { name: 'PermissionDeniedError' });
  await assert.rejects(m.as.lead!.configureIsolation('level9'), { name: 'InvalidInputError' });
  await m.as.lead!.configureIsolation('level2-mount-namespace');
  assert.equal((await m.as.watcher!.mission()).isolation_profile?.level, 2);

  const all = [];
  for await (const event of m.as.watcher!.allEvents(1, 3)) all.push(event.sequence);
  const last = (await m.as.watcher!.mission()).last_sequence;
  assert.deepEqual(all, Array.from({ length: last }, (_, i) => i + 1));
  const page = await m.as.watcher!.events({ from: last - 1, limit: 10 });
  assert.deepEqual(page.events.map((e) => e.sequence), [last - 1, last]);
  assert.equal(page.next, last + 1);
  assert.equal(page.last_sequence, last);
});
