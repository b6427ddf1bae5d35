/**
 * The setting of the security tests: a server that requires the admin token to create missions (as it does
 * when it listens beyond loopback), and missions populated with a participant of every role (lead, writer,
 * reader, auditor), a checkpoint with a blob, an open handoff and a message. For each operation of the route
 * table, `validRequest` builds a request that would succeed for a participant allowed to make it — what the
 * tests then send with tokens that must not be enough.
 */
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MissionClient } from '../../src/client/index.js';
import { startServer, type MissionServer } from '../../src/server/index.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { HttpConnection, type WireReply } from '../reliability/http-connection.js';
import { RawWebSocket, textFrame } from '../fuzz/websocket-frames.js';

export const ROLES = { lead: 'lead', writer: 'write', reader: 'read', auditor: 'audit' } as const;
export type Actor = keyof typeof ROLES;
export const ACTORS = Object.keys(ROLES) as Actor[];

export interface SecuredMission {
  id: string;
  tokens: Record<Actor, string>;
  lead: MissionClient;
  messageId: string;
  checkpointId: string;
  openHandoffId: string;
  blob: { sha256: string; bytes: Buffer };
  eventIds: string[];
  /** Strings only this mission's data contains: none may appear in an answer to another mission's participant. */
  secrets: string[];
}

export interface Secured {
  server: MissionServer;
  store: SqliteStore;
  url: string;
  admin: string;
  anon: MissionClient;
  populate(id: string): Promise<SecuredMission>;
  close(): Promise<void>;
}

