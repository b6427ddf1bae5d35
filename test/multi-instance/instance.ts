/**
 * One missionbus instance in its own process: a PostgresStore (own pool, own LISTEN connection) and a
 * MissionService, driven by the parent over the IPC channel (see harness.ts). Spawned with
 * `node --import tsx test/multi-instance/instance.ts`.
 *
 * Ops are plain functions of JSON arguments so a test can add its own; an HTTP server instance can be
 * driven the same way once it exists.
 */
import type { Command } from '../../src/core/commands.js';
import { ConflictError, MissionBusError, UnavailableError } from '../../src/core/errors.js';
import type { MissionEvent } from '../../src/core/events.js';
import { MissionService } from '../../src/service/mission-service.js';
import { Subscription } from '../../src/service/subscription.js';
import { PostgresStore, type PostgresStoreOptions } from '../../src/store/postgres.js';

export interface Request {
  id: number;
  op: string;
  args: Record<string, unknown>;
}

export type Reply = { id: number; ok: true; value: unknown } | { id: number; ok: false; error: WireError };

export interface WireError {
  name: string;
  code?: string;
  message: string;
  details?: unknown;
}

export interface PublishLoopResult {
  acked: Array<{ message_id: string; sequence: number }>;
  /** Refused attempts by error name (each retried when retryable). */
  refusals: Record<string, number>;
  /** Errors that ended the loop: none expected. */
  failures: WireError[];
}

let service: MissionService | undefined;
const subscriptions = new Map<string, { subscription: Subscription; delivered: Array<[number, string]> }>();
const auditTails = new Map<string, { ids: number[]; after: number; stop: boolean; done: Promise<void> }>();

function requireService(): MissionService {
  if (!service) throw new Error('instance is not open: send op "open" first');
  return service;
}

