/**
 * One mission, live in this process: its state, a queue of commands, and the committed stream fanned
 * out to subscribers.
 *
 * Commands are decided in arrival order against the state, applied at once (so the next command in the
 * same batch sees them), and appended as one batch; callers are answered only after the store made the
 * batch durable. If the store refuses the batch, every applied event is undone. If another writer
 * (another bus instance on the same PostgreSQL) got there first, the mission catches up from the store
 * and decides the batch again.
 */
import { execute, authorize, deniedError, type Command, type CommandContext } from '../core/commands.js';
import { ConflictError, NotFoundError } from '../core/errors.js';
import {
  STATELESS_EVENT_TYPES,
  eventId,
  type AuditRecord,
  type CheckpointEvent,
  type MessageEvent,
  type MissionEvent,
  type ResumePacket,
} from '../core/events.js';
import type { MissionState, Undo } from '../core/mission-state.js';
import { buildResumePacket } from '../core/resume-packet.js';
import { missionToDict, type ExportOptions, type MissionDict } from '../core/dict.js';
import type { CommandSchemas } from '../core/schemas.js';
import type { Credential, EventStore, StoredAudit, StoredEvent } from '../store/contract.js';

/** At most this many commands go into one transaction. */
const MAX_BATCH = 4096;
/** Catch-up-and-retry rounds before a batch that keeps losing the race is refused. */
const MAX_CONFLICT_RETRIES = 50;

export interface RunOptions {
  /** Written in the same transaction as the event, only if the command succeeds. */
  credentials?: Credential[];
}

interface StoredMessage {
  event: MessageEvent;
  body: string;
}

interface QueuedCommand {
  actor: string;
  command: Command;
  options: RunOptions;
  resolve: (result: CommandResult) => void;
  reject: (error: unknown) => void;
}

interface QueuedAudit {
  record: AuditRecord;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** What a command produced, once durable. */
export interface CommandResult {
  event: MissionEvent;
  /** The event's JSON exactly as stored and streamed: serialize nothing again. */
  body: string;
  /** False when an idempotent publish found its message already in the stream. */
  created: boolean;
}

export type CommittedListener = (events: readonly StoredEvent[]) => void;

export interface MissionContext {
  store: EventStore;
  schemas: CommandSchemas;
  now(): string;
  newId(): string;
}

export class LiveMission {
  private commands: QueuedCommand[] = [];
  private audits: QueuedAudit[] = [];
  private draining = false;
  /** Highest sequence another process is known to have appended; caught up to before the next decision. */
  private catchUpTo = 0;
  private catchUpFailures = 0;
  private readonly listeners = new Set<CommittedListener>();
  /** The last sequence the store has made durable; subscribers never see beyond it. */
  private committed: number;

  constructor(
    readonly state: MissionState,
    private readonly ctx: MissionContext,
  ) {
    this.committed = state.lastSequence;
  }

  get missionId(): string {
    return this.state.missionId;
  }

  get committedSequence(): number {
    return this.committed;
  }

  /** Decides and durably appends one command as `actor`. Resolves with the event once it is durable. */
  async run(actor: string, command: Command, options: RunOptions = {}): Promise<MissionEvent> {
    return (await this.submit(actor, command, options)).event;
  }

  /** Like `run`, with the stored JSON of the event and whether it was created now. */
  submit(actor: string, command: Command, options: RunOptions = {}): Promise<CommandResult> {
    return new Promise((resolve, reject) => {
      this.commands.push({ actor, command, options, resolve, reject });
      this.scheduleDrain();
    });
  }

  /**
   * Records a decision that appends no event — `read`, `audit`, or `checkpoint` for uploading a
   * checkpoint's artifact blobs — for `actor` in the audit log and throws `PermissionDeniedError` when
   * denied. Resolves once the audit record is durable.
   */
  async authorize(actor: string, action: 'read' | 'audit' | 'checkpoint', target: string | null = null): Promise<void> {
    const record = authorize(this.state, actor, action, target, this.ctx.now());
    await new Promise<void>((resolve, reject) => {
      this.audits.push({ record, resolve, reject });
      this.scheduleDrain();
    });
    if (record.outcome === 'denied') throw deniedError(record);
  }

  /** Reads committed events (the caller has authorized the read). */
  readEvents(fromSequence: number, limit: number): Promise<StoredEvent[]> {
    return this.ctx.store.readEvents(this.missionId, Math.max(1, fromSequence), limit);
  }

  readAudit(afterId: number, limit: number): Promise<StoredAudit[]> {
    return this.ctx.store.readAudit(this.missionId, afterId, limit);
  }

