/**
 * The SDK rethrows the server's errors as the core's typed errors, with the server's details (plus the
 * HTTP status), and turns an unreachable server into UnavailableError naming where it tried.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { MissionClient, parseEndpoint } from '../../src/client/index.js';
import { ConflictError, InvalidInputError, MissionBusError, NotFoundError, PermissionDeniedError, UnavailableError } from '../../src/core/errors.js';
import { startServer } from '../../src/server/index.js';
import { MemoryStore } from '../../src/store/memory.js';

test('each error code comes back as its class', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'mb-client-'));
  const server = await startServer({ store: new MemoryStore(), port: 0, socketPath: join(dir, 's.sock'), logLevel: 'silent' });
  try {
    const anon = new MissionClient({ url: server.url! });
    const created = await anon.createMission({ mission_id: 'errs', lead: { name: 'lead' } });
    const lead = anon.withToken(created.token, 'errs');
    const { token } = await lead.addParticipant('reader', 'read');
    const reader = anon.withToken(token, 'errs');

    const denied = await reader.publish('t', {}).catch((error) => error);
    assert.ok(denied instanceof PermissionDeniedError);
    assert.ok(denied instanceof MissionBusError);
    assert.equal(denied.code, 'permission_denied');
    assert.equal(denied.details.participant, 'reader');
    assert.equal(denied.details.status, 403);

    assert.ok((await lead.event('missing').catch((e) => e)) instanceof NotFoundError);
    assert.ok((await anon.createMission({ mission_id: 'errs', lead: { name: 'x' } }).catch((e) => e)) instanceof ConflictError);
    const invalid = await lead.publish('', {}).catch((e) => e);
    assert.ok(invalid instanceof InvalidInputError);
    assert.equal((invalid.details.issues as Array<{ path: string }>)[0]!.path, 'topic');
    assert.ok((await new MissionClient({ url: server.url! }).publish('t', {}).catch((e) => e)) instanceof InvalidInputError, 'no missionId');
    anon.close();
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an unreachable server or a non-missionbus answer is UnavailableError', async () => {
  const gone = await new MissionClient({ url: 'unix:/nonexistent/bus.sock', token: 'T'.repeat(43), missionId: 'm' }).events().catch((e) => e);
  assert.ok(gone instanceof UnavailableError);
  assert.match(gone.message, /unix:\/nonexistent\/bus.sock/);

  const proxy = createServer((_req, res) => {
    res.writeHead(502, { 'Content-Type': 'text/html' });
    res.end('<h1>Bad Gateway</h1>');
  });
  await new Promise<void>((resolve) => proxy.listen(0, '127.0.0.1', resolve));
  const error = await new MissionClient({ url: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` }).health().catch((e) => e);
  assert.ok(error instanceof UnavailableError);
  assert.equal(error.details.status, 502);
  await new Promise((resolve) => proxy.close(resolve));
});

test('server URLs: http, https and unix (relative paths resolved)', () => {
  assert.deepEqual(parseEndpoint('http://127.0.0.1:7420'), { kind: 'tcp', origin: 'http://127.0.0.1:7420', secure: false });
  assert.deepEqual(parseEndpoint('https://bus.example'), { kind: 'tcp', origin: 'https://bus.example', secure: true });
  assert.deepEqual(parseEndpoint('unix:/run/bus.sock'), { kind: 'unix', socketPath: '/run/bus.sock' });
  assert.deepEqual(parseEndpoint('unix:.missionbus/bus.sock'), { kind: 'unix', socketPath: join(process.cwd(), '.missionbus/bus.sock') });
  assert.throws(() => parseEndpoint('ftp://x'), InvalidInputError);
  assert.throws(() => parseEndpoint('unix:'), InvalidInputError);
});
