/**
 * The world the fuzz tests attack: a real server on a SQLite file with two missions, `alpha` (lead, writer,
 * reader, auditor) and `bravo` (lead, writer), each with messages, a checkpoint with a blob, an open and an
 * accepted handoff — so hostile requests can use real ids and tokens of the other mission.
 *
 * "The store is unchanged" is checked on the file itself, with the server closed: every table — missions
 * (but their audit counter), headers, events, credentials, blobs, blob references, settings — holds exactly
 * the rows it held before. The audit log is the one exception, because refusing a request the rules decide
 * (a role lacking a capability, an id that does not exist) is itself a decision the log must record; the new
 * audit records are returned so a test can check they record nothing but such decisions.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import Database from 'better-sqlite3';
import { pino } from 'pino';
import { MissionClient } from '../../src/client/index.js';
import type { AuditRecord } from '../../src/core/events.js';
import { startServer, type MissionServer, type ServerOptions } from '../../src/server/index.js';
import { SqliteStore } from '../../src/store/sqlite.js';

export interface MissionFixture {
  id: string;
  tokens: Record<string, string>;
  messageId: string;
  checkpointId: string;
  /** Addressed to `writer`, not accepted. */
  openHandoffId: string;
  /** Addressed to `writer`, accepted by it. */
  acceptedHandoffId: string;
  blob: { sha256: string; bytes: Buffer };
  /** Every event id of the mission. */
  eventIds: string[];
  /** The full export, as a later import body. */
  export: unknown;
}

export interface World {
  dir: string;
  path: string;
  url: string;
  server: MissionServer;
  alpha: MissionFixture;
  bravo: MissionFixture;
  /** Errors the server logged (500s and other surprises). */
  serverErrors: string[];
  /** The store as it was before the attack (see `snapshot`). */
  before: Snapshot;
  /** The body the setup published `alpha.messageId` with, and the server's answer to it. */
  publishedMessage: { body: string; answer: string };
  close(): Promise<void>;
}

export interface Snapshot {
  /** Table name → its rows (JSON), ordered; `audit` excluded. */
  tables: Map<string, string>;
  audit: Array<AuditRecord & { audit_id: number }>;
}

const SERVER_OPTIONS: Partial<ServerOptions> = { port: 0, socketPath: null, blobLimit: 1024 * 1024 };

async function start(path: string, serverErrors: string[], options: Partial<ServerOptions>): Promise<MissionServer> {
  const sink = new Writable({
    write(chunk: Buffer, _encoding, done) {
      serverErrors.push(chunk.toString().slice(0, 2000));
      done();
    },
  });
  return startServer({
    store: new SqliteStore(path, { durability: 'normal' }),
    ...SERVER_OPTIONS,
    ...options,
    logger: pino({ level: 'error' }, sink),
  });
}

async function populate(client: MissionClient, id: string, members: Record<string, 'write' | 'read' | 'audit'>): Promise<Omit<MissionFixture, 'eventIds' | 'export'> & { publishedMessage: { body: string; answer: string } }> {
  const created = await client.createMission({ mission_id: id, title: `mission ${id}`, lead: { name: 'lead' } });
  const tokens: Record<string, string> = { lead: created.token };
  const lead = client.withToken(created.token, id);
  for (const [name, role] of Object.entries(members)) tokens[name] = (await lead.addParticipant(name, role)).token;
  const writer = client.withToken(tokens.writer!, id);
  const messageId = `${id}-message-1`;
  const publishBody = JSON.stringify({ topic: 'status', payload: { n: 1 }, message_id: messageId });
  const published = await writer.publish('status', { n: 1 }, { messageId });
  await writer.publish('status', { n: 2, text: 'שלום \u202e olleh' });
  const bytes = Buffer.from(`artifact of ${id}\n`);
  const blob = await writer.putBlob(bytes);
  const checkpoint = await writer.checkpoint({ summary: `checkpoint of ${id}`, state: { step: 1 }, files: [{ path: 'notes.md', size: bytes.length, sha256: blob.sha256 }] });
  const openHandoff = await lead.handoff('writer', checkpoint.checkpoint_id, 'open');
  const acceptedHandoff = await lead.handoff('writer', checkpoint.checkpoint_id, 'accepted');
  await writer.accept(acceptedHandoff.handoff_id);
  return {
    id,
    tokens,
    messageId,
    checkpointId: checkpoint.checkpoint_id,
    openHandoffId: openHandoff.handoff_id,
    acceptedHandoffId: acceptedHandoff.handoff_id,
    blob: { sha256: blob.sha256, bytes },
    publishedMessage: { body: publishBody, answer: JSON.stringify(published) },
  };
}

