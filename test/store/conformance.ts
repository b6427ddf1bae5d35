/**
 * The store conformance suite: the same tests, unchanged, against every EventStore implementation.
 * A store passes when it behaves like the memory reference store in every case below.
 */
import assert from 'node:assert/strict';
import { describe, it, beforeEach, afterEach } from 'node:test';
import { ConflictError, InvalidInputError, NotFoundError } from '../../src/core/errors.js';
import type { AuditRecord } from '../../src/core/events.js';
import type { MissionHeader } from '../../src/core/mission-state.js';
import { defaultProfiles } from '../../src/core/profiles.js';
import type { EventStore, StoredEvent } from '../../src/store/contract.js';

export interface StoreHarness {
  store: EventStore;
  /** Closes the store and opens a new one on the same data, when the store is durable. */
  reopen?: () => Promise<EventStore>;
  cleanup: () => Promise<void>;
}

export function header(missionId: string): MissionHeader {
  return {
    mission_id: missionId,
    title: `title of ${missionId}`,
    config: defaultProfiles(),
    created_at: '2026-11-26T12:00:00.000Z',
    founders: { timmy: { name: 'timmy', role: 'lead', metadata: {} } },
  };
}

export function events(from: number, count: number, prefix = 'e'): StoredEvent[] {
  return Array.from({ length: count }, (_, i) => {
    const sequence = from + i;
    const id = `${prefix}-${sequence}`;
    const body = { event_type: 'message', sender: 'timmy', topic: 't', payload: { n: sequence }, sequence, timestamp: 'x', message_id: id };
    return { sequence, event_type: 'message', event_id: id, body: JSON.stringify(body) };
  });
}

function audit(missionId: string, outcome: 'allowed' | 'denied' = 'allowed'): AuditRecord {
  return { mission_id: missionId, participant: 'timmy', role: 'lead', action: 'publish', outcome, reason: null, target: 't', timestamp: 'x' };
}

async function allEvents(store: EventStore, missionId: string): Promise<StoredEvent[]> {
  const out: StoredEvent[] = [];
  for await (const event of store.iterateEvents(missionId, 1, 7)) out.push(event);
  return out;
}

export interface ConformanceOptions {
  /** Durable stores also prove that a reopened store has exactly the state it had. */
  durable: boolean;
}

