/**
 * One bench instance in its own process (spawned by bench/postgres.ts with `node --import tsx`): a
 * MissionService over its own PostgresStore and pool, with writers publishing to its own missions.
 */
import { MissionService } from '../src/service/mission-service.js';
import type { LiveMission } from '../src/service/live-mission.js';
import { PostgresStore, type PostgresStoreOptions } from '../src/store/postgres.js';

export type BenchRequest =
  | { op: 'open'; url: string; options: PostgresStoreOptions; missions: string[] }
  | { op: 'run'; writers: number; inFlight: number; warmupMs: number; durationMs: number }
  | { op: 'close' };

export interface RunResult {
  acked: number;
  seconds: number;
  /** Sum of the missions' last sequences at the end (setup events included). */
  sequences: number;
  /** CPU time this process used inside the measured window. */
  cpuMs: number;
}

export type BenchReply =
  | { kind: 'ready' }
  | { kind: 'done'; op: string; value?: unknown }
  | { kind: 'progress'; acked: number }
  | { kind: 'failed'; message: string };

let service: MissionService | undefined;
let missions: LiveMission[] = [];
const send = (reply: BenchReply) => process.send!(reply);

async function open(request: Extract<BenchRequest, { op: 'open' }>): Promise<void> {
  service = new MissionService({ store: await PostgresStore.open(request.url, request.options) });
  missions = [];
  for (const id of request.missions) {
    const mission = await service.createMission({ mission_id: id, lead: { name: 'timmy' } });
    await mission.run('timmy', { kind: 'add_participant', name: 'ezra', role: 'write' });
    missions.push(mission);
  }
}

/** Every writer keeps `inFlight` publishes outstanding; counts those acknowledged inside the window. */
async function run(request: Extract<BenchRequest, { op: 'run' }>): Promise<RunResult> {
  const start = Date.now();
  let cpuFrom: NodeJS.CpuUsage | undefined;
  let cpu = 0;
  const window = setTimeout(() => (cpuFrom = process.cpuUsage()), request.warmupMs);
  const windowEnd = setTimeout(() => {
    const used = process.cpuUsage(cpuFrom);
    cpu = (used.user + used.system) / 1000;
  }, request.warmupMs + request.durationMs);
  const from = start + request.warmupMs;
  const until = from + request.durationMs;
  let acked = 0;
  const ticker = setInterval(() => send({ kind: 'progress', acked }), 500);
  await Promise.all(
    Array.from({ length: request.writers }, async (_, writer) => {
      const mission = missions[writer % missions.length]!;
      let i = 0;
      const lane = async () => {
        while (Date.now() < until) {
          await mission.run('ezra', { kind: 'publish', topic: 'progress', payload: { writer, i: i++ } });
          const now = Date.now();
          if (now >= from && now < until) acked++;
        }
      };
      await Promise.all(Array.from({ length: request.inFlight }, lane));
    }),
  );
  clearInterval(ticker);
  clearTimeout(window);
  clearTimeout(windowEnd);
  const sequences = missions.reduce((sum, mission) => sum + mission.committedSequence, 0);
  return { acked, seconds: request.durationMs / 1000, sequences, cpuMs: cpu };
}

process.on('message', (request: BenchRequest) => {
  const work = request.op === 'open' ? open(request) : request.op === 'run' ? run(request) : (service?.close() ?? Promise.resolve());
  work.then(
    (value) => send({ kind: 'done', op: request.op, value }),
    (error: unknown) => send({ kind: 'failed', message: error instanceof Error ? (error.stack ?? error.message) : String(error) }),
  );
});
process.on('disconnect', () => void (service?.close() ?? Promise.resolve()).finally(() => process.exit(0)));
send({ kind: 'ready' });