  async getEvent(id: string): Promise<MissionEvent | undefined> {
    const stored = await this.ctx.store.getEvent(this.missionId, id);
    return stored && (JSON.parse(stored.body) as MissionEvent);
  }

  /** The resume packet of a handoff: indexed lookups only, so it costs the same at any stream length. */
  async resumePacket(handoffId: string): Promise<ResumePacket> {
    const handoff = this.state.handoff(handoffId);
    const checkpoint = (await this.getEvent(handoff.checkpoint_id)) as CheckpointEvent;
    return buildResumePacket(this.state, handoffId, checkpoint);
  }

  /** The mission in the seed's `to_dict` shape, read from the store. */
  async toDict(options: ExportOptions = {}): Promise<MissionDict> {
    const events: MissionEvent[] = [];
    for await (const stored of this.ctx.store.iterateEvents(this.missionId)) events.push(JSON.parse(stored.body) as MissionEvent);
    return missionToDict(this.state, events, options);
  }

  /** Calls `listener` with each committed batch, in order. Used by subscriptions. */
  onCommitted(listener: CommittedListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /**
   * The store says the mission reached `lastSequence`. If that is beyond what this process committed
   * (another process appended), fold those events in before deciding anything else. Checked when the
   * drain runs, so the notice of this process's own append costs nothing.
   */
  requestCatchUp(lastSequence: number): void {
    if (lastSequence <= this.committed) return;
    this.catchUpTo = Math.max(this.catchUpTo, lastSequence);
    this.scheduleDrain();
  }

  /** Resolves when everything queued so far is committed or refused. */
  async idle(): Promise<void> {
    while (this.draining) await new Promise((resolve) => setImmediate(resolve));
  }

  private scheduleDrain(): void {
    if (this.draining) return;
    this.draining = true;
    // Let every caller of this turn of the event loop queue up first: that is the group in group commit.
    setImmediate(() => void this.drain());
  }

  private async drain(): Promise<void> {
    try {
      while (this.commands.length > 0 || this.audits.length > 0 || this.catchUpTo > this.committed) {
        if (this.catchUpTo > this.committed && !(await this.tryCatchUp())) {
          // The store is unreachable; commands still go ahead (a stale one conflicts and catches up then).
          if (this.commands.length === 0 && this.audits.length === 0) break;
        }
        if (this.commands.length === 0 && this.audits.length === 0) continue;
        const batch = this.commands.splice(0, MAX_BATCH);
        const audits = this.audits.splice(0);
        try {
          await this.commit(batch, audits);
        } catch (error) {
          // A store read failed (prefetch or catch-up): answer every caller rather than leave it hanging.
          for (const entry of batch) entry.reject(error);
          for (const entry of audits) entry.reject(error);
        }
      }
    } finally {
      this.draining = false;
    }
  }

  /** Catches up; on a store error, tries again later with a growing delay. Returns whether it succeeded. */
  private async tryCatchUp(): Promise<boolean> {
    try {
      await this.catchUp();
      this.catchUpFailures = 0;
      return true;
    } catch {
      const delay = Math.min(5_000, 100 * 2 ** this.catchUpFailures++);
      setTimeout(() => this.scheduleDrain(), delay).unref();
      return false;
    }
  }

  private async catchUp(): Promise<void> {
    const announced = this.catchUpTo;
    const fresh: StoredEvent[] = [];
    for await (const stored of this.ctx.store.iterateEvents(this.missionId, this.committed + 1)) {
      applyStoredEvent(this.state, stored);
      fresh.push(stored);
    }
    if (fresh.length > 0) {
      this.committed = this.state.lastSequence;
      this.emit(fresh);
    }
    // What was announced before the read began is now read (or cannot be, and a later notice raises it
    // again). A notice that came in during the read may name events the read was too early to see: it
    // stays, and the drain catches up again.
    if (this.catchUpTo === announced) this.catchUpTo = Math.min(this.catchUpTo, this.committed);
  }


  private async commit(batch: QueuedCommand[], audits: QueuedAudit[]): Promise<void> {
    const knownMessages = await this.prefetchMessages(batch);
    const unstoredBlobs = await this.prefetchUnstoredBlobs(batch);
    for (let attempt = 0; ; attempt++) {
      const pendingMessages = new Map<string, StoredMessage>();
      const ctx: CommandContext = {
        ...this.ctx,
        findMessage: (id) => (pendingMessages.get(id) ?? knownMessages.get(id))?.event,
        isBlobStored: (sha256) => !unstoredBlobs.has(sha256),
      };
      const undos: Undo[] = [];
      const stored: StoredEvent[] = [];
      const records = audits.map((entry) => entry.record);
      const credentials: Credential[] = [];
      const results: Array<CommandResult | { error: unknown }> = batch.map(({ actor, command, options }) => {
        const outcome = execute(this.state, actor, command, ctx);
        records.push(outcome.audit);
        if (outcome.error) return { error: outcome.error };
        if (outcome.existing) {
          const known = (pendingMessages.get(outcome.existing.message_id) ?? knownMessages.get(outcome.existing.message_id))!;
          return { event: known.event, body: known.body, created: false };
        }
        const event = outcome.event!;
        const body = JSON.stringify(event);
        undos.push(this.state.apply(event));
        stored.push({ sequence: event.sequence, event_type: event.event_type, event_id: eventId(event), body });
        if (event.event_type === 'message') pendingMessages.set(event.message_id, { event, body });
        if (options.credentials) credentials.push(...options.credentials);
        return { event, body, created: true };
      });
      // Something another instance just created may not have reached this one yet: look once before refusing.
      if (attempt === 0 && results.some((r) => 'error' in r && r.error instanceof NotFoundError) && (await this.storeIsAhead())) {
        for (let i = undos.length - 1; i >= 0; i--) undos[i]!();
        await this.catchUp();
        continue;
      }
      try {
        await this.ctx.store.append({
          mission_id: this.missionId,
          expected_sequence: this.committed,
          events: stored,
          audit: records,
          credentials,
        });
      } catch (error) {
        for (let i = undos.length - 1; i >= 0; i--) undos[i]!();
        if (isRaceLost(error) && attempt < MAX_CONFLICT_RETRIES) {
          // Random, growing pause: without it the instance that just won keeps winning.
          await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)));
          await this.catchUp();
          for (const [id, event] of await this.prefetchMessages(batch)) knownMessages.set(id, event);
          continue;
        }
        for (const entry of batch) entry.reject(error);
        for (const entry of audits) entry.reject(error);
        return;
      }
      if (stored.length > 0) {
        this.committed = this.state.lastSequence;
        this.emit(stored);
      }
      batch.forEach((entry, index) => {
        const result = results[index]!;
        if ('error' in result) entry.reject(result.error);
        else entry.resolve(result);
      });
      for (const entry of audits) entry.resolve();
      return;
    }
  }

  private async storeIsAhead(): Promise<boolean> {
    const record = await this.ctx.store.getMission(this.missionId);
    return record !== undefined && record.last_sequence > this.committed;
  }

  /** Which blobs the batch's checkpoints refer to that the mission has not stored. */
  private async prefetchUnstoredBlobs(batch: QueuedCommand[]): Promise<Set<string>> {
    const wanted = new Set<string>();
    for (const { command } of batch) {
      if (command.kind !== 'checkpoint' || !Array.isArray(command.files)) continue;
      for (const file of command.files) if (typeof file?.sha256 === 'string') wanted.add(file.sha256);
    }
    return new Set(wanted.size === 0 ? [] : await this.ctx.store.missingBlobs(this.missionId, [...wanted]));
  }

  /** Loads, from the store, the messages whose ids this batch's publishes carry (idempotent publish). */
  private async prefetchMessages(batch: QueuedCommand[]): Promise<Map<string, StoredMessage>> {
    const ids = new Set<string>();
    for (const { command } of batch) if (command.kind === 'publish' && typeof command.message_id === 'string') ids.add(command.message_id);
    const found = new Map<string, StoredMessage>();
    if (ids.size === 0) return found;
    for (const stored of await this.ctx.store.getEvents(this.missionId, [...ids])) {
      if (stored.event_type === 'message') found.set(stored.event_id, { event: JSON.parse(stored.body) as MessageEvent, body: stored.body });
    }
    return found;
  }

  private emit(events: readonly StoredEvent[]): void {
    for (const listener of this.listeners) {
      try {
        listener(events);
      } catch {
        // A subscriber's failure is the subscriber's; it must not break the commit path or other subscribers.
      }
    }
  }
}

/** Folds a stored event into a state; events that only advance the sequence are not parsed. */
export function applyStoredEvent(state: MissionState, stored: StoredEvent): void {
  if (STATELESS_EVENT_TYPES.has(stored.event_type)) state.advance(stored.sequence);
  else state.apply(JSON.parse(stored.body) as MissionEvent);
}

function isRaceLost(error: unknown): boolean {
  return (
    error instanceof ConflictError &&
    (error.details.reason === 'sequence' || error.details.reason === 'duplicate_id')
  );
}

