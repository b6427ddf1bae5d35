/**
 * The route table: every endpoint of the HTTP API, its schemas and its handler. Handlers are thin: they
 * turn a validated request into one `MissionService`/`LiveMission` call as the token's participant.
 * Every permission decision — commands through `execute`, reads through `LiveMission.authorize` — is
 * taken by the core and lands in the audit log.
 *
 * | Method | Path                                         | Auth        | Needs               | Success |
 * |--------|----------------------------------------------|-------------|---------------------|---------|
 * | GET    | /healthz                                     | none        |                     | 200     |
 * | GET    | /openapi.json                                | none        |                     | 200     |
 * | GET    | /v1/whoami                                   | any token   |                     | 200     |
 * | POST   | /v1/missions                                 | creator     |                     | 201     |
 * | POST   | /v1/missions/import                          | creator     |                     | 201     |
 * | GET    | /v1/missions/{id}                            | participant | read                | 200     |
 * | POST   | /v1/missions/{id}/participants               | participant | lead                | 201     |
 * | PUT    | /v1/missions/{id}/participants/{name}/role   | participant | lead                | 200     |
 * | POST   | /v1/missions/{id}/messages                   | participant | publish             | 201/200 |
 * | POST   | /v1/missions/{id}/checkpoints                | participant | checkpoint          | 201     |
 * | POST   | /v1/missions/{id}/handoffs                   | participant | handoff             | 201     |
 * | POST   | /v1/missions/{id}/handoffs/{hid}/accept      | participant | checkpoint (recip.) | 201     |
 * | GET    | /v1/missions/{id}/handoffs/{hid}/resume      | participant | read                | 200     |
 * | GET    | /v1/missions/{id}/events?from&limit          | participant | read                | 200     |
 * | GET    | /v1/missions/{id}/events/{eventId}           | participant | read                | 200     |
 * | GET    | /v1/missions/{id}/audit?after&limit          | participant | audit               | 200     |
 * | PUT    | /v1/missions/{id}/isolation                  | participant | configure_isolation | 200     |
 * | POST   | /v1/missions/{id}/cells/started              | participant | publish             | 201     |
 * | POST   | /v1/missions/{id}/cells/exited               | participant | publish             | 201     |
 * | PUT    | /v1/missions/{id}/blobs/{sha256}             | participant | checkpoint          | 201     |
 * | GET    | /v1/missions/{id}/blobs/{sha256}             | participant | read                | 200     |
 * | GET    | /v1/missions/{id}/export?format=seed|full    | participant | read                | 200     |
 * | GET    | /v1/missions/{id}/stream?from (SSE)          | participant | read                | 200     |
 * | GET    | /v1/missions/{id}/ws?from (WebSocket)        | participant | read                | 101     |
 * | GET    | /v1/missions/{id}/publish (WebSocket)        | participant | publish (each)      | 101     |
 *
 * "creator": open on a loopback-only server, else the admin token.
 */
import { createHash } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { InvalidInputError, NotFoundError, UnavailableError } from '../core/errors.js';
import { missionFromDict } from '../core/dict.js';
import { rosterDict } from '../core/resume-packet.js';
import { z } from 'zod';
import type { Limits } from '../core/limits.js';
import type { LiveMission } from '../service/live-mission.js';
import type { MissionService } from '../service/mission-service.js';
import type { Credential } from '../store/contract.js';
import { issueCredential, type Authenticator } from './auth.js';
import { route, type Reply, type Route } from './router.js';
import { SseOutlet, type SubscriberHub } from './stream.js';
import { httpSchemas, MAX_PAGE, responseSchemas as R, type MissionView, type Whoami } from './wire.js';

export interface RouteDeps {
  service: MissionService;
  auth: Authenticator;
  hub: SubscriberHub;
  limits: Limits;
  /** Refuse new subscribers beyond this many (503). */
  maxSubscribers: number;
}

const now = () => new Date().toISOString();

export function missionView(mission: LiveMission): MissionView {
  const { header } = mission.state;
  return {
    mission_id: header.mission_id,
    title: header.title,
    created_at: header.created_at,
    last_sequence: mission.committedSequence,
    participants: rosterDict(mission.state),
    isolation_profile: mission.state.isolationProfile,
    config: header.config,
  };
}

const ok = (json: unknown): Reply => ({ status: 200, json });
const created = (json: unknown): Reply => ({ status: 201, json });
const error = { description: 'Error: `{"error":{"code","message","details"}}`', schema: R.error };
const denied = { 403: { ...error, description: 'The role lacks the capability (the denial is audited), or the token is for another mission' } };
const common = { 400: error, 401: error, ...denied, 404: error };

