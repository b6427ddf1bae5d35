/**
 * Load: 1,000 live WebSocket subscribers and 10 publishers for 60 s against one server process.
 *
 * - The server runs in a child process (this file, MISSIONBUS_LOAD_ROLE=server) on a fresh SQLite store with
 *   durability 'full' and a 256 KiB per-subscriber high-water mark, so its memory is its own: its peak
 *   resident set (VmHWM in /proc/<pid>/status) is reported, with RSS sampled every 500 ms.
 * - The subscribers run in child processes of their own (MISSIONBUS_LOAD_ROLE=subscribers), each one the
 *   SDK's `MissionClient.subscribe` from sequence 1, checking that every event is its last sequence + 1.
 *   Some are deliberately slow (they read one event a second for the first 3/4 of the run): the server cuts
 *   them off when they fall behind its high-water mark (close 4008) and the SDK resumes them by itself.
 * - The 10 publishers, in this process, publish at a fixed total rate over HTTP (20 events/s: what this
 *   2-core reference machine carries to 1,000 subscribers; every 10th event of 48 kB so that a stalled
 *   reader overflows the kernel's socket buffers too), each publish with a message_id and awaited
 *   (acknowledged once durable).
 *
 * At the end every subscriber must have received every event, 1..last, in order, exactly once — the slow
 * ones included. Everything is bounded: the run's length, every wait, and all sockets are on 127.0.0.1.
 *
 * Knobs (environment): MISSIONBUS_LOAD_SUBSCRIBERS (1000), MISSIONBUS_LOAD_SLOW (20), MISSIONBUS_LOAD_PUBLISHERS
 * (10), MISSIONBUS_LOAD_RATE (total events/s, 20), MISSIONBUS_LOAD_SECONDS (60), MISSIONBUS_LOAD_PROCESSES (2).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MissionClient } from '../src/client/client.js';
import { startServer } from '../src/server/server.js';
import { closeOnSignals } from '../src/server/shutdown.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { fmt, progress, withTempDir, type Report } from './lib.js';

const SUBSCRIBERS = Number(process.env.MISSIONBUS_LOAD_SUBSCRIBERS ?? 1000);
const SLOW = Number(process.env.MISSIONBUS_LOAD_SLOW ?? 20);
const PUBLISHERS = Number(process.env.MISSIONBUS_LOAD_PUBLISHERS ?? 10);
const RATE = Number(process.env.MISSIONBUS_LOAD_RATE ?? 20);
const SECONDS = Number(process.env.MISSIONBUS_LOAD_SECONDS ?? 60);
const PROCESSES = Number(process.env.MISSIONBUS_LOAD_PROCESSES ?? 2);
const HIGH_WATER_MARK = 256 * 1024;
const MISSION = 'load';
const PAD = 'x'.repeat(1000);
/**
 * Every 10th message of a publisher is large: with them a stream carries ~110 kB/s, so that a stalled reader
 * falls behind the kernel's socket buffers too (several MB on loopback) well within the slow phase.
 */
const LARGE_PAD = 'y'.repeat(48 * 1024);
/** Slow subscribers read one event a second for this share of the run. */
const SLOW_SHARE = 0.75;
const SELF = fileURLToPath(import.meta.url);

type ChildMessage =
  | { kind: 'listening'; url: string; pid: number }
  | { kind: 'server-stats'; stats: { subscribers: number; slowDisconnects: number; framesEncoded: number; bufferedBytes: number } }
  | { kind: 'subscribed' }
  | { kind: 'progress'; stats: SubscriberStats }
  | { kind: 'failed'; message: string };

interface SubscribeOrder {
  kind: 'subscribe';
  url: string;
  token: string;
  count: number;
  slow: number;
  /** Until the parent says 'fast', slow subscribers sleep this long on every event. */
  slowDelayMs: number;
}

interface SubscriberStats {
  /** Lowest and highest last sequence over this process's subscribers. */
  minLast: number;
  maxLast: number;
  delivered: number;
  outOfOrder: number;
  /** Disconnections seen by normal and by slow subscribers, and how many were the server's slow-consumer close (4008). */
  disconnects: { normal: number; slow: number; slowConsumerCloses: number; codes: Record<string, number> };
  /** Lowest last sequence among the slow subscribers (Infinity when there are none). */
  slowMinLast: number;
}

// ---- child: the server ----

