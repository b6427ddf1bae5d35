/**
 * The shared store: PostgreSQL through a `pg.Pool`, so several missionbus instances can serve the same
 * missions. Every instance decides against its own copy of a mission's state; the mission row's
 * `last_sequence` is the arbiter (optimistic concurrency, see {@link AppendBatch.expected_sequence}).
 *
 * A batch is one statement, all or nothing: claim the sequence range (`UPDATE missions ... WHERE
 * last_sequence = expected`, whose row lock serializes writers across instances), then insert the events
 * with one multi-row INSERT and the batch's audit records as one row, and notify. A stale or unknown
 * mission is an answer (nothing claimed), not an SQL error.
 *
 * Group commit: `append` queues its batch; everything queued while earlier transactions were in flight
 * (up to `commitConcurrency` of them) is written in ONE transaction. Since refusals are answers, batches
 * share it without savepoints; should a statement fail (a taken event id), the transaction is rolled back
 * and written again with a savepoint per batch, so only that batch is refused. A lone batch is a single
 * self-committing statement. Callers are resolved only after COMMIT returned.
 *
 * Appends made elsewhere reach `onAppend` listeners by LISTEN/NOTIFY: each batch's statement notifies
 * `<mission_id>:<last_sequence>` on `<schema>_appends`, delivered only if its transaction commits. A cheap
 * poll of the missions this store has touched backs it up, so a lost notice delays a catch-up by one poll
 * interval and never loses an event.
 *
 * Losing the connection (PostgreSQL restarting, network) surfaces as `UnavailableError`, which is
 * retryable: the pool reconnects on the next call and the listener reconnects with backoff, then tells
 * listeners where every mission it knows is, so they catch up on what they missed.
 */
import pg from 'pg';
import { ConflictError, MissionBusError, UnavailableError } from '../core/errors.js';
import type { AuditRecord } from '../core/events.js';
import type { MissionHeader } from '../core/mission-state.js';
import {
  EventStore,
  type AppendBatch,
  type Credential,
  type MissionRecord,
  type MissionSummary,
  type NewMission,
  type StoredAudit,
  type StoredEvent,
} from './contract.js';
import { assertContiguous, duplicateEventId, missionExists, missionNotFound, sequenceConflict } from './batch-checks.js';

export const DEFAULT_POSTGRES_SCHEMA = 'missionbus';

export interface PostgresStoreOptions {
  /**
   * The schema holding missionbus's tables, created on open. Instances sharing missions must use the same
   * schema; appends are announced on the channel `<schema>_appends`. Lowercase letters, digits and `_`,
   * at most 40 characters. Default `'missionbus'`.
   */
  schema?: string;
  /** Connections in the pool (the LISTEN connection is extra). Default 10. */
  poolSize?: number;
  /**
   * Group-commit transactions in flight at once; each takes a pool connection. Batches arriving while
   * all are busy wait and go into the next transaction together. Default 2.
   */
  commitConcurrency?: number;
  /** How often, in ms, to check the touched missions for appends whose notification was missed. Default 1000. */
  pollIntervalMs?: number;
  /**
   * Reads are idempotent, so on a lost connection they are retried on a fresh one for up to this many
   * ms before failing with `UnavailableError`. Appends are never retried here. Default 5000.
   */
  readRetryMs?: number;
  /** Time allowed to establish a connection, in ms. Default 5000. */
  connectTimeoutMs?: number;
}

/** Ordered migrations: the index + 1 is the schema version, recorded in `<schema>.schema_migrations`. */
const MIGRATIONS: Array<(s: string) => string> = [
  (s) => `
   CREATE TABLE ${s}.missions (
     mission_id TEXT PRIMARY KEY,
     header TEXT NOT NULL,
     title TEXT NOT NULL,
     created_at TEXT NOT NULL,
     last_sequence BIGINT NOT NULL DEFAULT 0
   );
   -- body is TEXT, not jsonb: the event's JSON must come back byte for byte.
   CREATE TABLE ${s}.events (
     mission_id TEXT NOT NULL,
     sequence BIGINT NOT NULL,
     event_type TEXT NOT NULL,
     event_id TEXT NOT NULL,
     body TEXT NOT NULL,
     PRIMARY KEY (mission_id, sequence),
     UNIQUE (mission_id, event_id)
   );
   -- One row per appended batch: records is a JSON array of its AuditRecords, and the record at index i
   -- has audit_id = row audit_id * AUDIT_STRIDE + i. Half the rows of one-per-record for the same log.
   CREATE TABLE ${s}.audit (
     audit_id BIGSERIAL PRIMARY KEY,
     mission_id TEXT NOT NULL,
     records TEXT NOT NULL
   );
   CREATE INDEX audit_by_mission ON ${s}.audit (mission_id, audit_id);
   CREATE TABLE ${s}.credentials (
     token_hash TEXT PRIMARY KEY,
     mission_id TEXT NOT NULL,
     participant TEXT NOT NULL,
     created_at TEXT NOT NULL
   );
   CREATE TABLE ${s}.blobs (sha256 TEXT PRIMARY KEY, bytes BYTEA NOT NULL);
   CREATE TABLE ${s}.blob_refs (mission_id TEXT NOT NULL, sha256 TEXT NOT NULL, PRIMARY KEY (mission_id, sha256));
   CREATE TABLE ${s}.settings (key TEXT PRIMARY KEY, value TEXT NOT NULL);`,
];

