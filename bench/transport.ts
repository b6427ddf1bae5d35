/**
 * The bus over its network edge against NATS on 127.0.0.1:4222, measured in the same run:
 * (a) one client publishing sequentially, each publish awaited (ours acknowledged after fsync) vs
 * JetStream synchronous publish; (b) pipelined publishing with a window of 1000 vs JetStream
 * asynchronous publish with the same window; (c) publish-to-delivery latency with 100 live WebSocket
 * subscribers at 1,000 events/s vs the same fan-out through NATS core.
 *
 * The bus server runs in its own process (bench/bus-child.ts), as nats-server does; this process holds
 * the publishing clients, and the 100 subscribers of (c) run in further processes (two by default).
 * Publishing goes over the publish channel (one WebSocket per publisher). Throughput is measured in
 * alternating rounds (MISSIONBUS_BENCH_ROUNDS, default 3) and the median is reported, because the
 * machine may be shared.
 *
 * JetStream's file store acknowledges before fsync by default (it syncs every 2 minutes); our acks wait
 * for fsync. So (a) is reported next to what bounds any design that fsyncs each awaited publish: the
 * fsync floor of this disk (single-row SQLite commits) and a bare WebSocket round trip to an echo
 * server in another process, both measured in the same rounds; and next to the bus with durability
 * 'normal' (acknowledged before fsync, like JetStream). (c)'s baseline, NATS core, stores and
 * acknowledges nothing; its subscribers are nats.js connections in the same number of processes, each
 * message the same JSON array of one event the bus sends.
 *
 * Tuning and profiling: MISSIONBUS_BENCH_TRANSPORT_ONLY=throughput|latency runs one part;
 * MISSIONBUS_BENCH_SUBSCRIBER_PROCESSES (default 2), MISSIONBUS_BENCH_SUBSCRIBER=sdk|raw (the SDK's
 * subscription, default, or bare WebSockets) and MISSIONBUS_BENCH_LATENCY_SECONDS (default 5) shape (c);
 * MISSIONBUS_BENCH_SEND_SHARE sets the server's `stream.sendShare`; MISSIONBUS_BENCH_PROF=<dir> makes
 * the child processes write CPU profiles there (run this process under `node --cpu-prof --import tsx
 * bench/run.ts transport` for its own).
 */
