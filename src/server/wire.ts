/**
 * The HTTP contract of the missionbus server: request schemas (zod, built from the same
 * `commandSchemas` the core validates with), query schemas, and the response shapes. Pure — no Node
 * APIs — so the client SDK imports its types and the OpenAPI document is generated from these schemas.
 */
import { z } from 'zod';
import type {
  AuditRecord,
  IsolationConfiguredEvent,
  JsonObject,
  MessageEvent,
  MissionEvent,
  ParticipantDict,
  ParticipantJoinedEvent,
} from '../core/events.js';
import type { IsolationProfile, MissionRole, ProfilesConfig, Capability } from '../core/profiles.js';
import { jsonObjectSchema, missionDictSchema, type CommandSchemas } from '../core/schemas.js';
import type { Limits } from '../core/limits.js';

/** Largest page `GET .../events` and `GET .../audit` return, whatever `limit` asks for. */
export const MAX_PAGE = 1000;
export const DEFAULT_PAGE = 100;

const sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be a lowercase hex sha256');
const count = (min: number) => z.coerce.number().int().min(min);
const pageLimit = z.coerce.number().int().min(1).max(MAX_PAGE).default(DEFAULT_PAGE);

/** Request schemas for one set of limits: bodies (strict: an unknown field is a 400), paths and queries. */
export function httpSchemas(schemas: CommandSchemas, limits: Limits) {
  const metadata = jsonObjectSchema('metadata', limits.maxPayloadBytes, limits.maxDepth);
  const missionPath = z.strictObject({ id: schemas.missionId });
  return {
    bodies: {
      createMission: z.strictObject({
        mission_id: schemas.missionId,
        title: schemas.title.optional(),
        lead: z.strictObject({ name: schemas.name, metadata: metadata.optional() }),
        /** Profiles in the seed's file shape; validated by the core (`parseProfiles`). */
        config: z.record(z.string(), z.unknown()).optional(),
      }),
      addParticipant: schemas.participant,
      changeRole: z.strictObject({ role: schemas.role }),
      publish: schemas.publish,
      checkpoint: schemas.checkpoint,
      handoff: schemas.handoff,
      accept: z.strictObject({}),
      configureIsolation: schemas.configureIsolation,
      cellStarted: schemas.cellStarted,
      cellExited: schemas.cellExited,
      importMission: missionDictSchema,
    },
    paths: {
      mission: missionPath,
      participant: missionPath.extend({ name: schemas.name }),
      handoff: missionPath.extend({ hid: schemas.id }),
      event: missionPath.extend({ eventId: schemas.id }),
      blob: missionPath.extend({ sha256 }),
    },
    queries: {
      none: z.strictObject({}),
      events: z.strictObject({ from: count(1).default(1), limit: pageLimit }),
      audit: z.strictObject({ after: count(0).default(0), limit: pageLimit }),
      export: z.strictObject({ format: z.enum(['seed', 'full']).default('full') }),
      /** `access_token` is for browsers, which cannot set headers on EventSource/WebSocket. */
      subscribe: z.strictObject({ from: count(1).optional(), access_token: z.string().max(512).optional() }),
      publishChannel: z.strictObject({ access_token: z.string().max(512).optional() }),
    },
  };
}
export type HttpSchemas = ReturnType<typeof httpSchemas>;

// ---- responses ----

/** Every error body: `{"error":{"code","message","details"}}`. */
export interface ErrorBody {
  error: { code: string; message: string; details: Record<string, unknown> };
}

export interface MissionView {
  mission_id: string;
  title: string;
  created_at: string;
  /** The last durable sequence. */
  last_sequence: number;
  participants: Record<string, ParticipantDict>;
  isolation_profile: IsolationProfile | null;
  config: ProfilesConfig;
}

export interface CreatedMission {
  mission: MissionView;
  participant: ParticipantDict;
  /** The lead's bearer token. Shown once: only its hash is stored. */
  token: string;
}

export interface AddedParticipant {
  event: ParticipantJoinedEvent;
  /** The new participant's bearer token. Shown once: only its hash is stored. */
  token: string;
}

export interface ImportedMissionReply {
  mission: MissionView;
  /** A fresh bearer token for every participant of the imported roster, by name. Shown once. */
  tokens: Record<string, string>;
}

export interface EventPage {
  events: MissionEvent[];
  /** The `from` to ask for next. */
  next: number;
  last_sequence: number;
}

export interface AuditPage {
  records: Array<AuditRecord & { audit_id: number }>;
  /** The `after` to ask for next. */
  next: number;
}

export interface BlobRef {
  sha256: string;
  size: number;
}

export type Whoami =
  | { kind: 'participant'; mission_id: string; participant: string; role: MissionRole; capabilities: Capability[] }
  | { kind: 'admin' };

export type IsolationReply = IsolationConfiguredEvent;