export function runStoreConformance(name: string, open: () => Promise<StoreHarness>, options: ConformanceOptions): void {
  describe(`EventStore conformance: ${name}`, () => {
    let harness: StoreHarness;
    let store: EventStore;
    beforeEach(async () => {
      harness = await open();
      store = harness.store;
    });
    afterEach(async () => {
      await harness.cleanup();
    });

    it('creates a mission once and reads its header back', async () => {
      await store.createMission({ header: header('m1') });
      const record = await store.getMission('m1');
      assert.deepEqual(record, { header: header('m1'), last_sequence: 0 });
      await assert.rejects(store.createMission({ header: header('m1') }), ConflictError);
      assert.equal(await store.getMission('nope'), undefined);
    });

    it('lists missions with their last sequence', async () => {
      await store.createMission({ header: header('b') });
      await store.createMission({ header: header('a') });
      await store.append({ mission_id: 'b', expected_sequence: 0, events: events(1, 3), audit: [] });
      const list = await store.listMissions();
      assert.deepEqual(
        list.map((m) => [m.mission_id, m.last_sequence, m.title]),
        [
          ['a', 0, 'title of a'],
          ['b', 3, 'title of b'],
        ],
      );
    });

    it('appends contiguous batches and reads them from any sequence', async () => {
      await store.createMission({ header: header('m') });
      await store.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 5), audit: [] });
      await store.append({ mission_id: 'm', expected_sequence: 5, events: events(6, 5), audit: [] });
      assert.deepEqual(await store.readEvents('m', 1, 100), events(1, 10));
      assert.deepEqual(await store.readEvents('m', 4, 3), events(4, 3));
      assert.deepEqual(await store.readEvents('m', 11, 10), []);
      assert.deepEqual(await allEvents(store, 'm'), events(1, 10));
      assert.equal((await store.getMission('m'))!.last_sequence, 10);
    });

    it('looks events up by id', async () => {
      await store.createMission({ header: header('m') });
      await store.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 3), audit: [] });
      assert.deepEqual(await store.getEvent('m', 'e-2'), events(2, 1)[0]);
      assert.equal(await store.getEvent('m', 'missing'), undefined);
      assert.equal(await store.getEvent('other', 'e-2'), undefined);
      const found = await store.getEvents('m', ['e-3', 'missing', 'e-1']);
      assert.deepEqual(found.sort((a, b) => a.sequence - b.sequence), [...events(1, 1), ...events(3, 1)]);
      assert.deepEqual(await store.getEvents('m', []), []);
      assert.deepEqual(await store.getEvents('other', ['e-1']), []);
    });

    it('refuses a stale expected sequence and writes nothing', async () => {
      await store.createMission({ header: header('m') });
      await store.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 2), audit: [] });
      await assert.rejects(
        store.append({ mission_id: 'm', expected_sequence: 1, events: events(2, 1, 'x'), audit: [audit('m')] }),
        (error: unknown) => error instanceof ConflictError && error.details.reason === 'sequence',
      );
      assert.deepEqual(await store.readEvents('m', 1, 10), events(1, 2));
      assert.deepEqual(await store.readAudit('m', 0, 10), []);
    });

    it('refuses a batch that is not contiguous and writes nothing', async () => {
      await store.createMission({ header: header('m') });
      const gap = [...events(1, 1), ...events(3, 1)];
      await assert.rejects(store.append({ mission_id: 'm', expected_sequence: 0, events: gap, audit: [] }), InvalidInputError);
      assert.deepEqual(await store.readEvents('m', 1, 10), []);
      assert.equal((await store.getMission('m'))!.last_sequence, 0);
    });

    it('refuses a duplicate event id atomically', async () => {
      await store.createMission({ header: header('m') });
      await store.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 1), audit: [] });
      const batch = [...events(2, 1), { ...events(3, 1)[0]!, event_id: 'e-1' }];
      await assert.rejects(
        store.append({ mission_id: 'm', expected_sequence: 1, events: batch, audit: [audit('m')], credentials: [cred('h1', 'm')] }),
        (error: unknown) => error instanceof ConflictError && error.details.reason === 'duplicate_id',
      );
      assert.deepEqual(await store.readEvents('m', 1, 10), events(1, 1));
      assert.deepEqual(await store.readAudit('m', 0, 10), []);
      assert.equal(await store.findCredential('h1'), undefined);
    });

    it('refuses appends to an unknown mission', async () => {
      await assert.rejects(store.append({ mission_id: 'ghost', expected_sequence: 0, events: events(1, 1), audit: [] }), NotFoundError);
      await assert.rejects(store.readEvents('ghost', 1, 10), NotFoundError);
    });

    it('keeps sequences contiguous when many writers race on one mission', async () => {
      await store.createMission({ header: header('m') });
      // 20 writers all believe the mission is at 0: exactly one may win; the rest must retry from the truth.
      const results = await Promise.allSettled(
        Array.from({ length: 20 }, (_, w) => store.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 3, `w${w}`), audit: [] })),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(r.reason instanceof ConflictError);
      let written = 3;
      await Promise.all(
        Array.from({ length: 10 }, async (_, w) => {
          for (;;) {
            const at = (await store.getMission('m'))!.last_sequence;
            try {
              await store.append({ mission_id: 'm', expected_sequence: at, events: events(at + 1, 2, `r${w}`), audit: [] });
              written += 2;
              return;
            } catch (error) {
              if (!(error instanceof ConflictError)) throw error;
            }
          }
        }),
      );
      const stream = await allEvents(store, 'm');
      assert.equal(stream.length, written);
      stream.forEach((event, i) => assert.equal(event.sequence, i + 1));
    });

    it('keeps concurrent appends to different missions independent', async () => {
      await store.createMission({ header: header('a') });
      await store.createMission({ header: header('b') });
      const [ok, stale] = await Promise.allSettled([
        store.append({ mission_id: 'a', expected_sequence: 0, events: events(1, 2), audit: [] }),
        store.append({ mission_id: 'b', expected_sequence: 7, events: events(8, 1), audit: [] }),
      ]);
      assert.equal(ok.status, 'fulfilled');
      assert.equal(stale.status, 'rejected');
      assert.equal((await store.getMission('a'))!.last_sequence, 2);
      assert.equal((await store.getMission('b'))!.last_sequence, 0);
    });

    it('records audit entries, also in batches without events', async () => {
      await store.createMission({ header: header('m') });
      await store.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 1), audit: [audit('m')] });
      await store.append({ mission_id: 'm', expected_sequence: 0, events: [], audit: [audit('m', 'denied'), audit('m')] });
      const log = await store.readAudit('m', 0, 10);
      assert.deepEqual(
        log.map((r) => r.outcome),
        ['allowed', 'denied', 'allowed'],
      );
      assert.ok(log[0]!.audit_id < log[1]!.audit_id && log[1]!.audit_id < log[2]!.audit_id);
      assert.deepEqual(await store.readAudit('m', log[0]!.audit_id, 1), [log[1]]);
      assert.deepEqual(await store.readAudit('m', log[1]!.audit_id, 5), [log[2]], 'paging from inside a batch');
      assert.deepEqual(await store.readAudit('m', 0, 2), [log[0], log[1]], 'a limit that ends inside a batch');
      assert.deepEqual(await store.readAudit('m', log[2]!.audit_id, 5), []);
      const { audit_id: _, ...record } = log[1]!;
      assert.deepEqual(record, audit('m', 'denied'));
    });

    it('stores credentials with the batch and on their own', async () => {
      await store.createMission({ header: header('m'), credentials: [cred('lead-hash', 'm')] });
      await store.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 1), audit: [], credentials: [cred('h2', 'm')] });
      await store.saveCredentials([cred('h3', 'm')]);
      assert.deepEqual(await store.findCredential('lead-hash'), cred('lead-hash', 'm'));
      assert.deepEqual(await store.findCredential('h2'), cred('h2', 'm'));
      assert.deepEqual(await store.findCredential('h3'), cred('h3', 'm'));
      assert.equal(await store.findCredential('nope'), undefined);
    });

    it('creates a mission with imported events', async () => {
      await store.createMission({ header: header('imp'), events: events(1, 4) });
      assert.equal((await store.getMission('imp'))!.last_sequence, 4);
      assert.deepEqual(await store.readEvents('imp', 1, 10), events(1, 4));
      await assert.rejects(store.createMission({ header: header('bad'), events: events(2, 2) }), InvalidInputError);
      assert.equal(await store.getMission('bad'), undefined);
    });

    it('stores blobs by content hash, idempotently, readable only through the missions that put them', async () => {
      await store.createMission({ header: header('a') });
      await store.createMission({ header: header('b') });
      const bytes = new TextEncoder().encode('hello');
      await store.putBlobs('a', [{ sha256: 'abc', bytes }]);
      await store.putBlobs('a', [{ sha256: 'abc', bytes }]);
      assert.deepEqual(await store.getBlob('a', 'abc'), bytes);
      assert.equal(await store.getBlob('a', 'missing'), undefined);
      assert.equal(await store.getBlob('b', 'abc'), undefined, 'knowing the hash gives nothing of another mission');
      await store.putBlobs('b', [{ sha256: 'abc', bytes }]);
      assert.deepEqual(await store.getBlob('b', 'abc'), bytes);
      await assert.rejects(store.putBlobs('ghost', [{ sha256: 'abc', bytes }]), NotFoundError);
      assert.deepEqual(await store.missingBlobs('a', ['abc', 'def']), ['def']);
      assert.deepEqual(await store.missingBlobs('c', ['abc']), ['abc']);
    });

    it('keeps the first value of a setting', async () => {
      assert.equal(await store.getSetting('k'), undefined);
      assert.equal(await store.putSettingIfAbsent('k', 'one'), 'one');
      assert.equal(await store.putSettingIfAbsent('k', 'two'), 'one');
      assert.equal(await store.getSetting('k'), 'one');
    });

    it('tells listeners about appends', async () => {
      await store.createMission({ header: header('m') });
      const seen: Array<[string, number]> = [];
      const stop = store.onAppend((id, last) => seen.push([id, last]));
      await store.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 3), audit: [] });
      stop();
      await store.append({ mission_id: 'm', expected_sequence: 3, events: events(4, 1), audit: [] });
      assert.ok(seen.some(([id, last]) => id === 'm' && last === 3));
      assert.ok(!seen.some(([, last]) => last === 4));
    });

    if (!options.durable) return;
    it('has exactly the same state after reopening', async () => {
      assert.ok(harness.reopen, `${name} is declared durable but its harness cannot reopen it`);
      await store.createMission({ header: header('m'), credentials: [cred('h', 'm')] });
      await store.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 25), audit: [audit('m')] });
      await store.putBlobs('m', [{ sha256: 'abc', bytes: new Uint8Array([1, 2, 3]) }]);
      const before = { mission: await store.getMission('m'), events: await allEvents(store, 'm'), audit: await store.readAudit('m', 0, 100) };
      store = await harness.reopen!();
      const after = { mission: await store.getMission('m'), events: await allEvents(store, 'm'), audit: await store.readAudit('m', 0, 100) };
      assert.deepEqual(after, before);
      assert.deepEqual(await store.findCredential('h'), cred('h', 'm'));
      assert.deepEqual(await store.getBlob('m', 'abc'), new Uint8Array([1, 2, 3]));
      await store.append({ mission_id: 'm', expected_sequence: 25, events: events(26, 1), audit: [] });
    });
  });
}

function cred(hash: string, missionId: string) {
  return { token_hash: hash, mission_id: missionId, participant: 'timmy', created_at: '2026-11-26T12:00:00.000Z' };
}