/** A flush takes at most this many batches, or this many events (but always at least one batch). */
const MAX_FLUSH_BATCHES = 256;
const MAX_FLUSH_EVENTS = 16_384;
/**
 * Audit records of one batch share an audit row; a record's id is its row's id times this plus its index.
 * Ids stay increasing and below 2^53 for 2^33 rows.
 */
const AUDIT_STRIDE = 2 ** 20;
const LISTEN_BACKOFF_MS = { first: 100, max: 5000 };
const INT8_OID = 20;
/** BIGINT columns hold sequences and audit ids, which stay far below 2^53: read them as numbers. */
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === INT8_OID ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

/** What became of one batch in a flush: written (with the mission's new last sequence, if it had events) or refused. */
type Outcome = { last: number | undefined } | { error: unknown };

interface Pending {
  batch: AppendBatch;
  resolve: () => void;
  reject: (error: unknown) => void;
}

type Queryable = pg.Pool | pg.PoolClient;

export class PostgresStore extends EventStore {
  readonly schema: string;
  /** host:port/database, for messages; never the password. */
  readonly target: string;
  private readonly pool: pg.Pool;
  private readonly sql: ReturnType<typeof statements>;
  private readonly channel: string;
  private readonly commitConcurrency: number;
  private readonly readRetryMs: number;
  private readonly connectTimeoutMs: number;
  private queue: Pending[] = [];
  private flushing = 0;
  private flushScheduled = false;
  private idleWaiters: Array<() => void> = [];
  private closed = false;
  /** Last sequence known per mission this store has touched: what the safety poll compares against. */
  private readonly known = new Map<string, number>();
  private listener: pg.Client | undefined;
  private listenTimer: NodeJS.Timeout | undefined;
  private listenBackoff = LISTEN_BACKOFF_MS.first;
  private readonly pollTimer: NodeJS.Timeout;
  private polling = false;

  /** Connects, applies pending migrations (safe when several instances start at once) and starts listening. */
  static async open(connectionString: string, options: PostgresStoreOptions = {}): Promise<PostgresStore> {
    const store = new PostgresStore(connectionString, options);
    try {
      await store.migrate();
      await store.listen();
    } catch (error) {
      await store.close().catch(() => undefined);
      throw error instanceof MissionBusError ? error : unavailable(store.target, 'opening the store', error);
    }
    return store;
  }

  /** Drops `schema` and everything in it (tests, resets). */
  static async dropSchema(connectionString: string, schema: string): Promise<void> {
    const client = new pg.Client({ connectionString });
    await client.connect();
    try {
      await client.query(`DROP SCHEMA IF EXISTS ${ident(checkSchema(schema))} CASCADE`);
    } finally {
      await client.end();
    }
  }

  private constructor(
    private readonly connectionString: string,
    options: PostgresStoreOptions,
  ) {
    super();
    this.schema = checkSchema(options.schema ?? DEFAULT_POSTGRES_SCHEMA);
    this.target = describeTarget(connectionString);
    this.channel = `${this.schema}_appends`;
    this.commitConcurrency = Math.max(1, options.commitConcurrency ?? 2);
    this.readRetryMs = options.readRetryMs ?? 5000;
    this.connectTimeoutMs = options.connectTimeoutMs ?? 5000;
    this.pool = new pg.Pool({
      connectionString,
      max: options.poolSize ?? 10,
      connectionTimeoutMillis: this.connectTimeoutMs,
      application_name: `missionbus:${this.schema}`,
      keepAlive: true,
      types,
    });
    // A connection that dies while idle is dropped by the pool; one that dies while checked out fails its
    // query. Either way the error is handled where it surfaces, never as an unhandled 'error' event.
    this.pool.on('error', () => undefined);
    this.pool.on('connect', (client) => client.on('error', () => undefined));
    this.sql = statements(ident(this.schema));
    this.pollTimer = setInterval(() => void this.poll(false), options.pollIntervalMs ?? 1000);
    this.pollTimer.unref();
  }