/** Builds the world, takes the before-snapshot with the server closed, and starts the server again on the same file. */
export async function buildWorld(options: Partial<ServerOptions> = {}): Promise<World> {
  const dir = mkdtempSync(join(tmpdir(), 'mb-fuzz-'));
  const path = join(dir, 'bus.db');
  const serverErrors: string[] = [];
  let server = await start(path, serverErrors, options);
  const client = new MissionClient({ url: server.url! });
  const { publishedMessage, ...alphaFixture } = await populate(client, 'alpha', { writer: 'write', reader: 'read', auditor: 'audit' });
  const { publishedMessage: _, ...bravoFixture } = await populate(client, 'bravo', { writer: 'write' });
  const complete = async (fixture: typeof alphaFixture): Promise<MissionFixture> => {
    const reader = client.withToken(fixture.tokens.lead!, fixture.id);
    const eventIds: string[] = [];
    for await (const event of reader.allEvents()) {
      eventIds.push(
        event.event_type === 'message' ? event.message_id : event.event_type === 'checkpoint' ? event.checkpoint_id : event.event_type === 'handoff' ? event.handoff_id : event.event_id,
      );
    }
    return { ...fixture, eventIds, export: await reader.export() };
  };
  const alpha = await complete(alphaFixture);
  const bravo = await complete(bravoFixture);
  client.close();
  await server.close();
  const before = await snapshot(path);
  server = await start(path, serverErrors, options);
  const world: World = {
    dir,
    path,
    url: server.url!,
    server,
    alpha,
    bravo,
    serverErrors,
    before,
    publishedMessage,
    async close() {
      await world.server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return world;
}

/** Every table of the SQLite file but the audit log, and the audit log apart (read through the store). The server must be closed. */
export async function snapshot(path: string): Promise<Snapshot> {
  const tables = tableRows(path);
  const store = new SqliteStore(path);
  try {
    const audit: Snapshot['audit'] = [];
    for (const { mission_id } of await store.listMissions()) {
      for (const record of await store.readAudit(mission_id, 0, Number.MAX_SAFE_INTEGER)) audit.push({ ...record, mission_id });
    }
    return { tables, audit };
  } finally {
    await store.close();
  }
}

function tableRows(path: string): Map<string, string> {
  const db = new Database(path, { readonly: true });
  try {
    const tables = new Map<string, string>();
    const names = db.prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").all();
    for (const { name } of names) {
      if (name === 'audit') continue;
      const columns = db
        .prepare<[], { name: string }>(`SELECT name FROM pragma_table_info('${name}')`)
        .all()
        .map((c) => c.name)
        // The audit counter moves with every audited decision, like the audit log itself.
        .filter((column) => !(name === 'missions' && column === 'last_audit_id'));
      const list = columns.map((c) => `"${c}"`).join(', ');
      const rows = db.prepare(`SELECT ${list} FROM "${name}" ORDER BY ${list}`).raw().all();
      tables.set(name, JSON.stringify(rows, (_key, value) => (Buffer.isBuffer(value) ? value.toString('base64') : value)));
    }
    return tables;
  } finally {
    db.close();
  }
}

/** Closes the server, compares the file with the before-snapshot, and returns the audit records added meanwhile. */
export async function closeAndCompare(world: World): Promise<{ changed: string[]; newAudit: Snapshot['audit'] }> {
  await world.server.close();
  const after = await snapshot(world.path);
  const changed: string[] = [];
  for (const [name, rows] of after.tables) if (world.before.tables.get(name) !== rows) changed.push(name);
  for (const name of world.before.tables.keys()) if (!after.tables.has(name)) changed.push(name);
  const seen = new Set(world.before.audit.map((r) => `${r.mission_id}/${r.audit_id}`));
  return { changed, newAudit: after.audit.filter((r) => !seen.has(`${r.mission_id}/${r.audit_id}`)) };
}
