/**
 * The TypeScript SDK for a missionbus server, over TCP or a Unix socket (so it works inside cells that
 * have no network). Every method is one HTTP call; errors are the core's typed errors
 * (`PermissionDeniedError`, `NotFoundError`, `ConflictError`, `InvalidInputError`, `UnavailableError`).
 *
 * A client acts as the participant its token was issued to: the server never takes the sender from a
 * request, so there is no way to send as someone else.
 */
import { createHash } from 'node:crypto';
import { WebSocket } from 'ws';
import { InvalidInputError } from '../core/errors.js';
import type {
  ArtifactFile,
  CellExitedEvent,
  CellStartedEvent,
  CheckpointEvent,
  HandoffAcceptedEvent,
  HandoffEvent,
  IsolationConfiguredEvent,
  JsonObject,
  MessageEvent,
  MissionEvent,
  ResumePacket,
  RoleChangedEvent,
} from '../core/events.js';
import type { MissionDict } from '../core/dict.js';
import type { MissionRole } from '../core/profiles.js';
import type {
  AddedParticipant,
  AuditPage,
  BlobRef,
  CreatedMission,
  EventPage,
  ImportedMissionReply,
  MissionView,
  Whoami,
} from '../server/wire.js';
import { MissionPublisher, type PublisherOptions } from './publisher.js';
import { MissionSubscription, type SubscribeOptions } from './subscription.js';
import { Transport, withQuery, type RequestSpec } from './transport.js';

export interface MissionClientOptions {
  /** `http://host:port`, `https://host:port` or `unix:/path/to/bus.sock`. */
  url: string;
  /** The bearer token every request acts as (a participant's, or the admin token for creating missions). */
  token?: string;
  /** The mission the mission-scoped methods act on. Default: none (those methods then throw). */
  missionId?: string;
  /** Per-request timeout. Default 30 s. */
  timeoutMs?: number;
}

export interface CreateMissionRequest {
  mission_id: string;
  title?: string;
  lead: { name: string; metadata?: JsonObject };
  /** Profiles in the seed's file shape. Default: the server's built-in profiles. */
  config?: Record<string, unknown>;
}

export interface CheckpointRequest {
  summary: string;
  state: JsonObject;
  artifacts?: string[];
  files?: ArtifactFile[];
}

export interface CellStartedRequest {
  cell_id: string;
  level: number;
  profile: string;
  command: string[];
}

export interface CellExitedRequest {
  cell_id: string;
  exit_code: number | null;
  signal: string | null;
  duration_ms: number;
}

export interface PublishResult {
  event: MessageEvent;
  /** False when a message with this message_id was already published (idempotent replay). */
  created: boolean;
}

export class MissionClient {
  readonly url: string;
  readonly token: string | undefined;
  readonly missionId: string | undefined;
  private readonly transport: Transport;
  private readonly timeoutMs: number | undefined;

  constructor(options: MissionClientOptions, transport?: Transport) {
    this.url = options.url;
    this.token = options.token;
    this.missionId = options.missionId;
    this.timeoutMs = options.timeoutMs;
    this.transport = transport ?? new Transport(options.url);
  }

  /** A client for another token (and mission) sharing this one's connections. */
  withToken(token: string, missionId: string | undefined = this.missionId): MissionClient {
    return new MissionClient({ url: this.url, token, missionId, timeoutMs: this.timeoutMs }, this.transport);
  }

  /** Closes pooled keep-alive connections (of every client sharing them). */
  close(): void {
    this.transport.close();
  }

  // ---- server-wide ----

  async health(): Promise<{ status: 'ok' }> {
    return this.get('/healthz');
  }

  async whoami(): Promise<Whoami> {
    return this.get('/v1/whoami');
  }

  async openapi(): Promise<Record<string, unknown>> {
    return this.get('/openapi.json');
  }

  /** Creates a mission; the result holds the lead's token (shown once). Use `withToken` to act as the lead. */
  async createMission(input: CreateMissionRequest): Promise<CreatedMission> {
    return this.call({ method: 'POST', path: '/v1/missions', json: input });
  }

  /** Imports a dump (the seed's `to_dict` shape, or ours); the result holds a token per participant (shown once). */
  async import(dump: unknown): Promise<ImportedMissionReply> {
    return this.call({ method: 'POST', path: '/v1/missions/import', json: dump });
  }

  // ---- mission-scoped ----

  async mission(): Promise<MissionView> {
    return this.get(this.path());
  }

  async addParticipant(name: string, role: MissionRole, metadata?: JsonObject): Promise<AddedParticipant> {
    return this.call({ method: 'POST', path: this.path('/participants'), json: { name, role, ...(metadata ? { metadata } : {}) } });
  }

  async changeRole(name: string, role: MissionRole): Promise<RoleChangedEvent> {
    return this.call({ method: 'PUT', path: this.path(`/participants/${encodeURIComponent(name)}/role`), json: { role } });
  }

  /** Publishes a message; with a `messageId` already published by this participant, returns that one. */
  async publish(topic: string, payload: JsonObject, options: { messageId?: string } = {}): Promise<MessageEvent> {
    return (await this.publishResult(topic, payload, options)).event;
  }

  /** Like `publish`, and tells whether the message is new or an idempotent replay. */
  async publishResult(topic: string, payload: JsonObject, options: { messageId?: string } = {}): Promise<PublishResult> {
    const json = { topic, payload, ...(options.messageId !== undefined ? { message_id: options.messageId } : {}) };
    // With a message_id a repeat returns the first event, so the transport may send it again after a dropped connection.
    const idempotent = options.messageId !== undefined;
    const { status, body } = await this.transport.json<MessageEvent>(this.spec({ method: 'POST', path: this.path('/messages'), json, idempotent }));
    return { event: body, created: status === 201 };
  }

