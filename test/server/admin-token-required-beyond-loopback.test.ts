/**
 * Creating missions is open on a loopback-only server. A server that must create missions for remote
 * callers requires the admin token: generated on the first start, handed out once, stored hashed.
 * On loopback, a Host that is not loopback (DNS rebinding) is refused.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MissionClient } from '../../src/client/index.js';
import { ADMIN_TOKEN_SETTING, hashToken, isLoopback, startServer } from '../../src/server/index.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { raw } from './helpers.js';

test('loopback hosts are recognized', () => {
  for (const host of ['127.0.0.1', '127.1.2.3', '::1', '[::1]', 'localhost']) assert.ok(isLoopback(host), host);
  for (const host of ['0.0.0.0', '::', '10.0.0.1', 'example.com']) assert.ok(!isLoopback(host), host);
});

test('with the admin token required, it is generated once, stored hashed, and gates creation', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mb-admin-'));
  const path = join(dir, 'bus.db');
  const shown: string[] = [];
  try {
    // requireAdminToken is what binding beyond loopback turns on; tests stay on loopback.
    const options = { port: 0, socketPath: null, logLevel: 'silent' as const, requireAdminToken: true, onAdminToken: (token: string) => shown.push(token) };
    const server = await startServer({ ...options, store: new SqliteStore(path) });
    assert.equal(shown.length, 1);
    const admin = shown[0]!;
    assert.equal(server.adminToken, admin);
    assert.equal(await server.service.store.getSetting(ADMIN_TOKEN_SETTING), hashToken(admin));

    const anon = new MissionClient({ url: server.url! });
    await assert.rejects(anon.createMission({ mission_id: 'x', lead: { name: 'l' } }), (error: any) => error.details.status === 401);
    const lead = (await anon.withToken(admin).createMission({ mission_id: 'x', lead: { name: 'l' } })).token;
    // A participant token is not an admin token.
    await assert.rejects(anon.withToken(lead).createMission({ mission_id: 'y', lead: { name: 'l' } }), { name: 'PermissionDeniedError' });
    // The admin token acts on no mission.
    await assert.rejects(anon.withToken(admin, 'x').events(), { name: 'PermissionDeniedError' });
    assert.deepEqual(await anon.withToken(admin).whoami(), { kind: 'admin' });
    anon.close();
    await server.close();

    // Second start: the token exists, nothing is shown again, the old token still works.
    const again = await startServer({ ...options, store: new SqliteStore(path) });
    assert.equal(shown.length, 1);
    assert.equal(again.adminToken, undefined);
    const client = new MissionClient({ url: again.url!, token: admin });
    await client.createMission({ mission_id: 'z', lead: { name: 'l' } });
    client.close();
    await again.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a loopback server refuses a foreign Host header (DNS rebinding) but serves localhost names', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mb-host-'));
  try {
    const server = await startServer({ store: new SqliteStore(join(dir, 'bus.db')), port: 0, socketPath: join(dir, 's.sock'), logLevel: 'silent' });
    const body = JSON.stringify({ mission_id: 'rebind', lead: { name: 'l' } });
    const port = new URL(server.url!).port;
    const evil = await raw(server, 'POST', '/v1/missions', { headers: { Host: `evil.example:${port}`, 'Content-Type': 'application/json' }, body });
    assert.equal(evil.status, 403);
    assert.equal(evil.json().error.details.reason, 'host_not_allowed');
    // A browser's cross-origin "simple" request cannot carry application/json.
    const form = await raw(server, 'POST', '/v1/missions', { headers: { Host: `localhost:${port}`, 'Content-Type': 'text/plain' }, body });
    assert.equal(form.status, 415);
    const ok = await raw(server, 'POST', '/v1/missions', { headers: { Host: `localhost:${port}`, 'Content-Type': 'application/json' }, body });
    assert.equal(ok.status, 201);
    // The Unix socket has no Host to check: file permissions guard it.
    const overUnix = await raw({ socketPath: server.socketPath }, 'GET', '/healthz', { headers: { Host: 'anything' } });
    assert.equal(overUnix.status, 200);
    await server.close();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
