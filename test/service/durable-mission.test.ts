import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ConflictError, PermissionDeniedError } from '../../src/core/errors.js';
import type { CheckpointEvent, HandoffEvent, MissionEvent } from '../../src/core/events.js';
import { sqliteFixture, teamMission } from './helpers.js';

test('a mission reopened from the file has exactly the state it had', async () => {
  const fx = sqliteFixture();
  try {
    const mission = await teamMission(fx.service);
    await mission.run('ezra', { kind: 'publish', topic: 'progress', payload: { pct: 40 } });
    const checkpoint = (await mission.run('ezra', { kind: 'checkpoint', summary: 'wip', state: { step: 2 } })) as CheckpointEvent;
    const handoff = (await mission.run('ezra', { kind: 'handoff', recipient: 'timmy', checkpoint_id: checkpoint.checkpoint_id })) as HandoffEvent;
    await mission.run('timmy', { kind: 'accept', handoff_id: handoff.handoff_id });
    await mission.run('timmy', { kind: 'change_role', name: 'bezalel', role: 'write' });
    await assert.rejects(mission.run('allegro', { kind: 'publish', topic: 'x', payload: {} }), PermissionDeniedError);
    const before = { dict: await mission.toDict(), audit: await mission.readAudit(0, 1000), packet: await mission.resumePacket(handoff.handoff_id) };

    const service = await fx.reopen();
    const reopened = await service.open('mission-883');
    const after = { dict: await reopened.toDict(), audit: await reopened.readAudit(0, 1000), packet: await reopened.resumePacket(handoff.handoff_id) };
    assert.deepEqual(after, before);
    assert.equal(reopened.state.participants.get('bezalel')!.role, 'write');
    await assert.rejects(reopened.run('timmy', { kind: 'accept', handoff_id: handoff.handoff_id }), ConflictError);
    const next = await reopened.run('bezalel', { kind: 'publish', topic: 'after', payload: {} });
    assert.equal(next.sequence, 9);
  } finally {
    await fx.cleanup();
  }
});

test('concurrent commands get contiguous sequences, and fewer transactions than commands', async () => {
  const fx = sqliteFixture();
  try {
    const mission = await teamMission(fx.service);
    let transactions = 0;
    fx.service.store.onAppend(() => transactions++);
    const writers = 16;
    const perWriter = 50;
    const acked: MissionEvent[] = [];
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = 0; i < perWriter; i++) acked.push(await mission.run('ezra', { kind: 'publish', topic: `w${w}`, payload: { i } }));
      }),
    );
    const stream = await mission.readEvents(1, 10_000);
    assert.equal(stream.length, 3 + writers * perWriter);
    stream.forEach((event, index) => assert.equal(event.sequence, index + 1));
    assert.equal(new Set(acked.map((e) => e.sequence)).size, acked.length);
    assert.ok(transactions <= perWriter * 2, `group commit: ${transactions} batches for ${writers * perWriter} appends`);
  } finally {
    await fx.cleanup();
  }
});

test('a refused command in a batch does not sink the others, and the audit log has both', async () => {
  const fx = sqliteFixture();
  try {
    const mission = await teamMission(fx.service);
    const results = await Promise.allSettled([
      mission.run('ezra', { kind: 'publish', topic: 'ok', payload: {} }),
      mission.run('bezalel', { kind: 'publish', topic: 'denied', payload: {} }),
      mission.run('ezra', { kind: 'publish', topic: 'ok2', payload: {} }),
    ]);
    assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
    const stream = await mission.readEvents(4, 10);
    assert.deepEqual(stream.map((e) => JSON.parse(e.body).topic), ['ok', 'ok2']);
    const audit = (await mission.readAudit(0, 100)).slice(-3);
    assert.deepEqual(audit.map((r) => [r.participant, r.outcome]), [['ezra', 'allowed'], ['bezalel', 'denied'], ['ezra', 'allowed']]);
  } finally {
    await fx.cleanup();
  }
});

test('idempotent publish survives a restart and concurrent retries', async () => {
  const fx = sqliteFixture();
  try {
    let mission = await teamMission(fx.service);
    const first = await mission.run('ezra', { kind: 'publish', topic: 't', payload: {}, message_id: 'once' });
    const same = await Promise.all([1, 2, 3].map(() => mission.run('ezra', { kind: 'publish', topic: 't', payload: {}, message_id: 'twice' })));
    assert.equal(new Set(same.map((e) => e.sequence)).size, 1);
    mission = await (await fx.reopen()).open('mission-883');
    const again = await mission.run('ezra', { kind: 'publish', topic: 't', payload: {}, message_id: 'once' });
    assert.deepEqual(again, first);
    assert.equal(mission.committedSequence, 5);
  } finally {
    await fx.cleanup();
  }
});

test('a batch the store refuses is undone in memory: state and store stay equal', async () => {
  const fx = sqliteFixture();
  try {
    const mission = await teamMission(fx.service);
    const checkpoint = (await mission.run('ezra', { kind: 'checkpoint', summary: 's', state: {} })) as CheckpointEvent;
    const store = fx.service.store as unknown as { appendBatch: (b: unknown) => Promise<void> };
    const original = store.appendBatch.bind(store);
    store.appendBatch = async () => {
      throw new Error('disk full');
    };
    await assert.rejects(mission.run('ezra', { kind: 'handoff', recipient: 'timmy', checkpoint_id: checkpoint.checkpoint_id }), /disk full/);
    store.appendBatch = original;
    assert.equal(mission.state.lastSequence, 4);
    assert.equal(mission.state.handoffs.size, 0);
    const handoff = await mission.run('ezra', { kind: 'handoff', recipient: 'timmy', checkpoint_id: checkpoint.checkpoint_id });
    assert.equal(handoff.sequence, 5);
  } finally {
    await fx.cleanup();
  }
});

test("a checkpoint may only refer to files whose content the mission stored", async () => {
  const fx = sqliteFixture();
  try {
    const mission = await teamMission(fx.service);
    const sha256 = 'b'.repeat(64);
    const files = [{ path: 'notes.md', size: 3, sha256 }];
    await assert.rejects(mission.run('ezra', { kind: 'checkpoint', summary: 's', state: {}, files }), /refers to content b{64} that was not uploaded/);
    assert.equal(mission.committedSequence, 3);
    await fx.service.store.putBlobs('mission-883', [{ sha256, bytes: new Uint8Array([1, 2, 3]) }]);
    const checkpoint = await mission.run('ezra', { kind: 'checkpoint', summary: 's', state: {}, files });
    assert.equal(checkpoint.sequence, 4);
  } finally {
    await fx.cleanup();
  }
});