  async checkpoint(input: CheckpointRequest): Promise<CheckpointEvent> {
    return this.call({ method: 'POST', path: this.path('/checkpoints'), json: input });
  }

  async handoff(recipient: string, checkpointId: string, note?: string): Promise<HandoffEvent> {
    const json = { recipient, checkpoint_id: checkpointId, ...(note !== undefined ? { note } : {}) };
    return this.call({ method: 'POST', path: this.path('/handoffs'), json });
  }

  async accept(handoffId: string): Promise<HandoffAcceptedEvent> {
    return this.call({ method: 'POST', path: this.path(`/handoffs/${encodeURIComponent(handoffId)}/accept`), json: {} });
  }

  async resumePacket(handoffId: string): Promise<ResumePacket> {
    return this.get(this.path(`/handoffs/${encodeURIComponent(handoffId)}/resume`));
  }

  /** A page of events from `from` (default 1), at most `limit` (default 100, the server caps it at 1000). */
  async events(options: { from?: number; limit?: number } = {}): Promise<EventPage> {
    return this.get(this.path('/events'), { from: options.from, limit: options.limit });
  }

  /** Every event from `from` on, page by page. */
  async *allEvents(from = 1, pageSize = 1000): AsyncGenerator<MissionEvent> {
    let next = from;
    for (;;) {
      const page = await this.events({ from: next, limit: pageSize });
      yield* page.events;
      if (page.events.length < pageSize) return;
      next = page.next;
    }
  }

  async event(id: string): Promise<MissionEvent> {
    return this.get(this.path(`/events/${encodeURIComponent(id)}`));
  }

  /** A page of the audit log after audit_id `after` (needs `audit`). */
  async audit(options: { after?: number; limit?: number } = {}): Promise<AuditPage> {
    return this.get(this.path('/audit'), { after: options.after, limit: options.limit });
  }

  async configureIsolation(profile: string): Promise<IsolationConfiguredEvent> {
    return this.call({ method: 'PUT', path: this.path('/isolation'), json: { profile } });
  }

  async cellStarted(input: CellStartedRequest): Promise<CellStartedEvent> {
    return this.call({ method: 'POST', path: this.path('/cells/started'), json: input });
  }

  async cellExited(input: CellExitedRequest): Promise<CellExitedEvent> {
    return this.call({ method: 'POST', path: this.path('/cells/exited'), json: input });
  }

  /** Uploads bytes by content (needs `checkpoint`); returns their sha256 for a checkpoint's `files`. */
  async putBlob(bytes: Uint8Array): Promise<BlobRef> {
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    return this.call({ method: 'PUT', path: this.path(`/blobs/${sha256}`), bytes, idempotent: true });
  }

  async getBlob(sha256: string): Promise<Uint8Array> {
    const response = await this.transport.request(this.spec({ method: 'GET', path: this.path(`/blobs/${encodeURIComponent(sha256)}`) }));
    return new Uint8Array(response.body.buffer, response.body.byteOffset, response.body.byteLength);
  }

  /** The mission in the seed's `to_dict` shape; `format: 'seed'` leaves out the missionbus extension. */
  async export(options: { format?: 'seed' | 'full' } = {}): Promise<MissionDict> {
    return this.get(this.path('/export'), { format: options.format });
  }

  /**
   * Live events from `from` (default 1): replay, then live, reconnecting by itself and resuming from
   * the last sequence it delivered. Iterate with `for await`; `close()` ends it.
   */
  subscribe(options: SubscribeOptions = {}): MissionSubscription {
    const base = this.path('/ws');
    const token = this.requireToken();
    return new MissionSubscription((from) => {
      const url = this.webSocketUrl(withQuery(base, { from }));
      return new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false, handshakeTimeout: 10_000 });
    }, options);
  }

  /**
   * A publisher over the publish channel (one WebSocket): many publishes in flight, each resolved once
   * durable, resent after a reconnect without duplicates. `close()` or `drain()` it when done.
   */
  publisher(options: PublisherOptions = {}): MissionPublisher {
    const url = this.webSocketUrl(this.path('/publish'));
    const token = this.requireToken();
    return new MissionPublisher(
      () => new WebSocket(url, { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false, handshakeTimeout: 10_000 }),
      options,
    );
  }

  // ---- plumbing ----

  private webSocketUrl(path: string): string {
    const endpoint = this.transport.endpoint;
    return endpoint.kind === 'unix' ? `ws+unix://${endpoint.socketPath}:${path}` : `${endpoint.origin.replace(/^http/, 'ws')}${path}`;
  }

  private path(suffix = ''): string {
    if (!this.missionId) throw new InvalidInputError('this client has no missionId; pass { missionId } or use withToken(token, missionId)');
    return `/v1/missions/${encodeURIComponent(this.missionId)}${suffix}`;
  }

  private requireToken(): string {
    if (!this.token) throw new InvalidInputError('this client has no token; pass { token } or use withToken(token)');
    return this.token;
  }

  private spec(spec: RequestSpec): RequestSpec {
    return { ...spec, token: this.token, timeoutMs: this.timeoutMs };
  }

  private async get<T>(path: string, query?: RequestSpec['query']): Promise<T> {
    return this.call({ method: 'GET', path, query });
  }

  private async call<T>(spec: RequestSpec): Promise<T> {
    return (await this.transport.json<T>(this.spec(spec))).body;
  }
}
