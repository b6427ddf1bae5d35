/**
 * What the PostgreSQL store promises beyond the conformance suite: group commit keeps batches
 * independent, appends made elsewhere reach `onAppend` (by NOTIFY, by the safety poll, and after the
 * LISTEN connection was lost), migrations survive instances starting together, bodies come back byte
 * for byte, and an unreachable server is a retryable UnavailableError.
 */
import assert from 'node:assert/strict';
import { afterEach, beforeEach, describe, it } from 'node:test';
import pg from 'pg';
import { ConflictError, NotFoundError, UnavailableError } from '../../src/core/errors.js';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres.js';
import { POSTGRES_URL, dropSchema, freshSchema, skipUnlessPostgres } from '../multi-instance/postgres-env.js';
import { events, header } from './conformance.js';

const skip = await skipUnlessPostgres();

describe('PostgresStore', { skip }, () => {
  let schema: string;
  const opened: PostgresStore[] = [];
  const open = async (options: PostgresStoreOptions = {}) => {
    const store = await PostgresStore.open(POSTGRES_URL, { schema, poolSize: 3, ...options });
    opened.push(store);
    return store;
  };

  beforeEach(() => {
    schema = freshSchema();
  });
  afterEach(async () => {
    await Promise.all(opened.splice(0).map((store) => store.close()));
    await dropSchema(schema);
  });

  it('commits batches queued together in one flush, refusing only the bad ones', async () => {
    const store = await open();
    for (const id of ['a', 'b', 'c', 'd']) await store.createMission({ header: header(id) });
    await store.append({ mission_id: 'c', expected_sequence: 0, events: events(1, 1), audit: [] });
    // Same turn of the event loop: one transaction. 'c' reuses a taken id, 'd' is stale, 'ghost' is unknown.
    const results = await Promise.allSettled([
      store.append({ mission_id: 'a', expected_sequence: 0, events: events(1, 3), audit: [] }),
      store.append({ mission_id: 'c', expected_sequence: 1, events: [{ ...events(2, 1)[0]!, event_id: 'e-1' }], audit: [] }),
      store.append({ mission_id: 'd', expected_sequence: 5, events: events(6, 1), audit: [] }),
      store.append({ mission_id: 'ghost', expected_sequence: 0, events: events(1, 1), audit: [] }),
      store.append({ mission_id: 'b', expected_sequence: 0, events: events(1, 2), audit: [] }),
    ]);
    assert.deepEqual(
      results.map((r) => r.status),
      ['fulfilled', 'rejected', 'rejected', 'rejected', 'fulfilled'],
    );
    const reason = (i: number) => (results[i] as PromiseRejectedResult).reason;
    assert.ok(reason(1) instanceof ConflictError && reason(1).details.reason === 'duplicate_id' && reason(1).details.event_id === 'e-1');
    assert.ok(reason(2) instanceof ConflictError && reason(2).details.reason === 'sequence' && reason(2).details.actual === 0);
    assert.ok(reason(3) instanceof NotFoundError);
    assert.deepEqual(
      (await store.listMissions()).map((m) => [m.mission_id, m.last_sequence]),
      [
        ['a', 3],
        ['b', 2],
        ['c', 1],
        ['d', 0],
      ],
    );
    assert.deepEqual(await store.readEvents('a', 1, 10), events(1, 3));
  });

  it('returns every event body byte for byte', async () => {
    const store = await open();
    await store.createMission({ header: header('m') });
    const bodies = [
      '{"z":1,"a":2}',
      '{ "spaced" :  true ,\n\t"tab": "\\t" }',
      JSON.stringify({ text: 'quotes " and \\ backslashes, \'single\', é, 😀, \u0001, \u2028' }),
      JSON.stringify({ big: 'x'.repeat(100_000) }),
    ];
    const stored = bodies.map((body, i) => ({ sequence: i + 1, event_type: 'message', event_id: `b${i}`, body }));
    await store.append({ mission_id: 'm', expected_sequence: 0, events: stored, audit: [] });
    assert.deepEqual((await store.readEvents('m', 1, 10)).map((e) => e.body), bodies);
    assert.equal((await store.getEvent('m', 'b2'))!.body, bodies[2]);
  });

  it('tells another instance about appends by NOTIFY', async () => {
    const writer = await open();
    const reader = await open({ pollIntervalMs: 3_600_000 });
    await writer.createMission({ header: header('m') });
    const told = waitFor(reader, 'm', 3);
    await writer.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 3), audit: [] });
    await told;
  });

  it('finds appends whose notification never came by polling the missions it touched', async () => {
    const store = await open({ pollIntervalMs: 100 });
    await store.createMission({ header: header('m') });
    await store.getMission('m');
    const told = waitFor(store, 'm', 1);
    // Written behind the store's back: no NOTIFY is sent.
    await sql(`UPDATE "${schema}".missions SET last_sequence = 1 WHERE mission_id = 'm';
               INSERT INTO "${schema}".events VALUES ('m', 1, 'message', 'x', '{}')`);
    await told;
  });

  it('reconnects its LISTEN connection and then tells listeners where every mission is', async () => {
    const writer = await open();
    const reader = await open({ pollIntervalMs: 3_600_000 });
    await writer.createMission({ header: header('m') });
    await reader.getMission('m');
    await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'missionbus-listen:${schema}'`);
    // Appended while the reader cannot hear: it must learn of it once it is listening again.
    await writer.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 2), audit: [] });
    await waitFor(reader, 'm', 2, 10_000);
    const told = waitFor(reader, 'm', 3);
    await writer.append({ mission_id: 'm', expected_sequence: 2, events: events(3, 1), audit: [] });
    await told;
  });

  it('applies migrations once when several instances start together', async () => {
    const stores = await Promise.all(Array.from({ length: 5 }, () => open({ poolSize: 1 })));
    assert.equal(stores.length, 5);
    const { rows } = await sql(`SELECT version FROM "${schema}".schema_migrations ORDER BY version`);
    assert.deepEqual(
      rows.map((row) => row.version),
      [1],
    );
  });

  it('refuses a newer schema version than it knows, naming the fix', async () => {
    await (await open()).close();
    await sql(`INSERT INTO "${schema}".schema_migrations (version) VALUES (99)`);
    await assert.rejects(open(), (error: unknown) => error instanceof UnavailableError && /upgrade missionbus/.test(error.message));
  });

  it('reports an unreachable server as a retryable UnavailableError', async () => {
    const url = 'postgres://postgres@127.0.0.1:1/test';
    await assert.rejects(
      PostgresStore.open(url, { schema, connectTimeoutMs: 1000 }),
      (error: unknown) => error instanceof UnavailableError && /retryable/.test(error.message) && !/password/.test(error.message),
    );
  });

  it('recovers when its connections are killed under it', async () => {
    const store = await open({ readRetryMs: 0 });
    await store.createMission({ header: header('m') });
    await store.append({ mission_id: 'm', expected_sequence: 0, events: events(1, 1), audit: [] });
    await sql(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'missionbus:${schema}'`);
    let at = 1;
    for (let attempt = 0; attempt < 3; attempt++) {
      try {
        await store.append({ mission_id: 'm', expected_sequence: at, events: events(at + 1, 1), audit: [] });
        at++;
      } catch (error) {
        assert.ok(error instanceof UnavailableError, `a killed connection must surface as UnavailableError, not ${String(error)}`);
      }
    }
    assert.ok(at >= 2, 'the store must recover on fresh connections');
    assert.equal((await store.getMission('m'))!.last_sequence, at);
  });

  it('makes audit records visible in id order per mission, so a reader tailing by id misses none', async () => {
    const store = await open();
    await store.createMission({ header: header('tailed') });
    const record = (target: string) => ({ mission_id: 'tailed', participant: 'ezra', role: 'read' as const, action: 'read' as const, outcome: 'allowed' as const, reason: null, target, timestamp: '2026-11-26T16:00:00.000Z' });
    // Another instance's append, caught between taking the mission's row and committing: it holds the
    // row lock and already drew its audit id, as the append statement does.
    const other = new pg.Client({ connectionString: POSTGRES_URL });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query(`UPDATE ${schema}.missions SET last_sequence = last_sequence WHERE mission_id = 'tailed'`);
      const held = await other.query<{ audit_id: string }>(`INSERT INTO ${schema}.audit (mission_id, records) VALUES ('tailed', $1) RETURNING audit_id`, [JSON.stringify([record('in flight')])]);
      // This instance records a decision meanwhile; the tailing reader reads.
      const recorded = store.append({ mission_id: 'tailed', expected_sequence: 0, events: [], audit: [record('later')] });
      await new Promise((resolve) => setTimeout(resolve, 300));
      const seen = (await store.readAudit('tailed', 0, 100)).map((r) => r.audit_id);
      await other.query('COMMIT');
      await recorded;
      for (let after = seen.at(-1) ?? 0; ; ) {
        const page = await store.readAudit('tailed', after, 100);
        if (page.length === 0) break;
        seen.push(...page.map((r) => r.audit_id));
        after = page.at(-1)!.audit_id;
      }
      const all = (await store.readAudit('tailed', 0, 100)).map((r) => r.audit_id);
      assert.ok(all.length === 2 && Number(held.rows[0]!.audit_id) > 0);
      assert.deepEqual(seen, all, 'the tail saw every record, in id order');
    } finally {
      await other.query('ROLLBACK').catch(() => undefined);
      await other.end();
    }
  });

  it('rejects schema names it would have to quote', async () => {
    await assert.rejects(PostgresStore.open(POSTGRES_URL, { schema: 'Robert"); DROP' }), UnavailableError);
  });
});

function waitFor(store: PostgresStore, missionId: string, lastSequence: number, timeoutMs = 3000): Promise<void> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`no notice that mission '${missionId}' reached ${lastSequence} within ${timeoutMs} ms`));
    }, timeoutMs);
    const stop = store.onAppend((id, last) => {
      if (id !== missionId || last < lastSequence) return;
      clearTimeout(timer);
      stop();
      resolve();
    });
  });
}

async function sql(text: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const result = await client.query(text);
    return Array.isArray(result) ? (result.at(-1) as pg.QueryResult) : result;
  } finally {
    await client.end();
  }
}
