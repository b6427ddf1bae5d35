/**
 * Durable append throughput on the embedded SQLite store against raw better-sqlite3 inserts of the same
 * rows in transactions of 1000, both with WAL and synchronous=FULL (every commit fsync'd), in one run.
 * Also: resume-packet build time at 1k and 1M events.
 */
import Database from 'better-sqlite3';
import { join } from 'node:path';
import { MissionService } from '../src/service/mission-service.js';
import { SqliteStore } from '../src/store/sqlite.js';
import type { StoredEvent } from '../src/store/contract.js';
import type { CheckpointEvent, HandoffEvent } from '../src/core/events.js';
import { fmt, median, messageRow, nowMs, progress, withTempDir, type Report } from './lib.js';

const WRITERS = 16;


/** Raw baseline: the same event rows into the same table, prepared statement, 1000 per transaction, fsync per commit. */
async function rawInserts(dir: string, count: number, perTransaction = 1000): Promise<number> {
  const path = join(dir, `raw-${perTransaction}.db`);
  await new SqliteStore(path).close(); // same schema as the store
  const db = new Database(path);
  // The store's own settings, so the baseline differs only in what the bus adds.
  db.pragma('locking_mode = EXCLUSIVE');
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  const rows = Array.from({ length: count }, (_, i) => messageRowOf(i + 1));
  const insert = db.prepare('INSERT INTO events (mission_id, sequence, event_type, event_id, body) VALUES (?, ?, ?, ?, ?)');
  const writeChunk = db.transaction((chunk: StoredEvent[]) => {
    for (const r of chunk) insert.run('raw', r.sequence, r.event_type, r.event_id, r.body);
  });
  const start = nowMs();
  for (let i = 0; i < rows.length; i += perTransaction) writeChunk(rows.slice(i, i + perTransaction));
  const seconds = (nowMs() - start) / 1000;
  db.close();
  return count / seconds;
}

/** `WRITERS` writers publish to one mission, each keeping `inFlight` appends outstanding. */
async function busAppends(dir: string, name: string, perWriter: number, inFlight: number): Promise<number> {
  const service = new MissionService({ store: new SqliteStore(join(dir, `${name}.db`)) });
  const mission = await service.createMission({ mission_id: 'bench', lead: { name: 'timmy' } });
  await mission.run('timmy', { kind: 'add_participant', name: 'ezra', role: 'write' });
  const start = nowMs();
  await Promise.all(
    Array.from({ length: WRITERS }, async (_, writer) => {
      let next = 0;
      const lane = async () => {
        while (next < perWriter) {
          const i = next++;
          await mission.run('ezra', { kind: 'publish', topic: 'progress', payload: { writer, i } });
        }
      };
      await Promise.all(Array.from({ length: inFlight }, lane));
    }),
  );
  const seconds = (nowMs() - start) / 1000;
  const total = WRITERS * perWriter;
  if (mission.committedSequence !== total + 1) throw new Error(`expected ${total + 1} events, store has ${mission.committedSequence}`);
  await service.close();
  return total / seconds;
}

async function resumePacketTimes(dir: string, events: number): Promise<number> {
  const path = join(dir, `resume-${events}.db`);
  const store = new SqliteStore(path);
  const service = new MissionService({ store });
  const mission = await service.createMission({ mission_id: 'resume', lead: { name: 'timmy' } });
  await mission.run('timmy', { kind: 'add_participant', name: 'ezra', role: 'write' });
  const checkpoint = (await mission.run('ezra', { kind: 'checkpoint', summary: 's', state: { at: 'start' } })) as CheckpointEvent;
  const handoff = (await mission.run('ezra', { kind: 'handoff', recipient: 'timmy', checkpoint_id: checkpoint.checkpoint_id })) as HandoffEvent;
  // Fill the stream in large batches straight through the store (the append path is measured above).
  for (let next = 4; next <= events; ) {
    const size = Math.min(50_000, events - next + 1);
    await store.append({ mission_id: 'resume', expected_sequence: next - 1, events: Array.from({ length: size }, (_, i) => messageRowOf(next + i)), audit: [] });
    next += size;
    if (events >= 100_000 && next % 200_000 < 50_000) progress(`filled ${fmt(next - 1)} of ${fmt(events)} events`);
  }
  await service.close();
  const reopened = new MissionService({ store: new SqliteStore(path) });
  const live = await reopened.open('resume');
  const times: number[] = [];
  for (let i = 0; i < 1000; i++) {
    const start = nowMs();
    const packet = await live.resumePacket(handoff.handoff_id);
    times.push(nowMs() - start);
    if (packet.stream_length !== events) throw new Error(`stream_length ${packet.stream_length} != ${events}`);
  }
  await reopened.close();
  return median(times);
}

export async function benchAppend(report: Report): Promise<void> {
  await withTempDir('missionbus-bench-', async (dir) => {
    progress('raw better-sqlite3 inserts (200k rows, transactions of 1000)');
    const raw = await rawInserts(dir, 200_000);
    report(`raw better-sqlite3 inserts, 1000/txn, fsync each commit: ${fmt(raw)} rows/s (baseline)`);

    progress('bus appends, 16 writers x 16 in flight');
    const pipelined = await busAppends(dir, 'pipelined', 12_500, 16);
    report(
      `bus durable appends, 16 writers x 16 in flight: ${fmt(pipelined)} events/s = ${fmt(pipelined / raw, 2)}x raw (target >= 0.35x)`,
    );

    progress('bus appends, 16 writers awaiting each append');
    const awaited = await busAppends(dir, 'awaited', 4_000, 1);
    // With 16 writers each awaiting its append, a commit can hold at most 16 events: raw commits of 16
    // rows are the ceiling any group commit can reach on this disk.
    progress('raw better-sqlite3 inserts, 16 rows per transaction (the ceiling for 16 awaiting writers)');
    const raw16 = await rawInserts(dir, 32_000, 16);
    report(`raw better-sqlite3 inserts, 16/txn, fsync each commit: ${fmt(raw16)} rows/s (ceiling for 16 awaiting writers)`);
    report(
      `bus durable appends, 16 writers awaiting each: ${fmt(awaited)} events/s = ${fmt(awaited / raw, 2)}x raw, ${fmt(awaited / raw16, 2)}x the 16/txn ceiling (target >= 60,000 events/s)`,
    );

    progress('resume packet at 1k events');
    const small = await resumePacketTimes(dir, 1_000);
    progress('resume packet at 1M events (filling the stream)');
    const large = await resumePacketTimes(dir, 1_000_000);
    report(
      `resume packet build, median of 1000: ${fmt(small, 3)} ms at 1k events, ${fmt(large, 3)} ms at 1M events (ratio ${fmt(large / small, 2)}; target flat, < 1 ms)`,
    );
  });
}

const messageRowOf = (sequence: number) => messageRow(sequence, WRITERS);