async function serveChild(): Promise<void> {
  const dir = process.env.MISSIONBUS_LOAD_DIR!;
  const server = await startServer({
    store: new SqliteStore(join(dir, 'load.db')),
    port: 0,
    socketPath: null,
    logLevel: 'error',
    stream: { highWaterMark: HIGH_WATER_MARK, slowGraceMs: 1000 },
  });
  closeOnSignals(server, { signals: ['SIGTERM'] });
  process.on('message', (message: { kind: string }) => {
    if (message.kind !== 'stats') return;
    const { subscribers, slowDisconnects, framesEncoded, bufferedBytes } = server.stats();
    process.send!({ kind: 'server-stats', stats: { subscribers, slowDisconnects, framesEncoded, bufferedBytes } } satisfies ChildMessage);
  });
  process.send!({ kind: 'listening', url: server.url!, pid: process.pid } satisfies ChildMessage);
}

// ---- child: subscribers ----

async function subscribersChild(): Promise<void> {
  const order = await new Promise<SubscribeOrder>((resolve) => process.once('message', (message: SubscribeOrder) => resolve(message)));
  const stats: SubscriberStats = { minLast: 0, maxLast: 0, delivered: 0, outOfOrder: 0, disconnects: { normal: 0, slow: 0, slowConsumerCloses: 0, codes: {} }, slowMinLast: Infinity };
  const lasts = new Array<number>(order.count).fill(0);
  const client = new MissionClient({ url: order.url, token: order.token, missionId: MISSION });
  let connected = 0;
  let slowPhase = true;
  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
  for (let i = 0; i < order.count; i++) {
    const slow = i < order.slow;
    let first = true;
    const subscription = client.subscribe({
      from: 1,
      maxQueued: slow ? 32 : 256,
      onStatus: (status) => {
        if (status.type === 'connected' && first) {
          first = false;
          if (++connected === order.count) process.send!({ kind: 'subscribed' } satisfies ChildMessage);
        }
        if (status.type === 'disconnected') {
          if (slow) stats.disconnects.slow++;
          else stats.disconnects.normal++;
          if (status.code === 4008) stats.disconnects.slowConsumerCloses++;
          const key = `${slow ? 'slow' : 'normal'} ${status.code}`;
          stats.disconnects.codes[key] = (stats.disconnects.codes[key] ?? 0) + 1;
        }
      },
    });
    void (async () => {
      for await (const event of subscription) {
        if (event.sequence !== lasts[i]! + 1) stats.outOfOrder++;
        lasts[i] = event.sequence;
        stats.delivered++;
        if (slow && slowPhase) await sleep(order.slowDelayMs);
      }
    })().catch((error: unknown) => process.send!({ kind: 'failed', message: `subscriber ${i}: ${(error as Error).message}` } satisfies ChildMessage));
  }
  process.on('message', (message: { kind: string }) => {
    if (message.kind === 'progress') {
      stats.minLast = Math.min(...lasts);
      stats.maxLast = Math.max(...lasts);
      stats.slowMinLast = order.slow > 0 ? Math.min(...lasts.slice(0, order.slow)) : Infinity;
      process.send!({ kind: 'progress', stats } satisfies ChildMessage);
    }
    if (message.kind === 'fast') slowPhase = false;
    if (message.kind === 'exit') process.exit(0);
  });
}

// ---- parent ----

class Child {
  readonly process: ChildProcess;
  private readonly inbox: ChildMessage[] = [];
  private wake: (() => void) | undefined;
  failure: string | undefined;

