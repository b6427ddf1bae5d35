/**
 * The stores the crash tests run against, and how the parent opens one after the server process died:
 * a SQLite file (the killed process's exclusive lock goes with it) or a fresh PostgreSQL schema.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import type { EventStore, StoredEvent } from '../../src/store/contract.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { POSTGRES_URL, dropSchema, freshSchema } from '../multi-instance/postgres-env.js';
import type { StoreSpec } from './serve-child.js';

export interface StoreUnderTest {
  spec: StoreSpec;
  /** Opens the store in this process (the server child must be gone, or it must be PostgreSQL). */
  open(): Promise<EventStore>;
  /**
   * Waits until nothing the killed server started can still commit: for PostgreSQL, until its backends
   * have noticed the dead connections and ended (a statement that was running finishes first).
   */
  settle(): Promise<void>;
  cleanup(): Promise<void>;
}

export function sqliteUnderTest(): StoreUnderTest {
  const dir = mkdtempSync(join(tmpdir(), 'mb-crash-'));
  const path = join(dir, 'bus.db');
  return {
    spec: { store: 'sqlite', path },
    open: async () => new SqliteStore(path),
    settle: async () => undefined,
    cleanup: async () => rmSync(dir, { recursive: true, force: true }),
  };
}

export function postgresUnderTest(): StoreUnderTest {
  const schema = freshSchema('missionbus_crash');
  return {
    spec: { store: 'postgres', url: POSTGRES_URL, schema },
    open: () => PostgresStore.open(POSTGRES_URL, { schema, poolSize: 2 }),
    settle: () => waitForBackendsGone(schema),
    cleanup: () => dropSchema(schema),
  };
}

async function waitForBackendsGone(schema: string, timeoutMs = 15_000): Promise<void> {
  const client = new pg.Client({ connectionString: POSTGRES_URL });
  await client.connect();
  try {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await client.query<{ n: string }>(
        'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = ANY($1::text[])',
        [[`missionbus:${schema}`, `missionbus-listen:${schema}`]],
      );
      if (Number(rows[0]!.n) === 0) return;
      if (Date.now() > deadline) throw new Error(`backends of the killed server (schema ${schema}) still running after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await client.end();
  }
}

/** Every event of a mission, read straight from the store. */
export async function readAll(store: EventStore, missionId: string): Promise<StoredEvent[]> {
  const events: StoredEvent[] = [];
  for await (const event of store.iterateEvents(missionId, 1, 5000)) events.push(event);
  return events;
}

/** Asserts the stream is 1..n without gap or duplicate and that the mission row agrees; returns n. */
export async function assertContiguous(store: EventStore, missionId: string, events: StoredEvent[]): Promise<number> {
  events.forEach((event, index) => {
    if (event.sequence !== index + 1) throw new Error(`mission '${missionId}': event at position ${index} has sequence ${event.sequence}, not ${index + 1}`);
  });
  const record = await store.getMission(missionId);
  if (record?.last_sequence !== events.length) {
    throw new Error(`mission '${missionId}': last_sequence is ${record?.last_sequence}, but the stream holds ${events.length} events`);
  }
  return events.length;
}
