/**
 * The reference store: everything in maps, nothing durable. It defines the contract's behaviour that
 * the other stores are checked against by the conformance suite.
 */
import type { AuditRecord } from '../core/events.js';
import type { MissionHeader } from '../core/mission-state.js';
import {
  EventStore,
  type AppendBatch,
  type Credential,
  type MissionRecord,
  type MissionSummary,
  type NewMission,
  type StoredAudit,
  type StoredEvent,
} from './contract.js';
import { assertContiguous, duplicateEventId, missionExists, missionNotFound, sequenceConflict } from './batch-checks.js';

interface MemoryMission {
  header: MissionHeader;
  events: StoredEvent[];
  byId: Map<string, StoredEvent>;
  audit: StoredAudit[];
}

export class MemoryStore extends EventStore {
  private readonly missions = new Map<string, MemoryMission>();
  private readonly credentials = new Map<string, Credential>();
  private readonly blobs = new Map<string, Uint8Array>();
  /** `${mission_id}\0${sha256}` for every blob a mission put. */
  private readonly blobRefs = new Set<string>();
  private readonly settings = new Map<string, string>();
  private nextAuditId = 1;

  async createMission({ header, events = [], credentials = [], audit = [] }: NewMission): Promise<void> {
    if (this.missions.has(header.mission_id)) throw missionExists(header.mission_id);
    assertContiguous(header.mission_id, 0, events);
    const mission: MemoryMission = { header: structuredClone(header), events: [], byId: new Map(), audit: [] };
    this.insert(mission, events, audit);
    this.missions.set(header.mission_id, mission);
    for (const credential of credentials) this.credentials.set(credential.token_hash, credential);
  }

  async getMission(missionId: string): Promise<MissionRecord | undefined> {
    const mission = this.missions.get(missionId);
    return mission && { header: structuredClone(mission.header), last_sequence: mission.events.length };
  }

  async listMissions(): Promise<MissionSummary[]> {
    return [...this.missions.values()]
      .map(({ header, events }) => ({
        mission_id: header.mission_id,
        title: header.title,
        created_at: header.created_at,
        last_sequence: events.length,
      }))
      .sort((a, b) => (a.mission_id < b.mission_id ? -1 : a.mission_id > b.mission_id ? 1 : 0));
  }

  protected async appendBatch(batch: AppendBatch): Promise<void> {
    const mission = this.missions.get(batch.mission_id);
    if (!mission) throw missionNotFound(batch.mission_id);
    // An audit-only batch changes no sequence, so it cannot conflict.
    if (batch.events.length > 0 && mission.events.length !== batch.expected_sequence) throw sequenceConflict(batch, mission.events.length);
    assertContiguous(batch.mission_id, batch.expected_sequence, batch.events);
    this.insert(mission, batch.events, batch.audit);
    for (const credential of batch.credentials ?? []) this.credentials.set(credential.token_hash, credential);
  }

  private insert(mission: MemoryMission, events: StoredEvent[], audit: AuditRecord[]): void {
    const seen = new Set<string>();
    for (const event of events) {
      if (mission.byId.has(event.event_id) || seen.has(event.event_id)) throw duplicateEventId(mission.header.mission_id, event.event_id);
      seen.add(event.event_id);
    }
    for (const event of events) {
      mission.events.push(event);
      mission.byId.set(event.event_id, event);
    }
    for (const record of audit) mission.audit.push({ ...record, audit_id: this.nextAuditId++ });
  }

  async readEvents(missionId: string, fromSequence: number, limit: number): Promise<StoredEvent[]> {
    const mission = this.missions.get(missionId);
    if (!mission) throw missionNotFound(missionId);
    const start = Math.max(0, fromSequence - 1);
    return mission.events.slice(start, start + limit);
  }

  async getEvents(missionId: string, eventIds: string[]): Promise<StoredEvent[]> {
    const byId = this.missions.get(missionId)?.byId;
    return byId ? eventIds.flatMap((id) => byId.get(id) ?? []) : [];
  }

  async getEvent(missionId: string, eventId: string): Promise<StoredEvent | undefined> {
    return this.missions.get(missionId)?.byId.get(eventId);
  }

  async readAudit(missionId: string, afterId: number, limit: number): Promise<StoredAudit[]> {
    const mission = this.missions.get(missionId);
    if (!mission) throw missionNotFound(missionId);
    return mission.audit.filter((record) => record.audit_id > afterId).slice(0, limit);
  }

  async findCredential(tokenHash: string): Promise<Credential | undefined> {
    return this.credentials.get(tokenHash);
  }

  async saveCredentials(credentials: Credential[]): Promise<void> {
    for (const credential of credentials) this.credentials.set(credential.token_hash, credential);
  }

  async putBlobs(missionId: string, blobs: Array<{ sha256: string; bytes: Uint8Array }>): Promise<void> {
    if (!this.missions.has(missionId)) throw missionNotFound(missionId);
    for (const blob of blobs) {
      if (!this.blobs.has(blob.sha256)) this.blobs.set(blob.sha256, new Uint8Array(blob.bytes));
      this.blobRefs.add(`${missionId}\0${blob.sha256}`);
    }
  }

  async missingBlobs(missionId: string, sha256s: string[]): Promise<string[]> {
    return sha256s.filter((sha256) => !this.blobRefs.has(`${missionId}\0${sha256}`));
  }

  async getBlob(missionId: string, sha256: string): Promise<Uint8Array | undefined> {
    return this.blobRefs.has(`${missionId}\0${sha256}`) ? this.blobs.get(sha256) : undefined;
  }

  async putSettingIfAbsent(key: string, value: string): Promise<string> {
    if (!this.settings.has(key)) this.settings.set(key, value);
    return this.settings.get(key)!;
  }

  async getSetting(key: string): Promise<string | undefined> {
    return this.settings.get(key);
  }

  async close(): Promise<void> {}
}
