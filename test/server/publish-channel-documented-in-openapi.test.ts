/**
 * The publish channel is in the OpenAPI document: its upgrade route, and — since WebSocket messages
 * are beyond OpenAPI — an `x-missionbus-websocket` extension with the frame schemas, generated from
 * the REST publish body the channel validates with.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { raw, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
before(async () => {
  t = await startTestServer();
});
after(() => t.close());

test('GET /v1/missions/{id}/publish is documented with its frames', async () => {
  const doc = (await raw(t.server, 'GET', '/openapi.json')).json();
  const operation = doc.paths['/v1/missions/{id}/publish'].get;
  assert.equal(operation.operationId, 'publishWebSocket');
  assert.equal(operation['x-missionbus-needs'], 'publish');
  assert.ok(operation.responses['101'] && operation.responses['403'] && operation.responses['401']);
  const channel = operation['x-missionbus-websocket'];
  assert.match(channel.description, /durable/);
  const item = channel.clientMessage.anyOf[0];
  assert.deepEqual(item.required.sort(), ['id', 'payload', 'topic']);
  assert.equal(item.additionalProperties, false, 'strict: a sender cannot be named');
  const rest = doc.paths['/v1/missions/{id}/messages'].post.requestBody.content['application/json'].schema;
  for (const field of ['topic', 'payload', 'message_id']) assert.deepEqual(item.properties[field], rest.properties[field], `${field} as in POST .../messages`);
  assert.equal(channel.clientMessage.anyOf[1].type, 'array');
  assert.ok(channel.serverMessages.hello.properties.hello);
  assert.equal(channel.serverMessages.acks.type, 'array');

  const plain = await raw(t.server, 'GET', '/v1/missions/m/publish');
  assert.ok([401, 426].includes(plain.status), `a plain GET is refused (${plain.status})`);
});
