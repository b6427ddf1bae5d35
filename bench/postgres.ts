/**
 * Durable append throughput on PostgreSQL: 1 and 3 missionbus instances (separate processes, separate
 * pools, one schema), many writers each keeping publishes in flight, against raw multi-row INSERTs of
 * the same rows, 1000 per transaction, measured in the same run on the same server. Also prints the CPU
 * each acknowledged publish cost in the instances and in the server, which says what a machine can reach.
 *
 * Server: MISSIONBUS_BENCH_POSTGRES_URL (default: MISSIONBUS_TEST_POSTGRES_URL, then the local `test`
 * database). Shape: MISSIONBUS_BENCH_PG_{MISSIONS,WRITERS,IN_FLIGHT,COMMIT_CONCURRENCY,POOL} per instance;
 * MISSIONBUS_BENCH_PG_ONLY=bus skips the baselines and the single instance (for tuning).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { PostgresStore } from '../src/store/postgres.js';
import { readdirSync, readFileSync } from 'node:fs';
import type { BenchReply, BenchRequest, RunResult } from './postgres-instance.js';
import { fmt, messageRow, nowMs, progress, type Report } from './lib.js';

const POSTGRES_URL = process.env.MISSIONBUS_BENCH_POSTGRES_URL ?? process.env.MISSIONBUS_TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test';
const CHILD = fileURLToPath(new URL('./postgres-instance.ts', import.meta.url));
const tuning = (name: string, fallback: number) => Number(process.env[`MISSIONBUS_BENCH_PG_${name}`] ?? fallback);
const MISSIONS_PER_INSTANCE = tuning('MISSIONS', 4);
const WRITERS_PER_INSTANCE = tuning('WRITERS', 32);
const IN_FLIGHT = tuning('IN_FLIGHT', 64);
const COMMIT_CONCURRENCY = tuning('COMMIT_CONCURRENCY', 2);
const POOL_SIZE = tuning('POOL', 4);
const WARMUP_MS = 1500;
const DURATION_MS = 5000;
const RAW_ROWS = 200_000;


/** Raw baseline: the store's own events table, one multi-row INSERT of 1000 rows per transaction. */
async function rawInserts(schema: string, connections: number): Promise<number> {
  const s = `"${schema}"`;
  const perConnection = Math.floor(RAW_ROWS / connections);
  const clients = await Promise.all(
    Array.from({ length: connections }, async () => {
      const client = new pg.Client({ connectionString: POSTGRES_URL });
      await client.connect();
      return client;
    }),
  );
  const missions = clients.map((_, c) => `raw-${connections}-${c}`);
  await clients[0]!.query(`INSERT INTO ${s}.missions (mission_id, header, title, created_at) SELECT unnest($1::text[]), '{}', '', ''`, [missions]);
  const chunks = clients.map(() => {
    const rows = Array.from({ length: perConnection }, (_, i) => messageRowOf(i + 1));
    return Array.from({ length: perConnection / 1000 }, (_, k) => rows.slice(k * 1000, (k + 1) * 1000));
  });
  const start = nowMs();
  await Promise.all(
    clients.map(async (client, c) => {
      for (const chunk of chunks[c]!) {
        await client.query('BEGIN');
        await client.query(
          `INSERT INTO ${s}.events (mission_id, sequence, event_type, event_id, body)
           SELECT $1, * FROM unnest($2::bigint[], $3::text[], $4::text[], $5::text[])`,
          [missions[c], chunk.map((r) => r.sequence), chunk.map((r) => r.event_type), chunk.map((r) => r.event_id), chunk.map((r) => r.body)],
        );
        await client.query('COMMIT');
      }
    }),
  );
  const seconds = (nowMs() - start) / 1000;
  await Promise.all(clients.map((client) => client.end()));
  return (perConnection * connections) / seconds;
}

class Child {
  private waiter: { resolve: (value: unknown) => void; reject: (error: Error) => void } | undefined;
  acked = 0;
  constructor(readonly process: ChildProcess) {
    process.on('message', (reply: BenchReply) => {
      if (reply.kind === 'progress') this.acked = reply.acked;
      else if (reply.kind === 'ready' || reply.kind === 'done') this.settle()?.resolve(reply.kind === 'done' ? reply.value : undefined);
      else this.settle()?.reject(new Error(`bench instance failed: ${reply.message}`));
    });
    process.on('exit', (code) => this.settle()?.reject(new Error(`bench instance exited with code ${code}`)));
  }
  private settle() {
    const waiter = this.waiter;
    this.waiter = undefined;
    return waiter;
  }
  next<T>(request?: BenchRequest): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiter = { resolve: resolve as (value: unknown) => void, reject };
      if (request) this.process.send(request);
    });
  }
}

