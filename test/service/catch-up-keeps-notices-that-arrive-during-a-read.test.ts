/**
 * Two services on one store stand for two bus instances on PostgreSQL: each learns of the other's appends
 * by the store's notices and catches up. A notice that arrives while a catch-up is still reading (the read
 * having started before that append) must not be lost: the mission must catch up again. Before, it was
 * forgotten, and with PostgreSQL's safety poll off the instance stayed behind for good.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MissionService } from '../../src/service/mission-service.js';
import { MemoryStore } from '../../src/store/memory.js';
import type { EventStore } from '../../src/store/contract.js';

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** The same store, but every stream read answers `delayMs` after it has read. */
function slowReads(store: EventStore, delayMs: number): EventStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      if (property !== 'readEvents') return Reflect.get(target, property, receiver);
      return async (...args: Parameters<EventStore['readEvents']>) => {
        const events = await target.readEvents(...args);
        await sleep(delayMs);
        return events;
      };
    },
  });
}

test('an append announced during a catch-up read is caught up too', async () => {
  const store = new MemoryStore();
  const writer = new MissionService({ store });
  const reader = new MissionService({ store: slowReads(store, 50) });
  const mission = await writer.createMission({ mission_id: 'shared', lead: { name: 'timmy' } });
  await mission.run('timmy', { kind: 'add_participant', name: 'ezra', role: 'write' });
  const behind = await reader.open('shared');

  await mission.run('ezra', { kind: 'publish', topic: 'first', payload: {} }); // the reader starts a slow catch-up
  await sleep(10); // its read is done, its answer not yet
  const last = await mission.run('ezra', { kind: 'publish', topic: 'second', payload: {} }); // announced mid-read

  const deadline = Date.now() + 2000;
  while (behind.committedSequence < last.sequence && Date.now() < deadline) await sleep(10);
  assert.equal(behind.committedSequence, last.sequence, 'the reader caught up with the append announced during its read');
  assert.equal(behind.state.lastSequence, last.sequence);
});