const ops: Record<string, (args: any) => Promise<unknown>> = {
  async open(args: { url: string } & PostgresStoreOptions) {
    const { url, ...options } = args;
    service = new MissionService({ store: await PostgresStore.open(url, options) });
    return process.pid;
  },

  async createMission(args: { mission_id: string; lead: string }) {
    const mission = await requireService().createMission({ mission_id: args.mission_id, lead: { name: args.lead } });
    return mission.committedSequence;
  },

  async run(args: { mission_id: string; actor: string; command: Command }): Promise<MissionEvent> {
    const mission = await requireService().open(args.mission_id);
    return mission.run(args.actor, args.command);
  },

  /** Subscribes from sequence 1, recording [sequence, event id] of every delivered event. */
  async subscribe(args: { mission_id: string }) {
    const mission = await requireService().open(args.mission_id);
    const delivered: Array<[number, string]> = [];
    const subscription = new Subscription(mission, 1, {
      deliver: (events) => {
        for (const event of events) delivered.push([event.sequence, event.event_id]);
      },
    });
    subscriptions.set(args.mission_id, { subscription, delivered });
    await subscription.ready;
    return subscription.lastDelivered;
  },

  /** Waits until the subscription delivered `sequence`; returns everything it delivered. */
  async delivered(args: { mission_id: string; sequence?: number; timeoutMs?: number }) {
    const entry = subscriptions.get(args.mission_id);
    if (!entry) throw new Error(`no subscription to mission '${args.mission_id}'`);
    const deadline = Date.now() + (args.timeoutMs ?? 10_000);
    while (entry.subscription.lastDelivered < (args.sequence ?? 0) && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return entry.delivered;
  },

  /**
   * Publishes `count` messages one after another with message ids `<prefix>-<i>`, repeating a refused
   * publish when the error is retryable (UnavailableError; ConflictError on sequence after the service
   * gave up its own retries). Idempotent publish makes a repeat of an applied-but-unacknowledged publish
   * return the original event.
   */
  async publishLoop(args: { mission_id: string; actor: string; count: number; prefix: string; retryDelayMs?: number; deadlineMs?: number }) {
    const result: PublishLoopResult = { acked: [], refusals: {}, failures: [] };
    const deadline = Date.now() + (args.deadlineMs ?? 60_000);
    for (let i = 0; i < args.count; i++) {
      const message_id = `${args.prefix}-${i}`;
      for (;;) {
        try {
          const mission = await requireService().open(args.mission_id);
          const event = await mission.run(args.actor, { kind: 'publish', topic: 'work', payload: { writer: args.prefix, i }, message_id });
          result.acked.push({ message_id, sequence: event.sequence });
          break;
        } catch (error) {
          const retryable =
            error instanceof UnavailableError || (error instanceof ConflictError && error.details.reason === 'sequence');
          const name = error instanceof Error ? error.name : 'unknown';
          result.refusals[name] = (result.refusals[name] ?? 0) + 1;
          if (!retryable || Date.now() > deadline) {
            result.failures.push(toWire(error));
            return result;
          }
          await new Promise((resolve) => setTimeout(resolve, args.retryDelayMs ?? 50));
        }
      }
    }
    return result;
  },

  /** Records `count` read decisions for `actor` (audit-only batches: no event, one audit record each). */
  async authorizeLoop(args: { mission_id: string; actor: string; count: number }) {
    const mission = await requireService().open(args.mission_id);
    for (let i = 0; i < args.count; i++) await mission.authorize(args.actor, 'read', `probe-${i}`);
    return args.count;
  },

  /** Starts paging the audit log by id, as an auditor tailing it would, until `stopAuditTail`. */
  async startAuditTail(args: { mission_id: string }) {
    const mission = await requireService().open(args.mission_id);
    const tail = { ids: [] as number[], after: 0, stop: false, done: Promise.resolve() };
    const page = async () => {
      const records = await mission.readAudit(tail.after, 100);
      for (const record of records) tail.ids.push(record.audit_id);
      if (records.length > 0) tail.after = records.at(-1)!.audit_id;
      return records.length;
    };
    tail.done = (async () => {
      while (!tail.stop) if ((await page()) === 0) await new Promise((resolve) => setTimeout(resolve, 2));
      while ((await page()) > 0);
    })();
    auditTails.set(args.mission_id, tail);
    return true;
  },

  /** Stops the tail after reading to the end; returns every id it saw, in the order it saw them. */
  async stopAuditTail(args: { mission_id: string }) {
    const tail = auditTails.get(args.mission_id);
    if (!tail) throw new Error(`no audit tail on mission '${args.mission_id}'`);
    tail.stop = true;
    await tail.done;
    return tail.ids;
  },

  /** Every audit id of the mission, read from 0 at once. */
  async auditIds(args: { mission_id: string }) {
    const mission = await requireService().open(args.mission_id);
    const ids: number[] = [];
    for (let after = 0; ; ) {
      const records = await mission.readAudit(after, 1000);
      if (records.length === 0) return ids;
      for (const record of records) ids.push(record.audit_id);
      after = records.at(-1)!.audit_id;
    }
  },

  async close() {
    for (const { subscription } of subscriptions.values()) subscription.close();
    await service?.close();
    service = undefined;
    return true;
  },
};

function toWire(error: unknown): WireError {
  if (error instanceof MissionBusError) return { name: error.name, code: error.code, message: error.message, details: error.details };
  if (error instanceof Error) return { name: error.name, message: error.stack ?? error.message };
  return { name: 'unknown', message: String(error) };
}

process.on('message', (request: Request) => {
  const op = ops[request.op];
  const reply = (message: Reply) => process.send!(message);
  if (!op) return reply({ id: request.id, ok: false, error: { name: 'Error', message: `unknown op '${request.op}'` } });
  op(request.args).then(
    (value) => reply({ id: request.id, ok: true, value }),
    (error: unknown) => reply({ id: request.id, ok: false, error: toWire(error) }),
  );
});
process.on('disconnect', () => {
  void ops.close!({}).finally(() => process.exit(0));
});
process.send!({ id: 0, ok: true, value: 'ready' } satisfies Reply);
