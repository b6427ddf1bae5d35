/**
 * GET /openapi.json is a valid OpenAPI 3.1 document listing every route the server answers, with the
 * request schemas the server validates with (strict objects: additionalProperties false).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { raw, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
let doc: any;
before(async () => {
  t = await startTestServer();
  const res = await raw(t.server, 'GET', '/openapi.json');
  assert.equal(res.status, 200);
  assert.match(String(res.headers['content-type']), /^application\/json/);
  doc = JSON.parse(res.body);
});
after(() => t.close());

const EXPECTED = [
  'GET /healthz',
  'GET /openapi.json',
  'GET /v1/whoami',
  'POST /v1/missions',
  'POST /v1/missions/import',
  'GET /v1/missions/{id}',
  'POST /v1/missions/{id}/participants',
  'PUT /v1/missions/{id}/participants/{name}/role',
  'POST /v1/missions/{id}/messages',
  'POST /v1/missions/{id}/checkpoints',
  'POST /v1/missions/{id}/handoffs',
  'POST /v1/missions/{id}/handoffs/{hid}/accept',
  'GET /v1/missions/{id}/handoffs/{hid}/resume',
  'GET /v1/missions/{id}/events',
  'GET /v1/missions/{id}/events/{eventId}',
  'GET /v1/missions/{id}/audit',
  'PUT /v1/missions/{id}/isolation',
  'POST /v1/missions/{id}/cells/started',
  'POST /v1/missions/{id}/cells/exited',
  'PUT /v1/missions/{id}/blobs/{sha256}',
  'GET /v1/missions/{id}/blobs/{sha256}',
  'GET /v1/missions/{id}/export',
  'GET /v1/missions/{id}/stream',
  'GET /v1/missions/{id}/ws',
  'GET /v1/missions/{id}/publish',
];

function operations(): string[] {
  return Object.entries<Record<string, unknown>>(doc.paths).flatMap(([path, methods]) =>
    Object.keys(methods).map((method) => `${method.toUpperCase()} ${path}`),
  );
}

test('the document is OpenAPI 3.1 and lists every route', () => {
  assert.equal(doc.openapi, '3.1.0');
  assert.equal(typeof doc.info.title, 'string');
  assert.deepEqual(operations().sort(), [...EXPECTED].sort());
  const ids = operations().map((op) => {
    const [method, path] = op.split(' ');
    return doc.paths[path!][method!.toLowerCase()].operationId;
  });
  assert.equal(new Set(ids).size, ids.length, 'operationIds are unique');
});

test('every documented route is served (none answers "no route")', async () => {
  const fill = (path: string) =>
    path
      .replace('{id}', 'm')
      .replace('{name}', 'n')
      .replace('{hid}', 'h')
      .replace('{eventId}', 'e')
      .replace('{sha256}', 'a'.repeat(64));
  for (const op of operations()) {
    const [method, path] = op.split(' ') as [string, string];
    const res = await raw(t.server, method, fill(path));
    const body = res.body.startsWith('{') ? JSON.parse(res.body) : {};
    assert.ok(!(res.status === 404 && /no route/.test(body.error?.message ?? '')), `${op} is routed`);
    assert.notEqual(res.status, 405, `${op} accepts its method`);
  }
});

test('each operation is self-consistent: path parameters declared, bodies strict, errors described', () => {
  for (const [path, methods] of Object.entries<Record<string, any>>(doc.paths)) {
    const names = [...path.matchAll(/\{(\w+)\}/g)].map((match) => match[1]);
    for (const [method, operation] of Object.entries<any>(methods)) {
      const declared = operation.parameters.filter((p: any) => p.in === 'path').map((p: any) => p.name);
      assert.deepEqual(declared.sort(), [...names].sort(), `${method} ${path} path parameters`);
      const schema = operation.requestBody?.content?.['application/json']?.schema;
      if (schema && path !== '/v1/missions/import') assert.equal(schema.additionalProperties, false, `${method} ${path} body is strict`);
      if (operation.security?.some((s: any) => 'bearer' in s) && path.startsWith('/v1/missions/{id}')) {
        assert.ok(operation.responses['403'], `${method} ${path} documents 403`);
      }
    }
  }
  const publish = doc.paths['/v1/missions/{id}/messages'].post.requestBody.content['application/json'].schema;
  assert.deepEqual(publish.required.sort(), ['payload', 'topic']);
  assert.equal(publish.properties.topic.maxLength, 256);
  assert.equal(publish.properties.payload.type, 'object');
  assert.equal(doc.components.securitySchemes.bearer.scheme, 'bearer');
});
