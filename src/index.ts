/**
 * missionbus — the public API. Everything a program may import is listed here, explicitly.
 */
export { MissionBus, type MissionBusOptions, type CheckpointInput } from './core/mission-bus.js';
export {
  MissionRole,
  MISSION_ROLES,
  CAPABILITIES,
  DEFAULT_PROFILES,
  defaultProfiles,
  parseProfiles,
  RolePolicy,
  type Capability,
  type IsolationProfile,
  type ProfilesConfig,
} from './core/profiles.js';
export { loadProfiles, DEFAULT_PROFILES_PATH } from './config/load-profiles.js';
export {
  MissionBusError,
  PermissionDeniedError,
  NotFoundError,
  ConflictError,
  InvalidInputError,
  UnavailableError,
  errorFromWire,
  type ErrorCode,
} from './core/errors.js';
export type {
  MissionEvent,
  SeedEvent,
  EventType,
  MessageEvent,
  CheckpointEvent,
  HandoffEvent,
  HandoffAcceptedEvent,
  ParticipantJoinedEvent,
  RoleChangedEvent,
  IsolationConfiguredEvent,
  CellStartedEvent,
  CellExitedEvent,
  ArtifactFile,
  ParticipantDict,
  AuditRecord,
  ResumePacket,
  JsonObject,
  JsonValue,
} from './core/events.js';
export { eventId, isSeedEvent, SEED_EVENT_TYPES } from './core/events.js';
export type { Command } from './core/commands.js';
export { DEFAULT_LIMITS, type Limits } from './core/limits.js';
export type { MissionDict, ExportOptions } from './core/dict.js';
export { MissionState, type MissionHeader } from './core/mission-state.js';
export { EventStore, type StoredEvent, type AppendBatch, type Credential, type MissionSummary, type StoredAudit } from './store/contract.js';
export { MemoryStore } from './store/memory.js';
export { SqliteStore, DEFAULT_SQLITE_PATH, type SqliteStoreOptions } from './store/sqlite.js';
export { PostgresStore, DEFAULT_POSTGRES_SCHEMA, type PostgresStoreOptions } from './store/postgres.js';
export { MissionService, type MissionServiceOptions, type CreateMissionInput } from './service/mission-service.js';
export { LiveMission, type CommandResult, type RunOptions } from './service/live-mission.js';
export { Subscription, type SubscriptionSink } from './service/subscription.js';
export * from './server/index.js';
export * from './client/index.js';