  private async migrate(): Promise<void> {
    const s = ident(this.schema);
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      // Instances starting together queue here; the first applies the migrations, the others find them done.
      await client.query('SELECT pg_advisory_xact_lock(hashtextextended($1, 0))', [`missionbus:migrate:${this.schema}`]);
      await client.query(`CREATE SCHEMA IF NOT EXISTS ${s}`);
      await client.query(
        `CREATE TABLE IF NOT EXISTS ${s}.schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())`,
      );
      const { rows } = await client.query<{ version: number }>(`SELECT coalesce(max(version), 0) AS version FROM ${s}.schema_migrations`);
      const version = rows[0]!.version;
      if (version > MIGRATIONS.length) {
        throw new UnavailableError(
          `PostgreSQL schema '${this.schema}' at ${this.target} has version ${version}, newer than this missionbus knows (${MIGRATIONS.length}); upgrade missionbus`,
          { schema: this.schema, version },
        );
      }
      for (let v = version + 1; v <= MIGRATIONS.length; v++) {
        await client.query(MIGRATIONS[v - 1]!(s));
        await client.query(`INSERT INTO ${s}.schema_migrations (version) VALUES ($1)`, [v]);
      }
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }

  async createMission({ header, events = [], credentials = [], audit = [] }: NewMission): Promise<void> {
    this.assertOpen();
    assertContiguous(header.mission_id, 0, events);
    assertUniqueIds(header.mission_id, events);
    const client = await this.connect(`creating mission '${header.mission_id}'`);
    let broken: unknown;
    try {
      await client.query('BEGIN');
      const inserted = await client.query(this.sql.insertMission, [
        header.mission_id,
        JSON.stringify(header),
        header.title,
        header.created_at,
        events.length,
      ]);
      if (inserted.rowCount === 0) throw missionExists(header.mission_id);
      await client.query(this.sql.insertEvents, [header.mission_id, 0, ...eventColumns(events)]);
      await client.query(this.sql.insertAudit, [header.mission_id, auditRows(audit)]);
      await client.query(this.sql.upsertCredentials, credentialColumns(credentials));
      await client.query('COMMIT');
      this.see(header.mission_id, events.length);
    } catch (error) {
      if (isConnectionError(error)) broken = error;
      else await client.query('ROLLBACK').catch((e: unknown) => (broken = e));
      if (error instanceof MissionBusError) throw error;
      if (isUniqueViolation(error)) throw missionExists(header.mission_id);
      throw this.failure(error, `creating mission '${header.mission_id}'`);
    } finally {
      client.release(broken !== undefined);
    }
  }

  async getMission(missionId: string): Promise<MissionRecord | undefined> {
    const row = (await this.read(`reading mission '${missionId}'`, (db) => db.query(this.sql.getMission, [missionId]))).rows[0] as
      | { header: string; last_sequence: number }
      | undefined;
    if (!row) return undefined;
    this.see(missionId, row.last_sequence);
    return { header: JSON.parse(row.header) as MissionHeader, last_sequence: row.last_sequence };
  }

  async listMissions(): Promise<MissionSummary[]> {
    return (await this.read('listing missions', (db) => db.query<MissionSummary>(this.sql.listMissions))).rows;
  }