export async function startSecured(): Promise<Secured> {
  const dir = mkdtempSync(join(tmpdir(), 'mb-sec-'));
  const store = new SqliteStore(join(dir, 'bus.db'), { durability: 'normal' });
  let admin = '';
  const server = await startServer({
    store,
    port: 0,
    socketPath: null,
    logLevel: 'silent',
    requireAdminToken: true,
    onAdminToken: (token) => (admin = token),
  });
  const anon = new MissionClient({ url: server.url! });
  const secured: Secured = {
    server,
    store,
    url: server.url!,
    admin,
    anon,
    async populate(id) {
      const secret = `secret-of-${id}-${randomBytes(6).toString('hex')}`;
      const created = await anon.withToken(admin).createMission({ mission_id: id, title: `${secret}-title`, lead: { name: 'lead' } });
      const lead = anon.withToken(created.token, id);
      const tokens = { lead: created.token } as Record<Actor, string>;
      for (const actor of ACTORS.filter((a) => a !== 'lead')) tokens[actor] = (await lead.addParticipant(actor, ROLES[actor])).token;
      const writer = anon.withToken(tokens.writer, id);
      const message = await writer.publish('status', { note: `${secret}-payload` }, { messageId: `${id}-message` });
      const bytes = Buffer.from(`${secret}-blob`);
      const blob = await writer.putBlob(bytes);
      const checkpoint = await writer.checkpoint({ summary: `${secret}-summary`, state: {}, files: [{ path: 'notes.md', size: bytes.length, sha256: blob.sha256 }] });
      const handoff = await lead.handoff('writer', checkpoint.checkpoint_id, `${secret}-note`);
      const eventIds: string[] = [];
      for await (const event of lead.allEvents()) eventIds.push('message_id' in event ? event.message_id : 'checkpoint_id' in event && event.event_type === 'checkpoint' ? event.checkpoint_id : 'handoff_id' in event && event.event_type === 'handoff' ? event.handoff_id : (event as { event_id: string }).event_id);
      return {
        id,
        tokens,
        lead,
        messageId: message.message_id,
        checkpointId: checkpoint.checkpoint_id,
        openHandoffId: handoff.handoff_id,
        blob: { sha256: blob.sha256, bytes },
        eventIds,
        secrets: [secret, blob.sha256, checkpoint.checkpoint_id, handoff.handoff_id, ...Object.values(tokens)],
      };
    },
    async close() {
      anon.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return secured;
}

export interface RouteRequest {
  operation: string;
  method: string;
  path: string;
  body?: Buffer;
  contentType?: string;
  /** How it is sent: plain HTTP, as Server-Sent Events (answered with a stream), or as a WebSocket handshake. */
  transport: 'http' | 'sse' | 'websocket';
  /** For the publish channel: a publish to send once connected. */
  publish?: Record<string, unknown>;
}

let unique = 0;
const fresh = (what: string) => `${what}-${++unique}-${randomBytes(3).toString('hex')}`;

/**
 * A request for `operation` against mission `m` that succeeds when `actor` (of `m`) may make it. Resources it
 * consumes (a handoff to accept, a participant to change) are made fresh in `m` by its lead.
 */
export async function validRequest(operation: string, m: SecuredMission, actor: Actor): Promise<RouteRequest> {
  const base = `/v1/missions/${m.id}`;
  const json = (method: string, path: string, body: unknown): RouteRequest => ({ operation, method, path, body: Buffer.from(JSON.stringify(body)), contentType: 'application/json', transport: 'http' });
  const get = (path: string): RouteRequest => ({ operation, method: 'GET', path, transport: 'http' });
  switch (operation) {
    case 'health':
      return get('/healthz');
    case 'openapi':
      return get('/openapi.json');
    case 'whoami':
      return get('/v1/whoami');
    case 'createMission':
      return json('POST', '/v1/missions', { mission_id: fresh('created'), lead: { name: 'l' } });
    case 'importMission':
      return json('POST', '/v1/missions/import', { mission_id: fresh('imported'), participants: { l: { name: 'l', role: 'lead' } }, events: [] });
    case 'getMission':
      return get(base);
    case 'addParticipant':
      return json('POST', `${base}/participants`, { name: fresh('member'), role: 'read' });
    case 'changeRole': {
      const name = fresh('member');
      await m.lead.addParticipant(name, 'read');
      return json('PUT', `${base}/participants/${name}/role`, { role: 'write' });
    }
    case 'publish':
      return json('POST', `${base}/messages`, { topic: 'sec', payload: { n: 1 } });
    case 'checkpoint':
      return json('POST', `${base}/checkpoints`, { summary: 'sec', state: {} });
    case 'handoff':
      return json('POST', `${base}/handoffs`, { recipient: 'writer', checkpoint_id: m.checkpointId });
    case 'acceptHandoff': {
      // Addressed to the actor when it could take the work over; otherwise to the writer.
      const recipient = actor === 'lead' || actor === 'writer' ? actor : 'writer';
      const handoff = await m.lead.handoff(recipient, m.checkpointId);
      return json('POST', `${base}/handoffs/${handoff.handoff_id}/accept`, {});
    }
    case 'resumePacket':
      return get(`${base}/handoffs/${m.openHandoffId}/resume`);
    case 'listEvents':
      return get(`${base}/events`);
    case 'getEvent':
      return get(`${base}/events/${m.messageId}`);
    case 'readAudit':
      return get(`${base}/audit`);
    case 'configureIsolation':
      return json('PUT', `${base}/isolation`, { profile: 'level1-directory' });
    case 'cellStarted':
      return json('POST', `${base}/cells/started`, { cell_id: fresh('cell'), level: 1, profile: 'level1-directory', command: ['true'] });
    case 'cellExited':
      return json('POST', `${base}/cells/exited`, { cell_id: fresh('cell'), exit_code: 0, signal: null, duration_ms: 1 });
    case 'putBlob': {
      const bytes = randomBytes(32);
      return { operation, method: 'PUT', path: `${base}/blobs/${createHash('sha256').update(bytes).digest('hex')}`, body: bytes, contentType: 'application/octet-stream', transport: 'http' };
    }
    case 'getBlob':
      return get(`${base}/blobs/${m.blob.sha256}`);
    case 'exportMission':
      return get(`${base}/export`);
    case 'streamEvents':
      return { operation, method: 'GET', path: `${base}/stream`, transport: 'sse' };
    case 'subscribeWebSocket':
      return { operation, method: 'GET', path: `${base}/ws`, transport: 'websocket' };
    case 'publishWebSocket':
      return { operation, method: 'GET', path: `${base}/publish`, transport: 'websocket', publish: { id: 1, topic: 'sec', payload: { n: 1 } } };
    default:
      throw new Error(`no valid request known for operation '${operation}': add it to validRequest`);
  }
}

export interface Answer {
  status: number;
  body: string;
  /** For the publish channel: the ack of the publish sent. */
  ack?: { error?: { code: string }; event?: unknown };
}

/** Sends `request` with `token` (none when undefined); an accepted stream or WebSocket is closed at once. */
export async function send(url: string, request: RouteRequest, token: string | undefined): Promise<Answer> {
  const headers: Record<string, string> = {};
  if (token !== undefined) headers.Authorization = `Bearer ${token}`;
  if (request.contentType) headers['Content-Type'] = request.contentType;
  if (request.transport === 'websocket') {
    try {
      const ws = await RawWebSocket.open(url, request.path, token ?? '');
      try {
        if (!request.publish) return { status: 101, body: '' };
        await ws.until((o) => o.texts.length > 0, 5000); // hello
        ws.write(textFrame(JSON.stringify(request.publish)));
        const seen = await ws.until((o) => o.texts.length > 1, 5000);
        const ack = (JSON.parse(seen.texts[1] ?? '[]') as Answer['ack'][])[0];
        return { status: 101, body: seen.texts.join('\n'), ack };
      } finally {
        ws.destroy();
      }
    } catch (error) {
      const match = /handshake refused: HTTP\/1\.1 (\d{3})/.exec((error as Error).message);
      if (!match) throw error;
      // Ask again over plain HTTP to read the refusal's body.
      const connection = await HttpConnection.open(url);
      try {
        const reply = await connection.request('GET', request.path, {
          ...headers,
          Upgrade: 'websocket',
          Connection: 'Upgrade',
          'Sec-WebSocket-Key': randomBytes(16).toString('base64'),
          'Sec-WebSocket-Version': '13',
        });
        return { status: reply.status, body: reply.body.toString() };
      } finally {
        connection.close();
      }
    }
  }
  if (request.transport === 'sse') {
    const controller = new AbortController();
    const response = await fetch(`${url}${request.path}`, { headers, signal: controller.signal });
    if (response.status === 200) {
      controller.abort();
      return { status: 200, body: '' };
    }
    return { status: response.status, body: await response.text() };
  }
  const connection = await HttpConnection.open(url);
  try {
    const reply: WireReply = await connection.request(request.method, request.path, headers, request.body);
    return { status: reply.status, body: reply.body.toString() };
  } finally {
    connection.close();
  }
}

/** Everything the store holds for a mission: events, audit log and mission row. */
export async function missionSnapshot(store: SqliteStore, missionId: string): Promise<string> {
  const events = await store.readEvents(missionId, 1, 1_000_000);
  const audit = await store.readAudit(missionId, 0, 1_000_000);
  const mission = await store.getMission(missionId);
  return JSON.stringify({ events, audit, mission });
}

/** The operations the route table lists (from the server's OpenAPI document). */
export async function routeOperations(url: string): Promise<string[]> {
  const doc = (await (await fetch(`${url}/openapi.json`)).json()) as { paths: Record<string, Record<string, { operationId: string }>> };
  return Object.values(doc.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
}