/** CPU ms used so far by all local PostgreSQL server processes (0 where /proc cannot tell). */
function postgresCpuMs(): number {
  let ticks = 0;
  try {
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        if (!stat.includes('(postgres)')) continue;
        const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
        ticks += Number(fields[11]) + Number(fields[12]);
      } catch {
        // The process ended meanwhile.
      }
    }
  } catch {
    return 0;
  }
  return ticks * 10; // USER_HZ is 100 on Linux
}

/** `instances` processes, each with its own pool and missions, publishing at once for DURATION_MS. */
async function busAppends(schema: string, instances: number): Promise<number> {
  const children = Array.from({ length: instances }, () => new Child(fork(CHILD, [], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] })));
  try {
    await Promise.all(children.map((child) => child.next()));
    await Promise.all(
      children.map((child, c) =>
        child.next({
          op: 'open',
          url: POSTGRES_URL,
          options: { schema, poolSize: POOL_SIZE, commitConcurrency: COMMIT_CONCURRENCY },
          missions: Array.from({ length: MISSIONS_PER_INSTANCE }, (_, m) => `bench-${instances}-${c}-${m}`),
        }),
      ),
    );
    const ticker = setInterval(() => progress(`${instances} instance(s): ${fmt(children.reduce((sum, child) => sum + child.acked, 0))} publishes acknowledged`), 1000);
    let pgFrom = 0;
    let pgCpu = 0;
    const windowStart = setTimeout(() => (pgFrom = postgresCpuMs()), WARMUP_MS);
    const windowEnd = setTimeout(() => (pgCpu = postgresCpuMs() - pgFrom), WARMUP_MS + DURATION_MS);
    const results = await Promise.all(
      children.map((child) =>
        child.next<RunResult>({
          op: 'run',
          writers: WRITERS_PER_INSTANCE,
          inFlight: IN_FLIGHT,
          warmupMs: WARMUP_MS,
          durationMs: DURATION_MS,
        }),
      ),
    );
    clearInterval(ticker);
    clearTimeout(windowStart);
    clearTimeout(windowEnd);
    await Promise.all(children.map((child) => child.next({ op: 'close' })));
    const perInstance = results.map((r) => r.acked / r.seconds);
    const acked = results.reduce((sum, r) => sum + r.acked, 0);
    const nodeCpu = results.reduce((sum, r) => sum + r.cpuMs, 0);
    progress(
      `${instances} instance(s): ${perInstance.map((n) => fmt(n)).join(' + ')} events/s; CPU per event: ` +
        `${fmt((nodeCpu * 1000) / acked, 1)} µs in missionbus, ${fmt((pgCpu * 1000) / acked, 1)} µs in PostgreSQL`,
    );
    return perInstance.reduce((a, b) => a + b, 0);
  } finally {
    for (const child of children) child.process.disconnect();
  }
}

export async function benchPostgres(report: Report): Promise<void> {
  const schema = `missionbus_bench_${randomBytes(4).toString('hex')}`;
  try {
    await (await PostgresStore.open(POSTGRES_URL, { schema, poolSize: 1 })).close();
  } catch (error) {
    report(`PostgreSQL at ${POSTGRES_URL} is unreachable (${(error as Error).message}); skipped (set MISSIONBUS_BENCH_POSTGRES_URL)`);
    return;
  }
  try {
    if (process.env.MISSIONBUS_BENCH_PG_ONLY === 'bus') {
      report(`3 instances: ${fmt(await busAppends(schema, 3))} events/s`);
      return;
    }
    progress(`raw multi-row INSERTs, ${fmt(RAW_ROWS)} rows, 1000 per transaction, 1 connection`);
    const raw = await rawInserts(schema, 1);
    report(`raw multi-row INSERT, 1000 rows/txn, 1 connection: ${fmt(raw)} rows/s (baseline)`);
    progress('raw multi-row INSERTs, 3 connections');
    const raw3 = await rawInserts(schema, 3);
    report(`raw multi-row INSERT, 1000 rows/txn, 3 connections: ${fmt(raw3)} rows/s = ${fmt(raw3 / raw, 2)}x baseline`);

    const shape = `${WRITERS_PER_INSTANCE} writers x ${IN_FLIGHT} in flight over ${MISSIONS_PER_INSTANCE} missions per instance`;
    progress(`1 instance, ${shape}`);
    const one = await busAppends(schema, 1);
    report(`bus durable publishes, 1 instance, ${shape}: ${fmt(one)} events/s = ${fmt(one / raw, 2)}x raw`);
    progress(`3 instances (processes, own pools), ${shape}`);
    const three = await busAppends(schema, 3);
    report(`bus durable publishes, 3 instances: ${fmt(three)} events/s aggregate = ${fmt(three / raw, 2)}x raw (target >= 40,000 events/s)`);
  } finally {
    await PostgresStore.dropSchema(POSTGRES_URL, schema);
  }
}

const messageRowOf = (sequence: number) => messageRow(sequence, WRITERS_PER_INSTANCE);
