/** Shared fixtures for the server tests: a real server on TCP port 0 and a Unix socket in a temp dir, over SQLite. */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MissionClient } from '../../src/client/index.js';
import type { MissionRole } from '../../src/core/profiles.js';
import { startServer, type MissionServer, type ServerOptions } from '../../src/server/index.js';
import { SqliteStore } from '../../src/store/sqlite.js';

export interface TestServer {
  server: MissionServer;
  store: SqliteStore;
  dir: string;
  /** A client without a token, over TCP. */
  anon: MissionClient;
  close(): Promise<void>;
}

export async function startTestServer(options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const dir = mkdtempSync(join(tmpdir(), 'mb-srv-'));
  const store = new SqliteStore(join(dir, 'bus.db'), { durability: 'normal' });
  const server = await startServer({ store, port: 0, socketPath: join(dir, 'bus.sock'), logLevel: 'silent', ...options });
  const anon = new MissionClient({ url: server.url ?? `unix:${server.socketPath}` });
  return {
    server,
    store,
    dir,
    anon,
    async close() {
      anon.close();
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export interface TestMission {
  missionId: string;
  tokens: Record<string, string>;
  /** One client per participant, acting with that participant's token. */
  as: Record<string, MissionClient>;
}

/** Creates a mission led by `lead` and adds one participant per entry of `members` (name → role). */
export async function createMission(
  t: TestServer,
  missionId = 'm1',
  members: Record<string, MissionRole> = {},
  lead = 'lead',
): Promise<TestMission> {
  const created = await t.anon.createMission({ mission_id: missionId, title: `mission ${missionId}`, lead: { name: lead } });
  const tokens: Record<string, string> = { [lead]: created.token };
  const leadClient = t.anon.withToken(created.token, missionId);
  for (const [name, role] of Object.entries(members)) tokens[name] = (await leadClient.addParticipant(name, role)).token;
  const as = Object.fromEntries(Object.entries(tokens).map(([name, token]) => [name, t.anon.withToken(token, missionId)]));
  return { missionId, tokens, as };
}

export interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
  json(): any;
}

/** A raw HTTP request, for what the SDK would never send. */
export function raw(
  target: { url?: string | null; socketPath?: string | null },
  method: string,
  path: string,
  options: { headers?: Record<string, string>; body?: string | Buffer } = {},
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const headers = { ...options.headers };
    if (options.body !== undefined) headers['Content-Length'] = String(Buffer.byteLength(options.body));
    const base = target.url ? { ...hostPort(target.url) } : { socketPath: target.socketPath! };
    const req = request({ ...base, method, path, headers, agent: false }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (chunk: Buffer) => chunks.push(chunk));
      res.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body, json: () => JSON.parse(body) });
      });
    });
    req.on('error', reject);
    req.end(options.body);
  });
}

function hostPort(url: string): { host: string; port: number } {
  const parsed = new URL(url);
  return { host: parsed.hostname, port: Number(parsed.port) };
}

export function bearer(token: string, extra: Record<string, string> = {}): Record<string, string> {
  return { Authorization: `Bearer ${token}`, ...extra };
}

export const JSON_HEADERS = { 'Content-Type': 'application/json' };

/** Everything the store holds for a mission, for before/after comparisons. */
export async function storeSnapshot(store: SqliteStore, missionId: string): Promise<string> {
  const events = await store.readEvents(missionId, 1, 1_000_000);
  const audit = await store.readAudit(missionId, 0, 1_000_000);
  const mission = await store.getMission(missionId);
  return JSON.stringify({ events, audit, mission });
}

export function waitFor(predicate: () => boolean, timeoutMs = 5000, what = 'condition'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      if (predicate()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(tick, 5);
    };
    tick();
  });
}
