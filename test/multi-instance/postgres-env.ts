/**
 * Where the PostgreSQL tests find their database, and what they do when it is not there: skip with the
 * reason printed, except on CI (`CI=true`), where a missing database is a failure.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { PostgresStore } from '../../src/store/postgres.js';
import type { StoredEvent } from '../../src/store/contract.js';

/** Override with `MISSIONBUS_TEST_POSTGRES_URL`. */
export const POSTGRES_URL = process.env.MISSIONBUS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';

/** undefined when PostgreSQL answers; otherwise why the tests cannot run. */
export async function postgresUnavailableReason(url = POSTGRES_URL): Promise<string | undefined> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  client.on('error', () => undefined);
  try {
    await client.connect();
    await client.query('SELECT 1');
    return undefined;
  } catch (error) {
    return `PostgreSQL at ${url} is unreachable (${(error as Error).message}); set MISSIONBUS_TEST_POSTGRES_URL or start it`;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * The `skip` option for a PostgreSQL test: false when the database answers; the reason (printed) when
 * not. On CI a missing database throws, so the run fails instead of passing vacuously.
 */
export async function skipUnlessPostgres(): Promise<false | string> {
  const reason = await postgresUnavailableReason();
  if (reason === undefined) return false;
  if (process.env.CI === 'true') throw new Error(`${reason} (CI=true: the PostgreSQL tests must run)`);
  console.log(`# skipping PostgreSQL tests: ${reason}`);
  return reason;
}

/** A schema name no other run uses. */
export function freshSchema(prefix = 'missionbus_test'): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export function dropSchema(schema: string): Promise<void> {
  return PostgresStore.dropSchema(POSTGRES_URL, schema);
}

/** The whole stream of a mission, read through a store of its own. */
export async function readStream(schema: string, missionId: string): Promise<StoredEvent[]> {
  const store = await PostgresStore.open(POSTGRES_URL, { schema, poolSize: 1 });
  try {
    const events: StoredEvent[] = [];
    for await (const event of store.iterateEvents(missionId)) events.push(event);
    return events;
  } finally {
    await store.close();
  }
}