  constructor(role: 'server' | 'subscribers', dir: string) {
    this.process = fork(SELF, [], {
      execArgv: ['--import', 'tsx'],
      env: { ...process.env, MISSIONBUS_LOAD_ROLE: role, MISSIONBUS_LOAD_DIR: dir },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.process.on('message', (message: ChildMessage) => {
      if (message.kind === 'failed') this.failure ??= message.message;
      else this.inbox.push(message);
      this.wake?.();
    });
    this.process.on('exit', (code, signal) => {
      this.failure ??= code === 0 || signal === 'SIGTERM' ? undefined : `child exited (code ${code}, signal ${signal})`;
      this.wake?.();
    });
  }

  /** The next message of `kind`, within `timeoutMs`. */
  async next<K extends ChildMessage['kind']>(kind: K, timeoutMs: number): Promise<Extract<ChildMessage, { kind: K }>> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const at = this.inbox.findIndex((m) => m.kind === kind);
      if (at >= 0) return this.inbox.splice(at, 1)[0] as Extract<ChildMessage, { kind: K }>;
      if (this.failure) throw new Error(this.failure);
      if (Date.now() > deadline) throw new Error(`no '${kind}' from a ${this.process.pid} child within ${timeoutMs} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, Math.min(1000, deadline - Date.now()));
        this.wake = () => {
          clearTimeout(timer);
          resolve();
        };
      });
    }
  }

  async progress(): Promise<SubscriberStats> {
    this.process.send({ kind: 'progress' });
    return (await this.next('progress', 30_000)).stats;
  }

  stop(): void {
    if (this.process.exitCode === null) this.process.kill('SIGTERM');
  }
}

/** CPU seconds (user + system) a process has used, from /proc/<pid>/stat. */
function cpuSeconds(pid: number): number {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

function memory(pid: number): { rss: number; hwm: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN) * 1024;
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

const MiB = (bytes: number) => `${fmt(bytes / 1024 / 1024, 1)} MiB`;

function sum(stats: SubscriberStats[]): SubscriberStats {
  return stats.reduce(
    (total, s) => ({
      minLast: Math.min(total.minLast, s.minLast),
      maxLast: Math.max(total.maxLast, s.maxLast),
      delivered: total.delivered + s.delivered,
      outOfOrder: total.outOfOrder + s.outOfOrder,
      disconnects: {
        normal: total.disconnects.normal + s.disconnects.normal,
        slow: total.disconnects.slow + s.disconnects.slow,
        slowConsumerCloses: total.disconnects.slowConsumerCloses + s.disconnects.slowConsumerCloses,
        codes: Object.fromEntries(
          [...new Set([...Object.keys(total.disconnects.codes), ...Object.keys(s.disconnects.codes)])].map((k) => [k, (total.disconnects.codes[k] ?? 0) + (s.disconnects.codes[k] ?? 0)]),
        ),
      },
      slowMinLast: Math.min(total.slowMinLast, s.slowMinLast),
    }),
    { minLast: Infinity, maxLast: 0, delivered: 0, outOfOrder: 0, disconnects: { normal: 0, slow: 0, slowConsumerCloses: 0, codes: {} }, slowMinLast: Infinity },
  );
}

export async function benchLoad(report: Report): Promise<void> {
  await withTempDir('mb-load-', async (dir) => {
    const server = new Child('server', dir);
    const subscriberProcesses: Child[] = [];
    const clients: MissionClient[] = [];
    try {
      const { url, pid } = await server.next('listening', 30_000);
      const baseline = memory(pid);
      const anon = new MissionClient({ url });
      clients.push(anon);
      const lead = anon.withToken((await anon.createMission({ mission_id: MISSION, lead: { name: 'lead' } })).token, MISSION);
      const watcher = (await lead.addParticipant('watcher', 'read')).token;
      const publishers: MissionClient[] = [];
      for (let p = 0; p < PUBLISHERS; p++) publishers.push(anon.withToken((await lead.addParticipant(`publisher-${p}`, 'write')).token, MISSION));

      progress(`subscribing ${SUBSCRIBERS} (${SLOW} slow) in ${PROCESSES} processes`);
      const cpuBefore = cpuSeconds(pid);
      for (let c = 0; c < PROCESSES; c++) {
        const count = Math.floor(SUBSCRIBERS / PROCESSES) + (c < SUBSCRIBERS % PROCESSES ? 1 : 0);
        const slow = Math.floor(SLOW / PROCESSES) + (c < SLOW % PROCESSES ? 1 : 0);
        const child = new Child('subscribers', dir);
        subscriberProcesses.push(child);
        child.process.send({ kind: 'subscribe', url, token: watcher, count, slow, slowDelayMs: 1000 } satisfies SubscribeOrder);
      }
      for (const child of subscriberProcesses) await child.next('subscribed', 120_000);
      const afterSubscribe = memory(pid);

      progress(`publishing ${RATE}/s from ${PUBLISHERS} publishers for ${SECONDS} s`);
      let published = 0;
      let peakRss = afterSubscribe.rss;
      const sampler = setInterval(() => (peakRss = Math.max(peakRss, memory(pid).rss)), 500);
      const started = Date.now();
      const end = started + SECONDS * 1000;
      const interval = (1000 * PUBLISHERS) / RATE;
      // The slow subscribers turn fast half way through: by the end they must have caught up with everything.
      const fast = setTimeout(() => {
        for (const child of subscriberProcesses) child.process.send({ kind: 'fast' });
      }, SECONDS * 1000 * SLOW_SHARE);
      await Promise.all(
        publishers.map(async (publisher, p) => {
          for (let n = 0, next = started + (interval * p) / PUBLISHERS; next < end && Date.now() < end; n++, next += interval) {
            const wait = next - Date.now();
            if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
            await publisher.publish('load', { p, n, pad: n % 10 === 9 ? LARGE_PAD : PAD }, { messageId: `p${p}-${n}` });
            published++;
          }
        }),
      );
      clearTimeout(fast);
      for (const child of subscriberProcesses) child.process.send({ kind: 'fast' });
      const publishSeconds = (Date.now() - started) / 1000;
      const last = (await lead.mission()).last_sequence;
      progress(`published ${published} in ${fmt(publishSeconds, 1)} s; waiting for every subscriber to reach sequence ${last}`);

      let totals = sum(await Promise.all(subscriberProcesses.map((c) => c.progress())));
      const drainDeadline = Date.now() + 120_000;
      while (totals.minLast < last && Date.now() < drainDeadline) {
        await new Promise((resolve) => setTimeout(resolve, 1000));
        totals = sum(await Promise.all(subscriberProcesses.map((c) => c.progress())));
      }
      clearInterval(sampler);
      server.process.send({ kind: 'stats' });
      const serverStats = (await server.next('server-stats', 30_000)).stats;
      const final = memory(pid);
      const serverCpu = cpuSeconds(pid) - cpuBefore;
      const subscriberCpu = subscriberProcesses.reduce((total, child) => total + cpuSeconds(child.process.pid!), 0);
      const elapsed = (Date.now() - started) / 1000;
      peakRss = Math.max(peakRss, final.rss);

      const expected = last * SUBSCRIBERS;
      report(
        `load: ${SUBSCRIBERS} WebSocket subscribers (${SLOW} reading 1 event/s for the first ${fmt(SECONDS * SLOW_SHARE)} s) and ${PUBLISHERS} publishers for ${SECONDS} s, ` +
          `events of 1 kB (every 10th of 48 kB), ${PROCESSES + 1} client processes`,
      );
      report(`events published: ${fmt(published)} acknowledged at ${fmt(published / publishSeconds)}/s (stream length ${fmt(last)}, with membership events)`);
      report(`events delivered: ${fmt(totals.delivered)} of ${fmt(expected)} (${fmt((100 * totals.delivered) / expected, 2)}%); out of order or duplicated: ${totals.outOfOrder}`);
      report(`every subscriber at the last sequence: ${totals.minLast >= last ? 'yes' : `no — the furthest behind is at ${totals.minLast} of ${last}`}`);
      report(
        `slow subscribers cut off by the server and resumed by the SDK: the server cut off ${serverStats.slowDisconnects} for reading too slowly; ` +
          `subscribers saw ${totals.disconnects.slow} disconnects among the slow, ${totals.disconnects.normal} among the others ` +
          `(by close code: ${JSON.stringify(totals.disconnects.codes)}; 1006 is a cut-off whose 4008 close frame went unread); ` +
          `slowest now at ${totals.slowMinLast === Infinity ? '-' : totals.slowMinLast}`,
      );
      report(`CPU: server ${fmt(serverCpu, 1)} s, subscriber processes ${fmt(subscriberCpu, 1)} s, over ${fmt(elapsed, 1)} s of publishing and draining (this machine has ${availableParallelism()} cores)`);
      report(`server: ${serverStats.framesEncoded} live frames encoded once each for all subscribers; ${MiB(serverStats.bufferedBytes)} unsent at the end`);
      report(`server memory: RSS ${MiB(baseline.rss)} idle, ${MiB(afterSubscribe.rss)} with ${SUBSCRIBERS} subscribers, peak ${MiB(Math.max(peakRss, final.hwm))} (VmHWM ${MiB(final.hwm)}), ${MiB(final.rss)} at the end`);
      if (totals.minLast < last || totals.outOfOrder > 0 || totals.delivered !== expected) {
        throw new Error(`load: not every subscriber received every event once and in order (delivered ${totals.delivered} of ${expected}, ${totals.outOfOrder} out of order)`);
      }
      if (SLOW > 0 && serverStats.slowDisconnects === 0) {
        throw new Error('load: no slow subscriber was cut off, so resuming after a cut-off went untested; run longer (MISSIONBUS_LOAD_SECONDS) or faster (MISSIONBUS_LOAD_RATE)');
      }
    } finally {
      for (const client of clients) client.close();
      for (const child of subscriberProcesses) {
        child.process.send({ kind: 'exit' }, () => undefined);
        child.stop();
      }
      server.stop();
      await Promise.all(
        [server, ...subscriberProcesses].map((child) =>
          child.process.exitCode !== null ? undefined : new Promise((resolve) => {
            const timer = setTimeout(() => {
              child.process.kill('SIGKILL');
              resolve(undefined);
            }, 15_000);
            child.process.once('exit', () => {
              clearTimeout(timer);
              resolve(undefined);
            });
          }),
        ),
      );
    }
  });
}

const role = process.env.MISSIONBUS_LOAD_ROLE;
if (role === 'server') await serveChild();
else if (role === 'subscribers') await subscribersChild();
else if (process.argv[1] === SELF) await benchLoad((line) => console.log(`- ${line}`));