export function buildRoutes(deps: RouteDeps): Route[] {
  const { service } = deps;
  const s = httpSchemas(service.schemas, deps.limits);
  const { bodies: b, paths: p, queries: q } = s;
  const open = (id: string) => service.open(id);

  const routes: Route[] = [
    route({
      method: 'GET',
      path: '/healthz',
      operationId: 'health',
      summary: 'Liveness: 200 while the server accepts requests.',
      auth: 'none',
      responses: { 200: { description: 'Serving', schema: R.health }, 503: error },
      handle: async () => ok({ status: 'ok' }),
    }),
    route({
      method: 'GET',
      path: '/v1/whoami',
      operationId: 'whoami',
      summary: "Who the token acts as: the participant, its mission, role and capabilities (or the admin).",
      auth: 'token',
      responses: { 200: { description: 'The identity', schema: R.whoami }, 401: error },
      handle: async ({ identity }) => {
        if (identity!.kind === 'admin') return ok({ kind: 'admin' } satisfies Whoami);
        const mission = await open(identity!.missionId);
        const participant = mission.state.participant(identity!.participant);
        return ok({
          kind: 'participant',
          mission_id: identity!.missionId,
          participant: participant.name,
          role: participant.role,
          capabilities: mission.state.policy.capabilitiesOf(participant.role),
        } satisfies Whoami);
      },
    }),
    route({
      method: 'POST',
      path: '/v1/missions',
      operationId: 'createMission',
      summary: "Creates a mission with its lead; returns the lead's token (shown once). Open on a loopback-only server, else needs the admin token.",
      auth: 'creator',
      body: { kind: 'json', schema: b.createMission },
      responses: { 201: { description: 'Created', schema: R.createdMission }, 400: error, 401: error, 409: error },
      handle: async ({ body }) => {
        const { token, credential } = issueCredential(body.mission_id, body.lead.name, now());
        const mission = await service.createMission({
          mission_id: body.mission_id,
          title: body.title,
          config: body.config,
          lead: { name: body.lead.name, metadata: body.lead.metadata },
          credentials: [credential],
        });
        return created({ mission: missionView(mission), participant: mission.state.participant(body.lead.name), token });
      },
    }),
    route({
      method: 'POST',
      path: '/v1/missions/import',
      operationId: 'importMission',
      summary: "Imports a dump (the seed's to_dict shape, or ours) as a new mission; returns a token for every participant of its roster (shown once).",
      auth: 'creator',
      body: { kind: 'json', schema: b.importMission, limit: 'import' },
      responses: { 201: { description: 'Imported', schema: R.importedMission }, 400: error, 401: error, 409: error, 413: error },
      handle: async ({ body }) => {
        // Validate and replay once up front to learn the final roster, so its credentials are written
        // in the same transaction as the mission.
        const { state } = missionFromDict(body, { now, newId: () => crypto.randomUUID() });
        const tokens: Record<string, string> = {};
        const credentials: Credential[] = [];
        for (const name of state.participants.keys()) {
          const issued = issueCredential(state.missionId, name, now());
          tokens[name] = issued.token;
          credentials.push(issued.credential);
        }
        const mission = await service.importMission(body, credentials);
        return created({ mission: missionView(mission), tokens });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/missions/{id}',
      operationId: 'getMission',
      summary: 'The mission: title, roster, isolation profile, profiles config, last sequence.',
      auth: 'participant',
      needs: 'read',
      params: p.mission,
      responses: { 200: { description: 'The mission', schema: R.missionView }, ...common },
      handle: async ({ params, actor }) => {
        const mission = await open(params.id);
        await mission.authorize(actor, 'read', 'mission');
        return ok(missionView(mission));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/missions/{id}/participants',
      operationId: 'addParticipant',
      summary: "A lead adds a participant; returns the participant_joined event and the new participant's token (shown once).",
      auth: 'participant',
      needs: 'lead',
      params: p.mission,
      body: { kind: 'json', schema: b.addParticipant },
      responses: { 201: { description: 'Added', schema: R.addedParticipant }, ...common, 409: error },
      handle: async ({ params, actor, body }) => {
        const mission = await open(params.id);
        const { token, credential } = issueCredential(params.id, body.name, now());
        const event = await mission.run(actor, { kind: 'add_participant', ...body }, { credentials: [credential] });
        return created({ event, token });
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/missions/{id}/participants/{name}/role',
      operationId: 'changeRole',
      summary: "A lead changes a participant's role; returns the role_changed event.",
      auth: 'participant',
      needs: 'lead',
      params: p.participant,
      body: { kind: 'json', schema: b.changeRole },
      responses: { 200: { description: 'Changed', schema: R.event }, ...common, 409: error },
      handle: async ({ params, actor, body }) => {
        const mission = await open(params.id);
        return ok(await mission.run(actor, { kind: 'change_role', name: params.name, role: body.role }));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/missions/{id}/messages',
      operationId: 'publish',
      summary: 'Publishes a message. With a message_id already published by the same sender, returns that message with 200 (idempotent).',
      auth: 'participant',
      needs: 'publish',
      params: p.mission,
      body: { kind: 'json', schema: b.publish },
      responses: {
        201: { description: 'Published', schema: R.event },
        200: { description: 'Already published with this message_id', schema: R.event },
        ...common,
        409: error,
      },
      handle: async ({ params, actor, body }) => {
        const mission = await open(params.id);
        const before = mission.committedSequence;
        const event = await mission.run(actor, { kind: 'publish', ...body });
        return { status: event.sequence > before ? 201 : 200, json: event };
      },
    }),
    route({
      method: 'POST',
      path: '/v1/missions/{id}/checkpoints',
      operationId: 'checkpoint',
      summary: 'Records a checkpoint (summary, state, artifact paths, captured files by sha256).',
      auth: 'participant',
      needs: 'checkpoint',
      params: p.mission,
      body: { kind: 'json', schema: b.checkpoint },
      responses: { 201: { description: 'Recorded', schema: R.event }, ...common },
      handle: async ({ params, actor, body }) => {
        const mission = await open(params.id);
        return created(await mission.run(actor, { kind: 'checkpoint', ...body }));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/missions/{id}/handoffs',
      operationId: 'handoff',
      summary: 'Hands a checkpoint off to a recipient who can continue the work.',
      auth: 'participant',
      needs: 'handoff',
      params: p.mission,
      body: { kind: 'json', schema: b.handoff },
      responses: { 201: { description: 'Handed off', schema: R.event }, ...common },
      handle: async ({ params, actor, body }) => {
        const mission = await open(params.id);
        return created(await mission.run(actor, { kind: 'handoff', ...body }));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/missions/{id}/handoffs/{hid}/accept',
      operationId: 'acceptHandoff',
      summary: 'The recipient accepts a handoff, once (a second accept is 409). Body: empty or {}.',
      auth: 'participant',
      needs: 'checkpoint',
      params: p.handoff,
      body: { kind: 'json', schema: b.accept, optional: true },
      responses: { 201: { description: 'Accepted', schema: R.event }, ...common, 409: error },
      handle: async ({ params, actor }) => {
        const mission = await open(params.id);
        return created(await mission.run(actor, { kind: 'accept', handoff_id: params.hid }));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/missions/{id}/handoffs/{hid}/resume',
      operationId: 'resumePacket',
      summary: "The packet a handoff's recipient resumes from.",
      auth: 'participant',
      needs: 'read',
      params: p.handoff,
      responses: { 200: { description: 'The resume packet', schema: R.resumePacket }, ...common },
      handle: async ({ params, actor }) => {
        const mission = await open(params.id);
        await mission.authorize(actor, 'read', params.hid);
        return ok(await mission.resumePacket(params.hid));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/missions/{id}/events',
      operationId: 'listEvents',
      summary: `Events with sequence >= from, ascending; at most limit (capped at ${MAX_PAGE}).`,
      auth: 'participant',
      needs: 'read',
      params: p.mission,
      query: q.events,
      responses: { 200: { description: 'A page of events', schema: R.eventPage }, ...common },
      handle: async ({ params, actor, query }) => {
        const mission = await open(params.id);
        await mission.authorize(actor, 'read', 'events');
        const page = await mission.readEvents(query.from, query.limit);
        const next = page.length > 0 ? page[page.length - 1]!.sequence + 1 : query.from;
        const events = page.map((event) => event.body).join(',');
        return { status: 200, rawJson: `{"events":[${events}],"next":${next},"last_sequence":${mission.committedSequence}}` };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/missions/{id}/events/{eventId}',
      operationId: 'getEvent',
      summary: 'One event by its id (message_id, checkpoint_id, handoff_id or event_id).',
      auth: 'participant',
      needs: 'read',
      params: p.event,
      responses: { 200: { description: 'The event', schema: R.event }, ...common },
      handle: async ({ params, actor }) => {
        const mission = await open(params.id);
        await mission.authorize(actor, 'read', params.eventId);
        const stored = await service.store.getEvent(params.id, params.eventId);
        if (!stored) throw new NotFoundError(`no event with id '${params.eventId}' in mission '${params.id}'`, { id: params.eventId });
        return { status: 200, rawJson: stored.body };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/missions/{id}/audit',
      operationId: 'readAudit',
      summary: 'The audit log (every permission decision, allowed and denied) after audit_id `after`.',
      auth: 'participant',
      needs: 'audit',
      params: p.mission,
      query: q.audit,
      responses: { 200: { description: 'A page of audit records', schema: R.auditPage }, ...common },
      handle: async ({ params, actor, query }) => {
        const mission = await open(params.id);
        await mission.authorize(actor, 'audit', 'audit_log');
        const records = await mission.readAudit(query.after, query.limit);
        return ok({ records, next: records.length > 0 ? records[records.length - 1]!.audit_id : query.after });
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/missions/{id}/isolation',
      operationId: 'configureIsolation',
      summary: "Sets the mission's isolation profile by name.",
      auth: 'participant',
      needs: 'configure_isolation',
      params: p.mission,
      body: { kind: 'json', schema: b.configureIsolation },
      responses: { 200: { description: 'Configured', schema: R.event }, ...common },
      handle: async ({ params, actor, body }) => {
        const mission = await open(params.id);
        return ok(await mission.run(actor, { kind: 'configure_isolation', ...body }));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/missions/{id}/cells/started',
      operationId: 'cellStarted',
      summary: 'Records that an isolation cell started.',
      auth: 'participant',
      needs: 'publish',
      params: p.mission,
      body: { kind: 'json', schema: b.cellStarted },
      responses: { 201: { description: 'Recorded', schema: R.event }, ...common },
      handle: async ({ params, actor, body }) => {
        const mission = await open(params.id);
        return created(await mission.run(actor, { kind: 'cell_started', ...body }));
      },
    }),
    route({
      method: 'POST',
      path: '/v1/missions/{id}/cells/exited',
      operationId: 'cellExited',
      summary: 'Records that an isolation cell exited.',
      auth: 'participant',
      needs: 'publish',
      params: p.mission,
      body: { kind: 'json', schema: b.cellExited },
      responses: { 201: { description: 'Recorded', schema: R.event }, ...common },
      handle: async ({ params, actor, body }) => {
        const mission = await open(params.id);
        return created(await mission.run(actor, { kind: 'cell_exited', ...body }));
      },
    }),
    route({
      method: 'PUT',
      path: '/v1/missions/{id}/blobs/{sha256}',
      operationId: 'putBlob',
      summary: 'Stores a checkpoint artifact by content (raw bytes; the path must be their sha256). Idempotent.',
      auth: 'participant',
      needs: 'checkpoint',
      params: p.blob,
      body: { kind: 'bytes', schema: z.instanceof(Buffer) },
      responses: { 201: { description: 'Stored', schema: R.blobRef }, ...common, 413: error },
      handle: async ({ params, actor, body }) => {
        // The hash is checked like any body validation: before the decision, so a bad upload writes nothing.
        const bytes = body;
        const actual = createHash('sha256').update(bytes).digest('hex');
        if (actual !== params.sha256) {
          throw new InvalidInputError(`the body's sha256 is ${actual}, not ${params.sha256}; upload the bytes under their own hash`, {
            expected: params.sha256,
            actual,
          });
        }
        const mission = await open(params.id);
        await mission.authorize(actor, 'checkpoint', `blob:${params.sha256}`);
        await service.store.putBlobs(params.id, [{ sha256: actual, bytes }]);
        return created({ sha256: actual, size: bytes.length });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/missions/{id}/blobs/{sha256}',
      operationId: 'getBlob',
      summary: 'A stored blob (raw bytes).',
      auth: 'participant',
      needs: 'read',
      params: p.blob,
      responses: { 200: { description: 'The bytes', contentType: 'application/octet-stream' }, ...common },
      handle: async ({ params, actor }) => {
        const mission = await open(params.id);
        await mission.authorize(actor, 'read', `blob:${params.sha256}`);
        const bytes = await service.store.getBlob(params.id, params.sha256);
        if (!bytes) throw new NotFoundError(`no blob ${params.sha256}; upload it with PUT first`, { sha256: params.sha256 });
        return { status: 200, bytes, contentType: 'application/octet-stream' };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/missions/{id}/export',
      operationId: 'exportMission',
      summary: "The mission in the seed's to_dict shape; format=seed leaves out the missionbus extension.",
      auth: 'participant',
      needs: 'read',
      params: p.mission,
      query: q.export,
      responses: { 200: { description: 'The dump', schema: R.missionDict }, ...common },
      handle: async ({ params, actor, query }) => {
        const mission = await open(params.id);
        await mission.authorize(actor, 'read', 'export');
        return ok(await mission.toDict({ seedOnly: query.format === 'seed' }));
      },
    }),
    route({
      method: 'GET',
      path: '/v1/missions/{id}/stream',
      operationId: 'streamEvents',
      summary:
        'Server-Sent Events from `from` (or Last-Event-ID + 1): replay, then live. `id:` is the sequence, `data:` the event JSON. A slow reader gets `event: error` and is disconnected; reconnect with Last-Event-ID.',
      auth: 'participant',
      needs: 'read',
      params: p.mission,
      query: q.subscribe,
      queryToken: true,
      responses: { 200: { description: 'text/event-stream', contentType: 'text/event-stream' }, ...common, 503: error },
      handle: async ({ params, actor, query, req, res }) => {
        const { mission, from } = await startSubscription(deps, params.id, actor, query.from, lastEventId(req));
        void deps.hub.serve(mission, from, new SseOutlet(res, deps.hub.options));
        return { streamed: true };
      },
    }),
    route({
      method: 'GET',
      path: '/v1/missions/{id}/ws',
      operationId: 'subscribeWebSocket',
      summary:
        'WebSocket upgrade: replay from `from`, then live. Each text message is a JSON array of events in sequence order. Close 4008: too slow (resume from your last sequence); 1001: server shutting down.',
      auth: 'participant',
      needs: 'read',
      params: p.mission,
      query: q.subscribe,
      queryToken: true,
      responses: { 101: { description: 'Switching Protocols' }, 426: error, ...common, 503: error },
      handle: async () => {
        throw new InvalidInputError('this endpoint is a WebSocket: send an Upgrade: websocket request', { reason: 'upgrade_required' });
      },
    }),
    route({
      method: 'GET',
      path: '/v1/missions/{id}/publish',
      operationId: 'publishWebSocket',
      summary:
        'WebSocket upgrade: the publish channel (see x-missionbus-websocket). Send one publish `{id, topic, payload, message_id?}` or an array per text message; ' +
        'each is acknowledged once durable with `{id, event}` or `{id, error}`, acks of one commit in one JSON array. Each publish is decided and audited like POST .../messages. Close 1001: server shutting down (resend unacknowledged publishes with the same message_id); 1009: frame too large.',
      auth: 'participant',
      needs: 'publish',
      params: p.mission,
      query: q.publishChannel,
      queryToken: true,
      responses: { 101: { description: 'Switching Protocols' }, 426: error, ...common, 503: error },
      handle: async () => {
        throw new InvalidInputError('this endpoint is a WebSocket: send an Upgrade: websocket request', { reason: 'upgrade_required' });
      },
    }),
  ];
  return routes;
}

/**
 * Authorizes a subscription (audited as `read` on target `subscribe`) and works out where it starts:
 * the later of `from` and Last-Event-ID + 1. Shared by the SSE route and the WebSocket upgrade.
 */
export async function startSubscription(
  deps: RouteDeps,
  id: string,
  actor: string,
  from: number | undefined,
  lastEventId?: string,
): Promise<{ mission: LiveMission; from: number }> {
  if (deps.hub.size >= deps.maxSubscribers) {
    throw new UnavailableError(`the server already serves ${deps.maxSubscribers} subscribers; retry later`, { reason: 'too_many_subscribers' });
  }
  let start = from ?? 1;
  if (lastEventId !== undefined) {
    if (!/^\d{1,15}$/.test(lastEventId)) throw new InvalidInputError(`Last-Event-ID must be an event sequence, not '${lastEventId}'`);
    start = Math.max(start, Number(lastEventId) + 1);
  }
  const mission = await deps.service.open(id);
  await mission.authorize(actor, 'read', 'subscribe');
  return { mission, from: start };
}

function lastEventId(req: IncomingMessage): string | undefined {
  const header = req.headers['last-event-id'];
  return Array.isArray(header) ? header[0] : header;
}