// Zod forms of the responses, for the OpenAPI document only (the server builds these values itself).
const participantDict = z.object({ name: z.string(), role: z.enum(['lead', 'write', 'read', 'audit']), metadata: z.record(z.string(), z.unknown()) });
const missionView = z.object({
  mission_id: z.string(),
  title: z.string(),
  created_at: z.string(),
  last_sequence: z.number().int(),
  participants: z.record(z.string(), participantDict),
  isolation_profile: z.record(z.string(), z.unknown()).nullable(),
  config: z.record(z.string(), z.unknown()),
});
const anyEvent = z
  .object({ event_type: z.string(), sequence: z.number().int(), timestamp: z.string(), sender: z.string() })
  .catchall(z.unknown())
  .meta({ description: 'A mission event (message, checkpoint, handoff, participant_joined, role_changed, handoff_accepted, isolation_configured, cell_started, cell_exited).' });

export const responseSchemas = {
  error: z.object({ error: z.object({ code: z.string(), message: z.string(), details: z.record(z.string(), z.unknown()) }) }),
  health: z.object({ status: z.literal('ok') }),
  event: anyEvent,
  missionView,
  createdMission: z.object({ mission: missionView, participant: participantDict, token: z.string() }),
  addedParticipant: z.object({ event: anyEvent, token: z.string() }),
  importedMission: z.object({ mission: missionView, tokens: z.record(z.string(), z.string()) }),
  eventPage: z.object({ events: z.array(anyEvent), next: z.number().int(), last_sequence: z.number().int() }),
  auditPage: z.object({
    records: z.array(
      z.object({
        audit_id: z.number().int(),
        mission_id: z.string(),
        participant: z.string(),
        role: z.string().nullable(),
        action: z.string(),
        outcome: z.enum(['allowed', 'denied']),
        reason: z.string().nullable(),
        target: z.string().nullable(),
        timestamp: z.string(),
      }),
    ),
    next: z.number().int(),
  }),
  resumePacket: z.object({
    mission_id: z.string(),
    title: z.string(),
    recipient: z.string(),
    sender: z.string(),
    handoff_note: z.string(),
    handoff_id: z.string(),
    accepted: z.boolean(),
    checkpoint: anyEvent,
    participants: z.record(z.string(), participantDict),
    isolation_profiles: z.array(z.record(z.string(), z.unknown())),
    stream_length: z.number().int(),
  }),
  missionDict: z.record(z.string(), z.unknown()).meta({ description: "The seed's MissionBus.to_dict() shape (plus a `missionbus` extension unless format=seed)." }),
  blobRef: z.object({ sha256, size: z.number().int() }),
  whoami: z.union([
    z.object({ kind: z.literal('participant'), mission_id: z.string(), participant: z.string(), role: z.string(), capabilities: z.array(z.string()) }),
    z.object({ kind: z.literal('admin') }),
  ]),
} as const;

// ---- the publish channel: WebSocket `GET /v1/missions/{id}/publish` ----
//
// Client → server: a text message holding one publish or a JSON array of them, each the body of
// `POST /v1/missions/{id}/messages` plus the client's correlation `id`.
// Server → client: first a `PublishHello` object, then JSON arrays of `PublishAck`, one array per turn
// of the server's event loop. An ack is sent only once the event is durable.

/** Unacknowledged publishes one connection may have before the server stops reading it. */
export const DEFAULT_PUBLISH_WINDOW = 4096;

/** The client's correlation id of one publish, echoed in its ack: a non-negative safe integer or a short string. */
export const publishFrameId = z.union([z.number().int().min(0).max(Number.MAX_SAFE_INTEGER), z.string().min(1).max(128)]);
export type PublishFrameId = z.infer<typeof publishFrameId>;

/** One publish in a client frame. `message_id` makes a resend idempotent: the same id returns the first event. */
export interface PublishFrameItem {
  id: PublishFrameId;
  topic: string;
  payload: JsonObject;
  message_id?: string;
}

/** The server's first message on a publish channel: who publishes, and the bounds the client must keep. */
export interface PublishHello {
  hello: { mission_id: string; participant: string; window: number; max_frame_bytes: number };
}

/**
 * The answer to one publish: its durable event, or why it was refused. `id` is null only for input
 * the server could not attribute to a publish (a frame that is not JSON, an item without a valid id).
 */
export type PublishAck =
  | { id: PublishFrameId; event: MessageEvent }
  | { id: PublishFrameId | null; error: ErrorBody['error'] };

/**
 * `details.reason` of a refused publish the client should send again (same `message_id`) rather than
 * fail: the server stopped taking publishes on this connection before deciding it.
 */
export const PUBLISH_RESEND_REASONS: readonly string[] = ['shutting_down'];

/** Zod forms of the publish channel's frames, for the OpenAPI document (built from the REST publish body). */
export function publishChannelSchemas(publishBody: z.ZodObject) {
  const item = z.strictObject({ id: publishFrameId, ...publishBody.shape });
  const error = responseSchemas.error.shape.error;
  return {
    clientFrame: z.union([item, z.array(item).min(1)]),
    hello: z.object({
      hello: z.object({ mission_id: z.string(), participant: z.string(), window: z.number().int(), max_frame_bytes: z.number().int() }),
    }),
    acks: z.array(z.union([z.object({ id: publishFrameId, event: anyEvent }), z.object({ id: publishFrameId.nullable(), error })])),
  };
}
