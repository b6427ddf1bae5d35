/**
 * The mission stream's events, in their wire form. Field names are the seed's snake_case `to_dict`
 * keys, so an event is serialized once and the same JSON is stored, exported and streamed.
 *
 * `message`, `checkpoint` and `handoff` are the seed's three event types. The others are ours:
 * the seed's loader does not know them, so seed-format exports carry them in an extension (see dict.ts).
 */
import type { Capability, MissionRole } from './profiles.js';

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };
export type JsonObject = { [key: string]: JsonValue };

export interface ParticipantDict {
  name: string;
  role: MissionRole;
  metadata: JsonObject;
}

interface EventBase {
  sequence: number;
  timestamp: string;
  sender: string;
}

export interface MessageEvent extends EventBase {
  event_type: 'message';
  topic: string;
  payload: JsonObject;
  message_id: string;
}

/** A file captured into a checkpoint, stored once by content hash. */
export interface ArtifactFile {
  path: string;
  size: number;
  sha256: string;
}

export interface CheckpointEvent extends EventBase {
  event_type: 'checkpoint';
  summary: string;
  state: JsonObject;
  /** Paths, as in the seed. */
  artifacts: string[];
  /** Workspace files captured by content (ours; absent when none were captured). */
  files?: ArtifactFile[];
  checkpoint_id: string;
}

export interface HandoffEvent extends EventBase {
  event_type: 'handoff';
  recipient: string;
  checkpoint_id: string;
  note: string;
  handoff_id: string;
}

export interface ParticipantJoinedEvent extends EventBase {
  event_type: 'participant_joined';
  participant: ParticipantDict;
  event_id: string;
}

export interface RoleChangedEvent extends EventBase {
  event_type: 'role_changed';
  name: string;
  previous_role: MissionRole;
  role: MissionRole;
  event_id: string;
}

export interface HandoffAcceptedEvent extends EventBase {
  event_type: 'handoff_accepted';
  handoff_id: string;
  checkpoint_id: string;
  event_id: string;
}

export interface IsolationConfiguredEvent extends EventBase {
  event_type: 'isolation_configured';
  profile: string;
  level: number;
  event_id: string;
}

export interface CellStartedEvent extends EventBase {
  event_type: 'cell_started';
  cell_id: string;
  level: number;
  profile: string;
  command: string[];
  event_id: string;
}

export interface CellExitedEvent extends EventBase {
  event_type: 'cell_exited';
  cell_id: string;
  exit_code: number | null;
  signal: string | null;
  duration_ms: number;
  event_id: string;
}

export type SeedEvent = MessageEvent | CheckpointEvent | HandoffEvent;
export type MissionEvent =
  | SeedEvent
  | ParticipantJoinedEvent
  | RoleChangedEvent
  | HandoffAcceptedEvent
  | IsolationConfiguredEvent
  | CellStartedEvent
  | CellExitedEvent;
export type EventType = MissionEvent['event_type'];

export const SEED_EVENT_TYPES: ReadonlySet<EventType> = new Set(['message', 'checkpoint', 'handoff']);

export function isSeedEvent(event: MissionEvent): event is SeedEvent {
  return SEED_EVENT_TYPES.has(event.event_type);
}

/** The id an event is looked up by: message_id, checkpoint_id, handoff_id or event_id. */
export function eventId(event: MissionEvent): string {
  switch (event.event_type) {
    case 'message':
      return event.message_id;
    case 'checkpoint':
      return event.checkpoint_id;
    case 'handoff':
      return event.handoff_id;
    default:
      return event.event_id;
  }
}

/** What the audit log records for each permission decision. */
export interface AuditRecord {
  mission_id: string;
  participant: string;
  role: MissionRole | null;
  action: Capability | 'manage_members' | 'accept';
  outcome: 'allowed' | 'denied';
  /** Why it was denied, or the error an allowed operation then failed with. */
  reason: string | null;
  /** What the action was about: a topic, an id, a participant name. */
  target: string | null;
  timestamp: string;
}

/** The packet a handoff's recipient resumes from (the seed's shape, plus `handoff_id` and `accepted`). */
export interface ResumePacket {
  mission_id: string;
  title: string;
  recipient: string;
  sender: string;
  handoff_note: string;
  handoff_id: string;
  /** Whether the recipient has accepted the handoff. */
  accepted: boolean;
  checkpoint: CheckpointEvent;
  participants: Record<string, ParticipantDict>;
  isolation_profiles: import('./profiles.js').IsolationProfile[];
  stream_length: number;
}

/** Event types that change nothing in `MissionState` but the sequence. */
export const STATELESS_EVENT_TYPES: ReadonlySet<string> = new Set(['message', 'cell_started', 'cell_exited']);
