/**
 * The bus side of bench/transport.ts, in child processes (spawned with `node --import tsx`), so that no
 * two roles share an event loop:
 *
 * - `server` (default): the bus server, as nats-server runs in its own process. It serves a fresh SQLite
 *   store (durability 'full': every ack waits for fsync; or 'normal') on a free TCP port, with one
 *   mission, a writer and a reader.
 * - `subscribers`: a group of live WebSocket subscribers (the SDK's `subscribe`), each recording the
 *   publish-to-delivery delay of every message; 100 subscribers are separate agents in real life, not
 *   one event loop. Delays use the monotonic clock, which every process on the machine shares. With
 *   `client: 'nats'` they are NATS core subscribers instead (the baseline of the same fan-out).
 * - `echo`: a bare WebSocket echo server, for the round-trip floor of one publish.
 *
 * Both answer over IPC.
 */
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { WebSocket, WebSocketServer } from 'ws';
import { connect as natsConnect } from '@nats-io/transport-node';
import { MissionClient } from '../src/client/client.js';
import type { MissionEvent } from '../src/core/events.js';
import { startServer, type MissionServer } from '../src/server/server.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { nowMs } from './lib.js';

export type BusRequest =
  | { op: 'start'; dir: string; name: string; durability: 'full' | 'normal' }
  | {
      op: 'subscribe';
      /** The bus's URL, or for `nats` the NATS server's address. */
      url: string;
      token: string;
      /** The mission, or for `nats` the subject. */
      missionId: string;
      from: number;
      subscribers: number;
      expected: number;
      /**
       * `sdk`: the SDK's `MissionSubscription` (an async iterator, one event at a time); `raw`: a bare
       * WebSocket reading the frames; `nats`: a NATS core connection and subscription per subscriber.
       */
      client: 'sdk' | 'raw' | 'nats';
    }
  | { op: 'echo' }
  | { op: 'stats' }
  | { op: 'appends' }
  | { op: 'close' };

export type BusReply =
  | { kind: 'ready' }
  | { kind: 'started'; url: string; missionId: string; writer: string; reader: string }
  | { kind: 'echoing'; url: string }
  | { kind: 'subscribed' }
  /** Publish-to-delivery delays in ms, every subscriber's, for messages whose payload carries `sent`. */
  | { kind: 'delivered'; delays: number[]; cpuMs: number }
  /** Cumulative since the process started: CPU time, event-loop busy time, live frames encoded (one per committed batch). */
  | { kind: 'stats'; cpuMs: number; busyMs: number; framesEncoded: number; sendRounds: number; appends: number }
  /** The store appends' durations (ms) since the last `appends` request. */
  | { kind: 'appends'; durations: number[] }
  | { kind: 'closed'; framesEncoded: number; cpuMs: number }
  | { kind: 'failed'; message: string };

const send = (reply: BusReply) => process.send!(reply);
let server: MissionServer | undefined;

/** How long each store append took to become durable (the fsync, and waiting for the commit's turn), in ms. */
const appends: number[] = [];

async function start(request: Extract<BusRequest, { op: 'start' }>): Promise<BusReply> {
  const store = new SqliteStore(join(request.dir, `${request.name}.db`), { durability: request.durability });
  const append = store.append.bind(store);
  store.append = async (batch) => {
    const started = nowMs();
    await append(batch);
    appends.push(nowMs() - started);
  };
  server = await startServer({
    store,
    port: 0,
    socketPath: null,
    logLevel: 'silent',
    ...(process.env.MISSIONBUS_BENCH_SEND_SHARE ? { stream: { sendShare: Number(process.env.MISSIONBUS_BENCH_SEND_SHARE) } } : {}),
  });
  const missionId = 'bench';
  const admin = new MissionClient({ url: server.url! });
  const created = await admin.createMission({ mission_id: missionId, lead: { name: 'timmy' } });
  const lead = admin.withToken(created.token, missionId);
  const writer = (await lead.addParticipant('ezra', 'write')).token;
  const reader = (await lead.addParticipant('reader', 'read')).token;
  admin.close();
  return { kind: 'started', url: server.url!, missionId, writer, reader };
}

/** Replies `subscribed` once every subscriber is connected, then `delivered` once each saw `expected` events. */
async function subscribe(request: Extract<BusRequest, { op: 'subscribe' }>): Promise<BusReply> {
  if (request.client === 'nats') return subscribeNats(request);
  return request.client === 'raw' ? subscribeRaw(request) : subscribeSdk(request);
}

/**
 * NATS core subscribers, one connection each, on messages shaped like the bus's WebSocket frames (a
 * JSON array of events): the same fan-out through nats-server, parsed the same way.
 */
async function subscribeNats(request: Extract<BusRequest, { op: 'subscribe' }>): Promise<BusReply> {
  const delays: number[] = [];
  let received = 0;
  const total = request.subscribers * request.expected;
  const connections = await Promise.all(Array.from({ length: request.subscribers }, () => natsConnect({ servers: request.url })));
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => (finish = resolve));
  for (const nc of connections) {
    nc.subscribe(request.missionId, {
      max: request.expected,
      callback: (_error, message) => {
        const now = nowMs();
        for (const event of JSON.parse(message.string()) as MissionEvent[]) {
          if (event.event_type === 'message' && typeof event.payload.sent === 'number') delays.push(now - event.payload.sent);
        }
        if (++received === total) finish();
      },
    });
  }
  await Promise.all(connections.map((nc) => nc.flush()));
  const cpuFrom = process.cpuUsage();
  send({ kind: 'subscribed' });
  // NATS core drops messages for a subscriber that falls too far behind: stop waiting at some point and
  // report what arrived (the count shows in the report).
  const deadline = setTimeout(finish, request.expected + 30_000);
  await finished;
  clearTimeout(deadline);
  const cpu = process.cpuUsage(cpuFrom);
  await Promise.all(connections.map((nc) => nc.close()));
  return { kind: 'delivered', delays, cpuMs: (cpu.user + cpu.system) / 1000 };
}

