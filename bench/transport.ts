/**
 * The bus over its network edge against NATS JetStream on 127.0.0.1:4222, measured in the same run:
 * sequential publishes (each acknowledged after fsync on our side) vs JetStream synchronous publish,
 * pipelined publishes vs JetStream asynchronous publish with a window of 1000, and publish-to-delivery
 * latency with 100 live WebSocket subscribers at 1,000 events/s.
 *
 * JetStream's file store acknowledges before fsync by default (it syncs every 2 minutes); our acks wait
 * for fsync. The comparison is reported as is, with that difference named.
 */
import { connect as natsConnect } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, StorageType } from '@nats-io/jetstream';
import { join } from 'node:path';
import { MissionClient } from '../src/client/client.js';
import { startServer } from '../src/server/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { fmt, nowMs, percentile, progress, withTempDir, type Report } from './lib.js';

const SEQUENTIAL = 3_000;
const PIPELINED = 30_000;
const WINDOW = 1_000;

async function busSetup(dir: string, name: string) {
  const server = await startServer({ store: new SqliteStore(join(dir, `${name}.db`)), port: 0, socketPath: null, logLevel: 'silent' });
  const created = await new MissionClient({ url: server.url! }).createMission({ mission_id: 'bench', lead: { name: 'timmy' } });
  const lead = new MissionClient({ url: server.url!, token: created.token, missionId: 'bench' });
  const writerToken = (await lead.addParticipant('ezra', 'write')).token;
  const readerToken = (await lead.addParticipant('reader', 'read')).token;
  return {
    server,
    writer: new MissionClient({ url: server.url!, token: writerToken, missionId: 'bench' }),
    reader: () => new MissionClient({ url: server.url!, token: readerToken, missionId: 'bench' }),
  };
}

async function windowed(total: number, window: number, send: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const start = nowMs();
  await Promise.all(
    Array.from({ length: window }, async () => {
      while (next < total) await send(next++);
    }),
  );
  return total / ((nowMs() - start) / 1000);
}

async function natsRates(): Promise<{ sync: number; async: number } | string> {
  let nc;
  try {
    nc = await natsConnect({ servers: '127.0.0.1:4222', timeout: 2000 });
  } catch (error) {
    return `NATS not reachable on 127.0.0.1:4222 (${(error as Error).message}); start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server`;
  }
  try {
    const jsm = await jetstreamManager(nc);
    const name = `missionbus_bench_${process.pid}`;
    await jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File });
    const js = jetstream(nc);
    const payload = new TextEncoder().encode(JSON.stringify({ topic: 'progress', payload: { pct: 40 } }));
    const start = nowMs();
    for (let i = 0; i < SEQUENTIAL; i++) await js.publish(`${name}.m`, payload);
    const sync = SEQUENTIAL / ((nowMs() - start) / 1000);
    const asyncRate = await windowed(PIPELINED, WINDOW, () => js.publish(`${name}.m`, payload));
    await jsm.streams.delete(name);
    return { sync, async: asyncRate };
  } finally {
    await nc.close();
  }
}

async function latency(dir: string, report: Report): Promise<void> {
  const bus = await busSetup(dir, 'latency');
  try {
    const subscribers = 100;
    const rate = 1_000;
    const seconds = 5;
    const delays: number[] = [];
    const last = (await bus.writer.mission()).last_sequence;
    const subs = Array.from({ length: subscribers }, () => bus.reader().subscribe({ from: last + 1 }));
    const expected = rate * seconds;
    const consuming = subs.map(async (sub) => {
      let seen = 0;
      for await (const event of sub) {
        if (event.event_type === 'message') delays.push(nowMs() - (event.payload.sent as number));
        if (++seen >= expected) break;
      }
      sub.close();
    });
    await new Promise((resolve) => setTimeout(resolve, 500)); // let every subscriber connect
    const start = nowMs();
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < expected; i++) {
      const due = start + (i * 1000) / rate;
      const wait = due - nowMs();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      sends.push(bus.writer.publish('tick', { i, sent: nowMs() }));
    }
    await Promise.all(sends);
    await Promise.all(consuming);
    report(
      `publish-to-delivery, ${subscribers} WebSocket subscribers at ${rate} events/s for ${seconds} s: p50 ${fmt(percentile(delays, 50), 2)} ms, p99 ${fmt(percentile(delays, 99), 2)} ms over ${fmt(delays.length)} deliveries (target p99 < 10 ms)`,
    );
  } finally {
    await bus.server.close();
  }
}

export async function benchTransport(report: Report): Promise<void> {
  await withTempDir('missionbus-bench-transport-', async (dir) => {
    progress('NATS JetStream publishes (sync, then async window 1000)');
    const nats = await natsRates();
    if (typeof nats === 'string') report(`JetStream comparison skipped: ${nats}`);
    else report(`JetStream file stream: sync publish ${fmt(nats.sync)} msgs/s, async window ${WINDOW}: ${fmt(nats.async)} msgs/s (baseline; acks not fsync'd by default)`);

    progress(`bus: ${SEQUENTIAL} sequential publishes, then ${PIPELINED} pipelined (window ${WINDOW})`);
    const bus = await busSetup(dir, 'throughput');
    try {
      let start = nowMs();
      for (let i = 0; i < SEQUENTIAL; i++) await bus.writer.publish('progress', { pct: 40 });
      const sequential = SEQUENTIAL / ((nowMs() - start) / 1000);
      start = nowMs();
      const pipelined = await windowed(PIPELINED, WINDOW, () => bus.writer.publish('progress', { pct: 40 }));
      const ratio = (ours: number, theirs: number | undefined) => (theirs ? ` = ${fmt(ours / theirs, 2)}x JetStream` : '');
      report(`bus sequential publish, fsync'd ack each: ${fmt(sequential)} events/s${ratio(sequential, typeof nats === 'string' ? undefined : nats.sync)} (target >= 1.0x)`);
      report(`bus pipelined publish, window ${WINDOW}: ${fmt(pipelined)} events/s${ratio(pipelined, typeof nats === 'string' ? undefined : nats.async)} (target >= 2.0x)`);
    } finally {
      await bus.server.close();
    }
    progress('latency with 100 subscribers');
    await latency(dir, report);
  });
}