import { fork, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import Database from 'better-sqlite3';
import { connect as natsConnect, type NatsConnection } from '@nats-io/transport-node';
import { jetstream, jetstreamManager, StorageType, type JetStreamClient } from '@nats-io/jetstream';
import { WebSocket } from 'ws';
import { MissionClient } from '../src/client/client.js';
import { uuidv7 } from '../src/core/ids.js';
import type { BusReply, BusRequest } from './bus-child.js';
import { fmt, median, nowMs, percentile, progress, withTempDir, type Report } from './lib.js';

const SEQUENTIAL = 3_000;
const PIPELINED = 30_000;
const WINDOW = 1_000;
const SUBSCRIBERS = 100;
const SUBSCRIBER_PROCESSES = Number(process.env.MISSIONBUS_BENCH_SUBSCRIBER_PROCESSES ?? 2);
const SUBSCRIBER_CLIENT = (process.env.MISSIONBUS_BENCH_SUBSCRIBER ?? 'sdk') as 'sdk' | 'raw';
const RATE = 1_000;
const LATENCY_SECONDS = Number(process.env.MISSIONBUS_BENCH_LATENCY_SECONDS ?? 5);
const ROUNDS = Number(process.env.MISSIONBUS_BENCH_ROUNDS ?? 3);
const PROFILE_DIR = process.env.MISSIONBUS_BENCH_PROF;
const ONLY = process.env.MISSIONBUS_BENCH_TRANSPORT_ONLY as 'throughput' | 'latency' | undefined;
const CHILD = fileURLToPath(new URL('./bus-child.ts', import.meta.url));
const NATS_HINT =
  'start it with: start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server';

/** A bench/bus-child.ts process, answering each request over IPC. */
class Child {
  private readonly process: ChildProcess;
  private readonly exited: Promise<unknown>;
  private readonly replies: BusReply[] = [];
  private waiter: { resolve: (reply: BusReply) => void; reject: (error: Error) => void } | undefined;
  private gone = false;

  constructor(role: 'server' | 'subscribers' | 'echo') {
    const execArgv = ['--import', 'tsx', ...(PROFILE_DIR ? ['--cpu-prof', `--cpu-prof-dir=${PROFILE_DIR}`] : [])];
    this.process = fork(CHILD, [role], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    this.process.on('message', (reply: BusReply) => {
      const waiter = this.waiter;
      this.waiter = undefined;
      if (waiter) reply.kind === 'failed' ? waiter.reject(new Error(reply.message)) : waiter.resolve(reply);
      else this.replies.push(reply);
    });
    // A request racing the child's own exit fails with EPIPE; the exit then settles it.
    this.process.on('error', () => undefined);
    this.exited = new Promise((resolve) =>
      this.process.once('exit', (code) => {
        this.gone = true;
        this.waiter?.reject(new Error(`the ${role} process exited with code ${code}`));
        this.waiter = undefined;
        resolve(code);
      }),
    );
  }

  next(): Promise<BusReply> {
    const queued = this.replies.shift();
    if (queued) return queued.kind === 'failed' ? Promise.reject(new Error(queued.message)) : Promise.resolve(queued);
    if (this.gone) return Promise.reject(new Error('the child process is gone'));
    return new Promise((resolve, reject) => (this.waiter = { resolve, reject }));
  }

  async request(request: BusRequest): Promise<BusReply> {
    if (this.gone || !this.process.connected) throw new Error('the child process is gone');
    this.process.send(request);
    return this.next();
  }

  /** Asks the child to finish and waits for it to exit; returns its last reply. */
  async close(): Promise<BusReply | undefined> {
    const reply = await this.request({ op: 'close' }).catch(() => undefined);
    await this.exited;
    return reply;
  }
}

interface BusClients {
  url: string;
  missionId: string;
  readerToken: string;
  writer: MissionClient;
}

/** The bus server in its own process. */
class Bus {
  private closed: Promise<{ framesEncoded: number; cpuMs: number } | undefined> | undefined;

  private constructor(
    private readonly child: Child,
    readonly clients: BusClients,
  ) {}

  static async start(dir: string, name: string, durability: 'full' | 'normal'): Promise<Bus> {
    const child = new Child('server');
    await child.next(); // ready
    const started = await child.request({ op: 'start', dir, name, durability });
    if (started.kind !== 'started') throw new Error(`unexpected reply ${started.kind}`);
    const writer = new MissionClient({ url: started.url, token: started.writer, missionId: started.missionId });
    return new Bus(child, { url: started.url, missionId: started.missionId, readerToken: started.reader, writer });
  }

  /** Cumulative CPU time, event-loop busy time and live frames encoded (one per committed batch) of the server. */
  async stats(): Promise<Extract<BusReply, { kind: 'stats' }>> {
    const reply = await this.child.request({ op: 'stats' });
    if (reply.kind !== 'stats') throw new Error(`unexpected reply ${reply.kind}`);
    return reply;
  }

  /** Durations (ms) of the store appends since the last call: how long commits took to become durable. */
  async appends(): Promise<number[]> {
    const reply = await this.child.request({ op: 'appends' });
    return reply.kind === 'appends' ? reply.durations : [];
  }

  /** Stops the server; returns its live frames encoded (one per committed batch) and its CPU time. */
  close(): Promise<{ framesEncoded: number; cpuMs: number } | undefined> {
    this.closed ??= (async () => {
      this.clients.writer.close();
      const reply = await this.child.close();
      return reply?.kind === 'closed' ? reply : undefined;
    })();
    return this.closed;
  }
}

/** Keeps `window` sends in flight until `total` are done; returns sends per second. */
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

async function sequential(total: number, send: (i: number) => Promise<unknown>): Promise<number> {
  const start = nowMs();
  for (let i = 0; i < total; i++) await send(i);
  return total / ((nowMs() - start) / 1000);
}

interface Rates {
  sync: number[];
  async: number[];
  /** Bus only: how long each sequential publish's commit took to become durable in the store (ms). */
  commits?: number[];
  /** Bus only: the fsync floor measured in the same rounds (commits/s). */
  floor?: number[];
  /** Bus only: bare WebSocket round trips per second, one awaited at a time, in the same rounds. */
  echo?: number[];
}

/** What the full-durability run measures beside the bus, round by round. */
interface Baselines {
  jetStream: JetStream | undefined;
  nats: Rates;
  /** Where the fsync floor's SQLite files go. */
  dir: string;
  echo: Echo;
}

/** One WebSocket client of the bus-child echo server. */
interface Echo {
  roundTrip(frame: string): Promise<void>;
  close(): Promise<void>;
}

async function openEcho(): Promise<Echo> {
  const child = new Child('echo');
  await child.next(); // ready
  const reply = await child.request({ op: 'echo' });
  if (reply.kind !== 'echoing') throw new Error(`unexpected reply ${reply.kind}`);
  const ws = new WebSocket(reply.url, { perMessageDeflate: false });
  await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
  let answered: (() => void) | undefined;
  ws.on('message', () => answered?.());
  return {
    roundTrip: (frame) =>
      new Promise<void>((resolve) => {
        answered = resolve;
        ws.send(frame);
      }),
    close: async () => {
      ws.close();
      await child.close();
    },
  };
}

interface JetStream {
  js: JetStreamClient;
  subject: string;
  done(): Promise<void>;
}

async function openJetStream(): Promise<JetStream | string> {
  let nc: NatsConnection;
  try {
    nc = await natsConnect({ servers: '127.0.0.1:4222', timeout: 2000 });
  } catch (error) {
    return `NATS not reachable on 127.0.0.1:4222 (${(error as Error).message}); ${NATS_HINT}`;
  }
  const jsm = await jetstreamManager(nc);
  const name = `missionbus_bench_${process.pid}`;
  await jsm.streams.add({ name, subjects: [`${name}.>`], storage: StorageType.File });
  return {
    js: jetstream(nc),
    subject: `${name}.m`,
    done: async () => {
      await jsm.streams.delete(name);
      await nc.close();
    },
  };
}

/**
 * One client publishing sequentially and then pipelined, alternating with the baselines (JetStream, the
 * fsync floor, the bare WebSocket round trip) when given, `ROUNDS` times.
 */
async function throughput(bus: Bus, baselines?: Baselines): Promise<Rates> {
  const ours: Rates = { sync: [], async: [], commits: [], floor: [], echo: [] };
  const publisher = bus.clients.writer.publisher({ window: WINDOW });
  await sequential(200, () => publisher.publish('warmup', { pct: 40 }));
  const payload = new TextEncoder().encode(JSON.stringify({ topic: 'progress', payload: { pct: 40 } }));
  for (let round = 1; round <= ROUNDS; round++) {
    const jetStream = baselines?.jetStream;
    if (jetStream) {
      progress(`round ${round}/${ROUNDS}: JetStream ${fmt(SEQUENTIAL)} sync publishes, ${fmt(PIPELINED)} async (window ${WINDOW})`);
      baselines.nats.sync.push(await sequential(SEQUENTIAL, () => jetStream.js.publish(jetStream.subject, payload)));
      baselines.nats.async.push(await windowed(PIPELINED, WINDOW, () => jetStream.js.publish(jetStream.subject, payload)));
    }
    if (baselines) {
      progress(`round ${round}/${ROUNDS}: fsync floor, ${fmt(SEQUENTIAL)} sequential single-row SQLite commits (WAL, synchronous=FULL)`);
      ours.floor!.push(fsyncFloor(baselines.dir, round));
      progress(`round ${round}/${ROUNDS}: ${fmt(SEQUENTIAL)} bare WebSocket round trips`);
      ours.echo!.push(await sequential(SEQUENTIAL, (i) => baselines.echo.roundTrip(`[{"id":${i},"topic":"progress","payload":{"pct":40},"message_id":"${uuidv7()}"}]`)));
    }
    progress(`round ${round}/${ROUNDS}: bus ${fmt(SEQUENTIAL)} sequential publishes, ${fmt(PIPELINED)} pipelined (window ${WINDOW})`);
    await bus.appends();
    ours.sync.push(await sequential(SEQUENTIAL, () => publisher.publish('progress', { pct: 40 })));
    ours.commits!.push(...(await bus.appends()));
    ours.async.push(await windowed(PIPELINED, WINDOW, () => publisher.publish('progress', { pct: 40 })));
  }
  await publisher.drain();
  return ours;
}

/**
 * The most any design can reach that fsyncs once per sequential publish on this disk: single-row
 * SQLite transactions in WAL mode with synchronous=FULL, back to back, nothing else.
 */
function fsyncFloor(dir: string, round: number): number {
  const db = new Database(join(dir, `floor-${round}.db`));
  db.pragma('journal_mode = WAL');
  db.pragma('synchronous = FULL');
  db.exec('CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT NOT NULL)');
  const insert = db.prepare('INSERT INTO t (body) VALUES (?)');
  const body = JSON.stringify({ topic: 'progress', payload: { pct: 40 } });
  const start = nowMs();
  for (let i = 0; i < SEQUENTIAL; i++) insert.run(body);
  const rate = SEQUENTIAL / ((nowMs() - start) / 1000);
  db.close();
  return rate;
}

interface FanOut {
  /** Publish-to-delivery delays of every delivery (ms). */
  delays: number[];
  /** Publish-to-acknowledgement delays (ms); empty for NATS core, which does not acknowledge. */
  ackDelays: number[];
  elapsedS: number;
  subscribersCpuMs: number;
  publisherCpuMs: number;
}

/**
 * `RATE` publishes per second for `LATENCY_SECONDS`, each stamped with its send time, delivered to
 * `SUBSCRIBERS` subscribers spread over `SUBSCRIBER_PROCESSES` processes; `during` brackets the
 * publishing (server statistics).
 */
async function fanOut(
  subscribe: Omit<Extract<BusRequest, { op: 'subscribe' }>, 'op' | 'subscribers' | 'expected'>,
  publish: (i: number, sent: number) => Promise<unknown> | void,
  during: { before(): Promise<void>; after(): Promise<void> } = { before: async () => {}, after: async () => {} },
): Promise<FanOut> {
  const expected = RATE * LATENCY_SECONDS;
  const groups = Array.from({ length: SUBSCRIBER_PROCESSES }, () => new Child('subscribers'));
  try {
    const delivered = await Promise.all(
      groups.map(async (group, g) => {
        await group.next(); // ready
        const subscribers = Math.floor(SUBSCRIBERS / SUBSCRIBER_PROCESSES) + (g < SUBSCRIBERS % SUBSCRIBER_PROCESSES ? 1 : 0);
        const subscribed = await group.request({ op: 'subscribe', ...subscribe, subscribers, expected });
        if (subscribed.kind !== 'subscribed') throw new Error(`unexpected reply ${subscribed.kind}`);
        return () => group.next();
      }),
    );
    const results = delivered.map((next) => next());
    const ackDelays: number[] = [];
    const cpuFrom = process.cpuUsage();
    await during.before();
    const start = nowMs();
    const sends: Array<Promise<unknown>> = [];
    for (let i = 0; i < expected; i++) {
      const due = start + (i * 1000) / RATE;
      const wait = due - nowMs();
      if (wait > 1) await new Promise((resolve) => setTimeout(resolve, wait));
      const sent = nowMs();
      const acked = publish(i, sent);
      if (acked) sends.push(acked.then(() => ackDelays.push(nowMs() - sent)));
    }
    await Promise.all(sends);
    const replies = await Promise.all(results);
    const elapsedS = (nowMs() - start) / 1000;
    await during.after();
    const cpu = process.cpuUsage(cpuFrom);
    return {
      delays: replies.flatMap((reply) => (reply.kind === 'delivered' ? reply.delays : [])),
      ackDelays,
      elapsedS,
      subscribersCpuMs: replies.reduce((sum, reply) => sum + (reply.kind === 'delivered' ? reply.cpuMs : 0), 0),
      publisherCpuMs: (cpu.user + cpu.system) / 1000,
    };
  } finally {
    await Promise.all(groups.map((group) => group.close()));
  }
}

const ms = (values: number[], p: number) => `${fmt(percentile(values, p), 2)} ms`;

/** `p50 …, p99 …, max … ms over N deliveries`. */
function deliveries(delays: number[]): string {
  return `p50 ${ms(delays, 50)}, p99 ${ms(delays, 99)}, max ${fmt(delays.reduce((a, b) => Math.max(a, b), 0), 2)} ms over ${fmt(delays.length)} deliveries`;
}

/** CPU time as a share of one core over the run. */
const cpuShare = (run: FanOut) => (cpuMs: number) => `${fmt(cpuMs / 10 / run.elapsedS)}%`;

/** What the client processes of a fan-out run cost. */
function clientCpu(run: FanOut): string {
  const percent = cpuShare(run);
  return `subscriber processes CPU ${percent(run.subscribersCpuMs)}, publisher process CPU ${percent(run.publisherCpuMs)}`;
}

/** Publish-to-delivery through the bus: fsync'd commits fanned out to WebSocket subscribers. */
async function latency(bus: Bus): Promise<{ line: string; p99: number }> {
  const { url, missionId, readerToken, writer } = bus.clients;
  const publisher = writer.publisher({ window: WINDOW });
  const from = (await publisher.publish('warmup', {})).sequence + 1;
  let serverFrom: Extract<BusReply, { kind: 'stats' }> | undefined;
  let serverTo: Extract<BusReply, { kind: 'stats' }> | undefined;
  let commits: number[] = [];
  const run = await fanOut(
    { url, token: readerToken, missionId, from, client: SUBSCRIBER_CLIENT },
    (i, sent) => publisher.publish('tick', { i, sent }),
    {
      before: async () => {
        serverFrom = await bus.stats();
        await bus.appends();
      },
      after: async () => {
        serverTo = await bus.stats();
        commits = await bus.appends();
      },
    },
  );
  await publisher.drain();
  const { delays, ackDelays, elapsedS } = run;
  const percent = cpuShare(run);
  const line =
    `(c) bus publish-to-delivery, ${SUBSCRIBERS} WebSocket subscribers (${SUBSCRIBER_CLIENT === 'sdk' ? 'SDK subscriptions' : 'bare WebSockets'} in ${SUBSCRIBER_PROCESSES} processes) at ${fmt(RATE)} events/s for ${LATENCY_SECONDS} s, ` +
    `publisher on the publish channel, fsync'd: ${deliveries(delays)} (target p99 < 10 ms); publish-to-ack p50 ${ms(ackDelays, 50)}, p99 ${ms(ackDelays, 99)}; ` +
    `${fmt((serverTo!.framesEncoded - serverFrom!.framesEncoded) / elapsedS)} commits/s fanned out in ${fmt((serverTo!.sendRounds - serverFrom!.sendRounds) / elapsedS)} send rounds/s, ` +
    `each commit durable after p50 ${ms(commits, 50)}, p99 ${ms(commits, 99)} in the store; ` +
    `server event loop busy ${percent(serverTo!.busyMs - serverFrom!.busyMs)}, ` +
    `server CPU ${percent(serverTo!.cpuMs - serverFrom!.cpuMs)}, ${clientCpu(run)}`;
  return { line, p99: percentile(delays, 99) };
}

/**
 * The same fan-out through NATS core (no persistence, no acknowledgement): one publisher connection,
 * one connection per subscriber in the same processes, each message the same JSON array of one event.
 */
async function natsLatency(): Promise<{ line: string; p99: number } | string> {
  let nc: NatsConnection;
  try {
    nc = await natsConnect({ servers: '127.0.0.1:4222', timeout: 2000 });
  } catch (error) {
    return `NATS core fan-out baseline skipped: NATS not reachable on 127.0.0.1:4222 (${(error as Error).message}); ${NATS_HINT}`;
  }
  const subject = `missionbus_bench_fanout_${process.pid}`;
  try {
    const run = await fanOut({ url: '127.0.0.1:4222', token: '', missionId: subject, from: 1, client: 'nats' }, (i, sent) => {
      const event = { event_type: 'message', sender: 'ezra', sequence: i + 1, timestamp: new Date().toISOString(), topic: 'tick', payload: { i, sent }, message_id: uuidv7() };
      nc.publish(subject, JSON.stringify([event]));
    });
    const line =
      `NATS core, the same fan-out (${SUBSCRIBERS} subscribers in ${SUBSCRIBER_PROCESSES} processes, ${fmt(RATE)} msgs/s, ${LATENCY_SECONDS} s; nothing stored, nothing acknowledged): ` +
      `${deliveries(run.delays)} (baseline); ${clientCpu(run)}`;
    return { line, p99: percentile(run.delays, 99) };
  } finally {
    await nc.close();
  }
}

export async function benchTransport(report: Report): Promise<void> {
  await withTempDir('missionbus-bench-transport-', async (dir) => {
    const all = (rates: number[]) => `[${rates.map((r) => fmt(r)).join(', ')}]`;
    const ratio = (mine: number[], theirs: number[]) => (theirs.length ? ` = ${fmt(median(mine) / median(theirs), 2)}x JetStream` : '');
    if (ONLY !== 'latency') {
      const opened = await openJetStream();
      const jetStream = typeof opened === 'string' ? undefined : opened;
      if (typeof opened === 'string') report(`JetStream comparison skipped: ${opened}`);
      const nats: Rates = { sync: [], async: [] };
      const echo = await openEcho();
      try {
        const full = await Bus.start(dir, 'full', 'full');
        const ours = await throughput(full, { jetStream, nats, dir, echo }).finally(() => full.close());
        const floor = median(ours.floor!);
        // One client awaiting each publish can do no better than a bare round trip plus one fsync'd commit.
        const ceiling = 1 / (1 / median(ours.echo!) + 1 / floor);
        progress("the same with durability 'normal'");
        const normal = await Bus.start(dir, 'normal', 'normal');
        const relaxed = await throughput(normal).finally(() => normal.close());
        if (jetStream) {
          report(
            `JetStream file stream, median of ${ROUNDS}: sync publish ${fmt(median(nats.sync))} msgs/s ${all(nats.sync)}, ` +
              `async window ${WINDOW}: ${fmt(median(nats.async))} msgs/s ${all(nats.async)} (baseline; its acks are not fsync'd by default)`,
          );
        }
        report(
          `(a) bus sequential publish, publish channel, fsync'd ack each, median of ${ROUNDS}: ${fmt(median(ours.sync))} events/s ${all(ours.sync)}` +
            `${ratio(ours.sync, nats.sync)} (target >= 1.0x); a publish takes ${fmt(1000 / median(ours.sync), 2)} ms, of which its store commit ${fmt(median(ours.commits!), 2)} ms (median); ` +
            `fsync floor of this disk, same rounds: ${fmt(floor)} commits/s ${all(ours.floor!)}; bare WebSocket round trips ${fmt(median(ours.echo!))}/s ${all(ours.echo!)}; ` +
            `so no client awaiting each fsync'd publish over a WebSocket can exceed ${fmt(ceiling)}/s here (round trip + commit back to back) = ` +
            `${fmt(ceiling / median(nats.sync.length ? nats.sync : [NaN]), 2)}x JetStream sync; the bus reaches ${fmt(median(ours.sync) / ceiling, 2)}x of that ceiling`,
        );
        report(
          `(b) bus pipelined publish, publish channel, window ${WINDOW}, fsync'd acks, median of ${ROUNDS}: ${fmt(median(ours.async))} events/s ${all(ours.async)}` +
            `${ratio(ours.async, nats.async)} (target >= 2.0x)`,
        );
        report(
          `same with durability 'normal' (acked before fsync, as JetStream by default), median of ${ROUNDS}: sequential ${fmt(median(relaxed.sync))} events/s ${all(relaxed.sync)}` +
            `${ratio(relaxed.sync, nats.sync)}, pipelined ${fmt(median(relaxed.async))} events/s ${all(relaxed.async)}${ratio(relaxed.async, nats.async)}`,
        );
      } finally {
        await echo.close();
        await jetStream?.done();
      }
    }
    if (ONLY !== 'throughput') {
      progress(`latency with ${SUBSCRIBERS} subscribers: the bus`);
      const bus = await Bus.start(dir, 'latency', 'full');
      const ours = await latency(bus).finally(() => bus.close());
      progress(`latency with ${SUBSCRIBERS} subscribers: NATS core`);
      const nats = await natsLatency();
      if (typeof nats === 'string') {
        report(ours.line);
        report(nats);
      } else {
        report(nats.line);
        report(`${ours.line}; p99 = ${fmt(ours.p99 / nats.p99, 2)}x NATS core's (lower is better)`);
      }
    }
  });
}