let echoServer: WebSocketServer | undefined;

/** A WebSocket server that sends every message straight back. */
async function echo(): Promise<BusReply> {
  const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, perMessageDeflate: false });
  echoServer = wss;
  wss.on('connection', (ws) => ws.on('message', (data: Buffer, isBinary) => ws.send(data, { binary: isBinary })));
  await new Promise((resolve) => wss.once('listening', resolve));
  const { port } = wss.address() as { port: number };
  return { kind: 'echoing', url: `ws://127.0.0.1:${port}` };
}

async function subscribeSdk(request: Extract<BusRequest, { op: 'subscribe' }>): Promise<BusReply> {
  const client = new MissionClient({ url: request.url, token: request.token, missionId: request.missionId });
  const delays: number[] = [];
  let connected = 0;
  let cpuFrom: NodeJS.CpuUsage | undefined;
  const subscriptions = Array.from({ length: request.subscribers }, () =>
    client.subscribe({
      from: request.from,
      onStatus: (status) => {
        if (status.type === 'connected' && ++connected === request.subscribers) {
          cpuFrom = process.cpuUsage();
          send({ kind: 'subscribed' });
        }
      },
    }),
  );
  await Promise.all(
    subscriptions.map(async (subscription) => {
      let seen = 0;
      for await (const event of subscription) {
        if (event.event_type === 'message' && typeof event.payload.sent === 'number') delays.push(nowMs() - event.payload.sent);
        if (++seen >= request.expected) break;
      }
    }),
  );
  const cpu = process.cpuUsage(cpuFrom);
  client.close();
  return { kind: 'delivered', delays, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function stats(): BusReply {
  const cpu = process.cpuUsage();
  return {
    kind: 'stats',
    cpuMs: (cpu.user + cpu.system) / 1000,
    busyMs: performance.eventLoopUtilization().active,
    framesEncoded: server?.stats().framesEncoded ?? 0,
    sendRounds: server?.stats().sendRounds ?? 0,
    appends: appends.length,
  };
}

/**
 * Bare WebSocket subscribers on the documented wire format (each message a JSON array of events in
 * sequence order): the bus's delivery without the SDK's per-event iteration. Each still checks that
 * sequences arrive contiguous, and fails on a gap.
 */
async function subscribeRaw(request: Extract<BusRequest, { op: 'subscribe' }>): Promise<BusReply> {
  const delays: number[] = [];
  let connected = 0;
  let cpuFrom: NodeJS.CpuUsage | undefined;
  const url = `${request.url.replace(/^http/, 'ws')}/v1/missions/${encodeURIComponent(request.missionId)}/ws?from=${request.from}`;
  await Promise.all(
    Array.from(
      { length: request.subscribers },
      () =>
        new Promise<void>((resolve, reject) => {
          const ws = new WebSocket(url, { headers: { Authorization: `Bearer ${request.token}` }, perMessageDeflate: false });
          let next = request.from;
          ws.on('open', () => {
            if (++connected === request.subscribers) {
              cpuFrom = process.cpuUsage();
              send({ kind: 'subscribed' });
            }
          });
          ws.on('message', (data: Buffer) => {
            const events = JSON.parse(data.toString()) as MissionEvent[];
            const now = nowMs();
            for (const event of events) {
              if (event.sequence !== next) {
                reject(new Error(`expected sequence ${next}, got ${event.sequence}`));
                ws.terminate();
                return;
              }
              next++;
              if (event.event_type === 'message' && typeof event.payload.sent === 'number') delays.push(now - event.payload.sent);
            }
            if (next - request.from >= request.expected) {
              ws.close();
              resolve();
            }
          });
          ws.on('error', reject);
          ws.on('close', () => reject(new Error('subscriber disconnected')));
        }),
    ),
  );
  const cpu = process.cpuUsage(cpuFrom);
  return { kind: 'delivered', delays, cpuMs: (cpu.user + cpu.system) / 1000 };
}

async function close(): Promise<BusReply> {
  for (const client of echoServer?.clients ?? []) client.terminate();
  echoServer?.close();
  const framesEncoded = server?.stats().framesEncoded ?? 0;
  await server?.close();
  server = undefined;
  const cpu = process.cpuUsage();
  return { kind: 'closed', framesEncoded, cpuMs: (cpu.user + cpu.system) / 1000 };
}

function handle(request: BusRequest): Promise<BusReply> {
  switch (request.op) {
    case 'start':
      return start(request);
    case 'subscribe':
      return subscribe(request);
    case 'echo':
      return echo();
    case 'stats':
      return Promise.resolve(stats());
    case 'appends':
      return Promise.resolve({ kind: 'appends', durations: appends.splice(0) });
    case 'close':
      return close();
  }
}

process.on('message', (request: BusRequest) => {
  const work = handle(request);
  work.then(
    (reply) => {
      // After the last reply, exit normally (not killed) so that --cpu-prof writes its profile.
      process.send!(reply, () => (request.op === 'subscribe' || request.op === 'close') && process.disconnect());
    },
    (error: unknown) => send({ kind: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
process.on('disconnect', () => void close().finally(() => process.exit(0)));
send({ kind: 'ready' });