  protected appendBatch(batch: AppendBatch): Promise<void> {
    this.assertOpen();
    // Caller bugs are refused before they cost a round trip or a place in a transaction.
    assertContiguous(batch.mission_id, batch.expected_sequence, batch.events);
    assertUniqueIds(batch.mission_id, batch.events);
    return new Promise((resolve, reject) => {
      this.queue.push({ batch, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        // Let every caller of this turn of the event loop queue up first: that is the group in group commit.
        setImmediate(() => {
          this.flushScheduled = false;
          this.pump();
        });
      }
    });
  }

  /** Starts flushes while there is work and a free slot; the queue grows while all slots are busy. */
  private pump(): void {
    while (this.flushing < this.commitConcurrency && this.queue.length > 0) {
      let events = 0;
      let count = 0;
      while (count < this.queue.length && count < MAX_FLUSH_BATCHES) {
        events += this.queue[count]!.batch.events.length;
        if (count > 0 && events > MAX_FLUSH_EVENTS) break;
        count++;
      }
      this.flushing++;
      void this.flush(this.queue.splice(0, count)).finally(() => {
        this.flushing--;
        this.pump();
        if (this.flushing === 0 && this.queue.length === 0) for (const wake of this.idleWaiters.splice(0)) wake();
      });
    }
  }

  /** Writes `pending` in one transaction and settles each caller only after COMMIT returned. */
  private async flush(pending: Pending[]): Promise<void> {
    // Row locks are taken in mission order in every transaction of every instance: no deadlocks.
    const ordered = pending.length > 1 ? [...pending].sort((a, b) => compare(a.batch.mission_id, b.batch.mission_id)) : pending;
    const what = () => `appending to ${describeMissions(ordered)}`;
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (error) {
      const failure = this.failure(error, what());
      for (const entry of ordered) entry.reject(failure);
      return;
    }
    let outcomes: Outcome[];
    try {
      outcomes = ordered.length === 1 ? [await this.writeAlone(client, ordered[0]!.batch)] : await this.writeTogether(client, ordered);
    } catch (error) {
      let broken = isConnectionError(error);
      if (!broken && ordered.length > 1) await client.query('ROLLBACK').catch(() => (broken = true));
      client.release(broken);
      const failure = this.failure(error, what());
      for (const entry of ordered) entry.reject(failure);
      return;
    }
    client.release();
    ordered.forEach((entry, i) => {
      const outcome = outcomes[i]!;
      if ('error' in outcome) return entry.reject(outcome.error);
      if (outcome.last !== undefined) this.see(entry.batch.mission_id, outcome.last);
      entry.resolve();
    });
  }

  /** A lone batch is one statement, which commits by itself: atomic, and durable when it returns. */
  private async writeAlone(client: pg.PoolClient, batch: AppendBatch): Promise<Outcome> {
    try {
      return { last: await this.writeBatch(client, batch) };
    } catch (error) {
      if (isConnectionError(error)) throw error;
      return { error: refusal(error, batch) };
    }
  }

  /**
   * Several batches in one transaction. A refusal (stale sequence, unknown mission) is an answer, not an
   * SQL error, so batches normally need no savepoint. Only if a statement fails (a taken event id) is the
   * transaction rolled back and written again with a savepoint around each batch, so that batch alone fails.
   */
  private async writeTogether(client: pg.PoolClient, ordered: Pending[]): Promise<Outcome[]> {
    await client.query('BEGIN');
    const outcomes: Outcome[] = [];
    let failed = false;
    for (const { batch } of ordered) {
      try {
        outcomes.push({ last: await this.writeBatch(client, batch) });
      } catch (error) {
        if (error instanceof MissionBusError) {
          outcomes.push({ error });
          continue;
        }
        if (isConnectionError(error)) throw error;
        failed = true;
        break;
      }
    }
    if (!failed) {
      await client.query('COMMIT');
      return outcomes;
    }
    await client.query('ROLLBACK');
    await client.query('BEGIN');
    const isolated: Outcome[] = [];
    for (const { batch } of ordered) {
      await client.query('SAVEPOINT batch');
      try {
        isolated.push({ last: await this.writeBatch(client, batch) });
        await client.query('RELEASE SAVEPOINT batch');
      } catch (error) {
        if (isConnectionError(error)) throw error;
        await client.query('ROLLBACK TO SAVEPOINT batch');
        await client.query('RELEASE SAVEPOINT batch');
        isolated.push({ error: refusal(error, batch) });
      }
    }
    await client.query('COMMIT');
    return isolated;
  }

  /**
   * Writes one batch with one statement; returns the mission's new last sequence, or undefined for an
   * audit-only batch. Throws the typed refusal when the batch was not written, and the SQL error when
   * the statement failed (then the transaction, if any, is aborted).
   */
  private async writeBatch(client: pg.PoolClient, batch: AppendBatch): Promise<number | undefined> {
    const { mission_id: missionId, events } = batch;
    const audit = auditRows(batch.audit);
    const credentials = credentialColumns(batch.credentials ?? []);
    if (events.length === 0) {
      const { rows } = await client.query<{ found: boolean }>({ name: 'mb_record', text: this.sql.record, values: [missionId, audit, ...credentials] });
      if (!rows[0]!.found) throw missionNotFound(missionId);
      return undefined;
    }
    const last = batch.expected_sequence + events.length;
    const { rows } = await client.query<{ claimed: boolean }>({
      name: 'mb_append',
      text: this.sql.append,
      values: [missionId, batch.expected_sequence, last, ...eventColumns(events), audit, ...credentials, this.channel, `${missionId}:${last}`],
    });
    if (rows[0]!.claimed) return last;
    // Nothing was written. Say why from a fresh look (READ COMMITTED: each statement sees the latest commits).
    const current = await client.query<{ last_sequence: number }>(this.sql.lastSequence, [missionId]);
    const actual = current.rows[0]?.last_sequence;
    if (actual === undefined) throw missionNotFound(missionId);
    throw sequenceConflict(batch, actual);
  }

  async readEvents(missionId: string, fromSequence: number, limit: number): Promise<StoredEvent[]> {
    return this.read(`reading events of mission '${missionId}'`, async (db) => {
      const { rows } = await db.query<StoredEvent>({ name: 'mb_read_events', text: this.sql.readEvents, values: [missionId, fromSequence, limit] });
      if (rows.length === 0 && (await db.query(this.sql.lastSequence, [missionId])).rowCount === 0) throw missionNotFound(missionId);
      return rows;
    });
  }

  async getEvents(missionId: string, eventIds: string[]): Promise<StoredEvent[]> {
    if (eventIds.length === 0) return [];
    return this.read(`reading ${eventIds.length} events of mission '${missionId}'`, async (db) => {
      const { rows } = await db.query<StoredEvent>({ name: 'mb_get_events', text: this.sql.getEvents, values: [missionId, eventIds] });
      return rows;
    });
  }

  async getEvent(missionId: string, eventId: string): Promise<StoredEvent | undefined> {
    return this.read(`reading event '${eventId}' of mission '${missionId}'`, async (db) => {
      const { rows } = await db.query<StoredEvent>({ name: 'mb_get_event', text: this.sql.getEvent, values: [missionId, eventId] });
      return rows[0];
    });
  }

  async readAudit(missionId: string, afterId: number, limit: number): Promise<StoredAudit[]> {
    return this.read(`reading the audit log of mission '${missionId}'`, async (db) => {
      // Every row holds at least one record, so limit + 1 rows (the first may be partly read) are enough.
      const firstRow = Math.floor(afterId / AUDIT_STRIDE);
      const { rows } = await db.query<{ audit_id: number; records: string }>(this.sql.readAudit, [missionId, firstRow, limit + 1]);
      if (rows.length === 0 && (await db.query(this.sql.lastSequence, [missionId])).rowCount === 0) throw missionNotFound(missionId);
      const out: StoredAudit[] = [];
      for (const row of rows) {
        (JSON.parse(row.records) as AuditRecord[]).forEach((record, i) => {
          const id = row.audit_id * AUDIT_STRIDE + i;
          if (id > afterId && out.length < limit) out.push({ ...record, audit_id: id });
        });
        if (out.length >= limit) break;
      }
      return out;
    });
  }

  async findCredential(tokenHash: string): Promise<Credential | undefined> {
    return this.read('looking up a credential', async (db) => (await db.query<Credential>(this.sql.findCredential, [tokenHash])).rows[0]);
  }

  async saveCredentials(credentials: Credential[]): Promise<void> {
    await this.write('saving credentials', (db) => db.query(this.sql.upsertCredentials, credentialColumns(credentials)));
  }

  async putBlobs(missionId: string, blobs: Array<{ sha256: string; bytes: Uint8Array }>): Promise<void> {
    if (!(await this.getMission(missionId))) throw missionNotFound(missionId);
    if (blobs.length === 0) return;
    await this.write('storing blobs', (db) =>
      db.query(this.sql.putBlobs, [
        blobs.map((b) => b.sha256),
        blobs.map((b) => Buffer.from(b.bytes.buffer, b.bytes.byteOffset, b.bytes.byteLength)),
        missionId,
      ]),
    );
  }

  async missingBlobs(missionId: string, sha256s: string[]): Promise<string[]> {
    if (sha256s.length === 0) return [];
    const found = await this.read('checking blobs', (db) => db.query<{ sha256: string }>(this.sql.blobRefs, [missionId, sha256s]));
    const present = new Set(found.rows.map((row) => row.sha256));
    return sha256s.filter((sha256) => !present.has(sha256));
  }

  async getBlob(missionId: string, sha256: string): Promise<Uint8Array | undefined> {
    const row = (await this.read(`reading blob ${sha256}`, (db) => db.query<{ bytes: Buffer }>(this.sql.getBlob, [missionId, sha256]))).rows[0];
    return row && new Uint8Array(row.bytes);
  }

  async putSettingIfAbsent(key: string, value: string): Promise<string> {
    // Idempotent, so it may be retried like a read.
    return this.read(`storing setting '${key}'`, async (db) => {
      const inserted = await db.query<{ value: string }>(this.sql.putSetting, [key, value]);
      return inserted.rows[0]?.value ?? (await db.query<{ value: string }>(this.sql.getSetting, [key])).rows[0]!.value;
    });
  }

  async getSetting(key: string): Promise<string | undefined> {
    return this.read(`reading setting '${key}'`, async (db) => (await db.query<{ value: string }>(this.sql.getSetting, [key])).rows[0]?.value);
  }

  /** Commits queued appends, stops listening and closes every connection. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pump();
    if (this.flushing > 0 || this.queue.length > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
    clearInterval(this.pollTimer);
    clearTimeout(this.listenTimer);
    const listener = this.listener;
    this.listener = undefined;
    await listener?.end().catch(() => undefined);
    await this.pool.end();
  }

  // --- notifications -------------------------------------------------------------------------------

  /** Connects the LISTEN client; on loss it reconnects with backoff and then triggers a catch-up. */
  private async listen(): Promise<void> {
    const client = new pg.Client({
      connectionString: this.connectionString,
      connectionTimeoutMillis: this.connectTimeoutMs,
      application_name: `missionbus-listen:${this.schema}`,
      keepAlive: true,
    });
    const lost = () => {
      if (this.listener !== client) return;
      this.listener = undefined;
      void client.end().catch(() => undefined);
      this.scheduleListen();
    };
    client.on('error', lost);
    client.on('end', lost);
    client.on('notification', (message) => this.onNotification(message.payload));
    try {
      await client.connect();
      await client.query(`LISTEN ${ident(this.channel)}`);
    } catch (error) {
      void client.end().catch(() => undefined);
      throw error;
    }
    if (this.closed) {
      await client.end().catch(() => undefined);
      return;
    }
    this.listener = client;
  }

  private scheduleListen(): void {
    if (this.closed || this.listenTimer) return;
    const delay = this.listenBackoff;
    this.listenBackoff = Math.min(this.listenBackoff * 2, LISTEN_BACKOFF_MS.max);
    this.listenTimer = setTimeout(() => {
      this.listenTimer = undefined;
      this.listen().then(
        () => {
          this.listenBackoff = LISTEN_BACKOFF_MS.first;
          // Notifications sent while we were away are gone: tell listeners where every mission is now.
          void this.poll(true);
        },
        () => this.scheduleListen(),
      );
    }, delay);
    this.listenTimer.unref();
  }

  private onNotification(payload: string | undefined): void {
    if (!payload) return;
    const colon = payload.lastIndexOf(':');
    const missionId = payload.slice(0, colon);
    const lastSequence = Number(payload.slice(colon + 1));
    if (colon < 0 || !Number.isSafeInteger(lastSequence)) return;
    // Only missions this store has touched are polled; others are passed on but not tracked.
    const seen = this.known.get(missionId);
    if (seen !== undefined) {
      if (lastSequence <= seen) return;
      this.known.set(missionId, lastSequence);
    }
    this.notify(missionId, lastSequence);
  }

  /**
   * Reads the last sequence of every mission this store has touched and tells listeners about those that
   * moved (all of them when `everything`, after the listener reconnected).
   */
  private async poll(everything: boolean): Promise<void> {
    if (this.polling || this.closed || this.known.size === 0) return;
    this.polling = true;
    try {
      const { rows } = await this.pool.query<{ mission_id: string; last_sequence: number }>(this.sql.lastSequences, [[...this.known.keys()]]);
      for (const { mission_id: missionId, last_sequence: last } of rows) {
        const seen = this.known.get(missionId) ?? 0;
        if (last > seen) this.known.set(missionId, last);
        if (last > seen || everything) this.notify(missionId, last);
      }
    } catch {
      // PostgreSQL is unreachable: the next poll, or the listener's reconnect, tries again.
    } finally {
      this.polling = false;
    }
  }

  private see(missionId: string, lastSequence: number): void {
    if (lastSequence > (this.known.get(missionId) ?? -1)) this.known.set(missionId, lastSequence);
  }

  // --- connections and errors ----------------------------------------------------------------------

  private async connect(what: string): Promise<pg.PoolClient> {
    this.assertOpen();
    try {
      return await this.pool.connect();
    } catch (error) {
      throw this.failure(error, what);
    }
  }

  /** Runs an idempotent operation, retrying it on a fresh connection while PostgreSQL is unreachable. */
  private async read<T>(what: string, run: (db: Queryable) => Promise<T>): Promise<T> {
    this.assertOpen();
    const deadline = Date.now() + this.readRetryMs;
    for (let delay = 50; ; delay = Math.min(delay * 2, 1000)) {
      try {
        return await run(this.pool);
      } catch (error) {
        if (error instanceof MissionBusError) throw error;
        if (!isConnectionError(error) || this.closed || Date.now() + delay > deadline) throw this.failure(error, what);
      }
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }

  private async write<T>(what: string, run: (db: Queryable) => Promise<T>): Promise<T> {
    this.assertOpen();
    try {
      return await run(this.pool);
    } catch (error) {
      throw this.failure(error, what);
    }
  }

  private failure(error: unknown, what: string): unknown {
    if (error instanceof MissionBusError) return error;
    if (isConnectionError(error)) return unavailable(this.target, what, error);
    return error;
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError(`PostgreSQL store '${this.schema}' at ${this.target} is closed`, { schema: this.schema });
  }
}

/** The SQL, with the schema filled in. Parameters are always bound, never spliced. */
function statements(s: string) {
  // Events travel as JSON arrays of strings (native JSON.stringify, parsed by the server) rather than
  // text[] literals, whose escaping costs the client several times more; sequences are base + position.
  const eventRows = (base: string, first: number) =>
    `SELECT $1, ${base} + e.n, e.event_type, e.event_id, e.body FROM ROWS FROM (json_array_elements_text($${first}::json), ` +
    `json_array_elements_text($${first + 1}::json), json_array_elements_text($${first + 2}::json)) WITH ORDINALITY AS e(event_type, event_id, body, n)`;
  // Audit rows: a JSON array of JSON arrays of records; json (not jsonb) keeps each element's text as sent.
  const auditRows = (first: number) => `SELECT $1, a.records::text FROM json_array_elements($${first}::json) WITH ORDINALITY AS a(records, n)`;
  const credentialsArg = (first: number) =>
    `unnest($${first}::text[], $${first + 1}::text[], $${first + 2}::text[], $${first + 3}::text[]) AS c(token_hash, mission_id, participant, created_at)`;
  const upsertCredential = `ON CONFLICT (token_hash) DO UPDATE SET mission_id = EXCLUDED.mission_id, participant = EXCLUDED.participant, created_at = EXCLUDED.created_at`;
  // A batch's audit rows and credentials, from the parameters at `first`; with `onlyIf`, only when that CTE returned a row.
  const guard = (onlyIf?: string) => (onlyIf ? ` WHERE EXISTS (SELECT 1 FROM ${onlyIf})` : '');
  const insertAudit = (first: number, onlyIf?: string) => `INSERT INTO ${s}.audit (mission_id, records) ${auditRows(first)}${guard(onlyIf)} ORDER BY a.n`;
  const insertCredentials = (first: number, onlyIf?: string) =>
    `INSERT INTO ${s}.credentials (token_hash, mission_id, participant, created_at) SELECT c.* FROM ${credentialsArg(first)}${guard(onlyIf)} ${upsertCredential}`;
  return {
    insertMission: `INSERT INTO ${s}.missions (mission_id, header, title, created_at, last_sequence) VALUES ($1, $2, $3, $4, $5) ON CONFLICT DO NOTHING`,
    getMission: `SELECT header, last_sequence FROM ${s}.missions WHERE mission_id = $1`,
    lastSequence: `SELECT last_sequence FROM ${s}.missions WHERE mission_id = $1`,
    lastSequences: `SELECT mission_id, last_sequence FROM ${s}.missions WHERE mission_id = ANY($1::text[])`,
    listMissions: `SELECT mission_id, title, created_at, last_sequence FROM ${s}.missions ORDER BY mission_id COLLATE "C"`,
    insertEvents: `INSERT INTO ${s}.events (mission_id, sequence, event_type, event_id, body) ${eventRows('$2::bigint', 3)}`,
    insertAudit: insertAudit(2),
    upsertCredentials: insertCredentials(1),
    /**
     * One batch with events, as one statement. The UPDATE claims the sequence range only if the mission is
     * at the expected sequence (its row lock makes other writers of the mission wait, then fail the check);
     * everything else is written only if it claimed. A taken event id fails the whole statement on the
     * unique index. The notice to other instances is part of the transaction: delivered only on commit.
     *   $1 mission, $2 expected, $3 new last, $4-$6 events, $7 audit, $8-$11 credentials, $12 channel, $13 payload
     */
    append: `
      WITH claimed AS (
        UPDATE ${s}.missions SET last_sequence = $3
         WHERE mission_id = $1 AND last_sequence = $2
        RETURNING 1
      ), events AS (
        INSERT INTO ${s}.events (mission_id, sequence, event_type, event_id, body)
        ${eventRows('$2', 4)} WHERE EXISTS (SELECT 1 FROM claimed)
      ), audit AS (
        ${insertAudit(7, 'claimed')}
      ), credentials AS (
        ${insertCredentials(8, 'claimed')}
      ), notified AS (
        SELECT pg_notify($12, $13) FROM claimed
      )
      SELECT EXISTS (SELECT 1 FROM claimed) AS claimed, (SELECT count(*) FROM notified) AS notified`,
    /**
     * An audit-only batch: no sequence to claim, but the mission must exist. It takes the mission's row
     * lock, as an append does, before drawing its audit id: then, per mission, ids are drawn in commit
     * order and a reader paging by id never passes a record that commits later with a lower id.
     *   $1 mission, $2 audit, $3-$6 credentials
     */
    record: `
      WITH mission AS (
        SELECT 1 FROM ${s}.missions WHERE mission_id = $1 FOR NO KEY UPDATE
      ), audit AS (
        ${insertAudit(2, 'mission')}
      ), credentials AS (
        ${insertCredentials(3, 'mission')}
      )
      SELECT EXISTS (SELECT 1 FROM mission) AS found`,
    readEvents: `SELECT sequence, event_type, event_id, body FROM ${s}.events WHERE mission_id = $1 AND sequence >= $2 ORDER BY sequence LIMIT $3`,
    getEvent: `SELECT sequence, event_type, event_id, body FROM ${s}.events WHERE mission_id = $1 AND event_id = $2`,
    getEvents: `SELECT sequence, event_type, event_id, body FROM ${s}.events WHERE mission_id = $1 AND event_id = ANY($2::text[])`,
    readAudit: `SELECT audit_id, records FROM ${s}.audit WHERE mission_id = $1 AND audit_id >= $2 ORDER BY audit_id LIMIT $3`,
    findCredential: `SELECT token_hash, mission_id, participant, created_at FROM ${s}.credentials WHERE token_hash = $1`,
    putBlobs: `WITH stored AS (
        INSERT INTO ${s}.blobs (sha256, bytes) SELECT * FROM unnest($1::text[], $2::bytea[]) ON CONFLICT DO NOTHING
      )
      INSERT INTO ${s}.blob_refs (mission_id, sha256) SELECT $3, h FROM unnest($1::text[]) AS h ON CONFLICT DO NOTHING`,
    blobRefs: `SELECT sha256 FROM ${s}.blob_refs WHERE mission_id = $1 AND sha256 = ANY($2::text[])`,
    getBlob: `SELECT b.bytes FROM ${s}.blob_refs r JOIN ${s}.blobs b USING (sha256) WHERE r.mission_id = $1 AND r.sha256 = $2`,
    putSetting: `INSERT INTO ${s}.settings (key, value) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING value`,
    getSetting: `SELECT value FROM ${s}.settings WHERE key = $1`,
  };
}

/** Event types, ids and bodies as three JSON arrays (the sequences follow from the batch's start). */
function eventColumns(events: StoredEvent[]): [string, string, string] {
  return [JSON.stringify(events.map((e) => e.event_type)), JSON.stringify(events.map((e) => e.event_id)), JSON.stringify(events.map((e) => e.body))];
}

/** Audit records as a JSON array of rows, each a JSON array of at most AUDIT_STRIDE records; '[]' for none. */
function auditRows(records: AuditRecord[]): string {
  const rows: string[] = [];
  for (let i = 0; i < records.length; i += AUDIT_STRIDE) rows.push(JSON.stringify(records.slice(i, i + AUDIT_STRIDE)));
  return `[${rows.join(',')}]`;
}

/** Credential columns for the upsert; the last credential of a token wins, as it would written one by one. */
function credentialColumns(credentials: Credential[]): [string[], string[], string[], string[]] {
  const byHash = new Map(credentials.map((c) => [c.token_hash, c]));
  const unique = [...byHash.values()];
  return [unique.map((c) => c.token_hash), unique.map((c) => c.mission_id), unique.map((c) => c.participant), unique.map((c) => c.created_at)];
}

function assertUniqueIds(missionId: string, events: StoredEvent[]): void {
  const seen = new Set<string>();
  for (const event of events) {
    if (seen.has(event.event_id)) throw duplicateEventId(missionId, event.event_id);
    seen.add(event.event_id);
  }
}

function checkSchema(schema: string): string {
  if (!/^[a-z_][a-z0-9_]{0,39}$/.test(schema)) {
    throw new UnavailableError(
      `invalid PostgreSQL schema name '${schema}': use lowercase letters, digits and '_' (at most 40 characters, not starting with a digit)`,
      { schema },
    );
  }
  return schema;
}

function ident(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function describeMissions(pending: Pending[]): string {
  const ids = [...new Set(pending.map((p) => p.batch.mission_id))];
  return ids.length === 1 ? `mission '${ids[0]}'` : `${ids.length} missions`;
}

function describeTarget(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    return `${url.hostname || 'localhost'}:${url.port || 5432}${url.pathname}`;
  } catch {
    return 'PostgreSQL';
  }
}

const CONNECTION_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED', 'ENOTFOUND', 'EAI_AGAIN']);

/**
 * Errors after which the same call may well succeed if made again: the connection or the server went
 * away (SQLSTATE classes 08, 53, 57P), or the server refused for now (serialization failure, deadlock).
 */
export function isConnectionError(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = (error as { code?: unknown }).code;
  if (typeof code === 'string') {
    if (CONNECTION_CODES.has(code)) return true;
    if (/^(08|53|57P)/.test(code) || code === '40001' || code === '40P01') return true;
  }
  return /Connection terminated|not queryable|timeout exceeded when trying to connect|Connection ended|connection is closed|Cannot use a pool after calling end/i.test(error.message);
}

/** What the caller of a batch whose statement failed is told. */
function refusal(error: unknown, batch: AppendBatch): unknown {
  if (error instanceof MissionBusError || !isUniqueViolation(error)) return error;
  return duplicateFrom(error, batch);
}

/** The typed refusal for a unique violation on the events table while appending `batch`. */
function duplicateFrom(error: unknown, batch: AppendBatch): ConflictError {
  const { constraint = '', detail = '' } = error as { constraint?: string; detail?: string };
  if (!constraint.includes('event_id')) {
    // The sequence claim makes this unreachable; if it ever is reached, the caller's remedy is the same.
    return new ConflictError(`mission '${batch.mission_id}' moved past sequence ${batch.expected_sequence} while appending; reload and retry`, {
      mission_id: batch.mission_id,
      reason: 'sequence',
      expected: batch.expected_sequence,
    });
  }
  // detail: Key (mission_id, event_id)=(<mission>, <event id>) already exists.
  const prefix = `Key (mission_id, event_id)=(${batch.mission_id}, `;
  const suffix = ') already exists.';
  const taken = detail.startsWith(prefix) && detail.endsWith(suffix) ? detail.slice(prefix.length, -suffix.length) : undefined;
  const known = batch.events.find((event) => event.event_id === taken) ?? batch.events[0]!;
  return duplicateEventId(batch.mission_id, known.event_id);
}

function isUniqueViolation(error: unknown): boolean {
  return error instanceof Error && (error as { code?: unknown }).code === '23505';
}

function unavailable(target: string, what: string, cause: unknown): UnavailableError {
  const reason = cause instanceof Error ? cause.message : String(cause);
  return new UnavailableError(
    `PostgreSQL at ${target} is unavailable while ${what}: ${reason}. This is temporary and retryable: retry the call (an append that was not acknowledged may or may not have been applied; a publish with a message_id is safe to repeat)`,
    { target, retryable: true },
    { cause },
  );
}
