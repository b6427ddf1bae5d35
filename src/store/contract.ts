/**
 * The one storage contract every backend implements (memory, SQLite, PostgreSQL). Small on purpose:
 * stores know rows, sequences and transactions; the rules of a mission live in src/core.
 *
 * Events cross this boundary already serialized (`body` is the event's JSON), so an event is
 * serialized once and the same string is stored and fanned out.
 */
import type { AuditRecord } from '../core/events.js';
import type { MissionHeader } from '../core/mission-state.js';

export interface StoredEvent {
  sequence: number;
  event_type: string;
  /** message_id, checkpoint_id, handoff_id or event_id. */
  event_id: string;
  /** The event's JSON, exactly as it goes on the wire. */
  body: string;
}

/** A participant's bearer credential: only the token's hash is ever stored. */
export interface Credential {
  token_hash: string;
  mission_id: string;
  participant: string;
  created_at: string;
}

export interface StoredAudit extends AuditRecord {
  /** Position in the mission's audit log (increasing, not necessarily contiguous). */
  audit_id: number;
}

export interface MissionRecord {
  header: MissionHeader;
  last_sequence: number;
}

export interface MissionSummary {
  mission_id: string;
  title: string;
  created_at: string;
  last_sequence: number;
}

export interface AppendBatch {
  mission_id: string;
  /**
   * The last sequence the caller decided against. The append fails with `ConflictError`
   * (`details.reason === 'sequence'`) when the mission's last sequence is not this, and nothing is written.
   * Not checked for a batch without events.
   */
  expected_sequence: number;
  /** Contiguous, starting at expected_sequence + 1. May be empty (an audit-only batch). */
  events: StoredEvent[];
  audit: AuditRecord[];
  /** Credentials issued with these events (e.g. with a participant_joined), written atomically with them. */
  credentials?: Credential[];
}

export interface NewMission {
  header: MissionHeader;
  /** Events of an imported mission, contiguous from 1. */
  events?: StoredEvent[];
  credentials?: Credential[];
  audit?: AuditRecord[];
}

export type AppendListener = (missionId: string, lastSequence: number) => void;

/**
 * Durability: a promise returned by `append` or `createMission` resolves only once the write is durable
 * (fsync'd for SQLite with synchronous=FULL; committed for PostgreSQL). Implementations may group
 * concurrent appends into one transaction; each batch still succeeds or fails as a whole.
 */
export abstract class EventStore {
  private readonly listeners = new Set<AppendListener>();

  /** Creates a mission; `ConflictError` if its id exists. */
  abstract createMission(mission: NewMission): Promise<void>;
  abstract getMission(missionId: string): Promise<MissionRecord | undefined>;
  abstract listMissions(): Promise<MissionSummary[]>;
  /** Appends one batch atomically with optimistic concurrency on `expected_sequence`. */
  protected abstract appendBatch(batch: AppendBatch): Promise<void>;
  /** Events with sequence >= `fromSequence`, ascending, at most `limit`. */
  abstract readEvents(missionId: string, fromSequence: number, limit: number): Promise<StoredEvent[]>;
  /** An event by its id. */
  abstract getEvent(missionId: string, eventId: string): Promise<StoredEvent | undefined>;
  /** The events among these ids that exist, in any order: one round trip for a whole batch. */
  abstract getEvents(missionId: string, eventIds: string[]): Promise<StoredEvent[]>;
  /**
   * Audit records with audit_id > `afterId`, ascending, at most `limit`. Per mission, records become
   * visible in id order, also with several writers on one store (PostgreSQL, many instances): a reader
   * that pages by the last id it saw never skips a record.
   */
  abstract readAudit(missionId: string, afterId: number, limit: number): Promise<StoredAudit[]>;
  abstract findCredential(tokenHash: string): Promise<Credential | undefined>;
  abstract saveCredentials(credentials: Credential[]): Promise<void>;
  /**
   * Content-addressed blobs (checkpoint artifacts). The bytes are stored once per hash, but a blob is
   * readable only through a mission that put it: knowing a hash gives nothing of another mission.
   * Putting an existing hash stores no bytes again and adds the mission's reference.
   */
  abstract putBlobs(missionId: string, blobs: Array<{ sha256: string; bytes: Uint8Array }>): Promise<void>;
  abstract getBlob(missionId: string, sha256: string): Promise<Uint8Array | undefined>;
  /** Which of these hashes the mission has not put (a checkpoint may only reference stored content). */
  abstract missingBlobs(missionId: string, sha256s: string[]): Promise<string[]>;
  /** Store-wide settings (e.g. the admin token's hash). Returns the value now stored. */
  abstract putSettingIfAbsent(key: string, value: string): Promise<string>;
  abstract getSetting(key: string): Promise<string | undefined>;
  abstract close(): Promise<void>;

  /** Appends a batch and then tells this process's listeners. */
  async append(batch: AppendBatch): Promise<void> {
    await this.appendBatch(batch);
    if (batch.events.length > 0) this.notify(batch.mission_id, batch.events[batch.events.length - 1]!.sequence);
  }

  /**
   * Calls `listener` after events are appended to any mission through this store object. Stores shared
   * between processes (PostgreSQL) also call it for appends made elsewhere.
   */
  onAppend(listener: AppendListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  protected notify(missionId: string, lastSequence: number): void {
    for (const listener of this.listeners) listener(missionId, lastSequence);
  }

  /** All events from `fromSequence` on, fetched page by page. */
  async *iterateEvents(missionId: string, fromSequence = 1, pageSize = 1000): AsyncGenerator<StoredEvent> {
    let next = fromSequence;
    for (;;) {
      const page = await this.readEvents(missionId, next, pageSize);
      yield* page;
      if (page.length < pageSize) return;
      next = page[page.length - 1]!.sequence + 1;
    }
  }
}
