/**
 * Malformed publish-channel input never crashes the server and changes nothing — no event, no audit
 * record: every unusable frame or item is answered with an invalid_input ack (id null when it cannot
 * be attributed to a publish), the connection keeps working, and frames the WebSocket layer refuses
 * (over the size limit: 1009; invalid UTF-8: 1007) close only that connection.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { createMission, raw, startTestServer, storeSnapshot, type TestMission, type TestServer } from './helpers.js';
import { openRaw } from './publish-channel-helpers.js';

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer({ bodyLimit: 64 * 1024 });
  m = await createMission(t, 'junk', { writer: 'write' });
});
after(() => t.close());

const deep = (levels: number): unknown => (levels === 0 ? {} : { a: deep(levels - 1) });

test('unusable frames and items get error acks and change nothing', async () => {
  const snapshot = await storeSnapshot(t.store, 'junk');
  const channel = await openRaw(t.server, m.tokens.writer!, 'junk');
  assert.equal(channel.hello.max_frame_bytes, 64 * 1024, 'the frame limit is the body limit');

  // Each frame, and how many acks it gets: one per item of an array, else one.
  const unattributed: Array<[string | Buffer, number]> = [
    ['not json', 1],
    ['{"id": 1, "topic": ', 1],
    ['[]', 1],
    ['42', 1],
    ['"a string"', 1],
    ['null', 1],
    ['[1, null, "x", [2]]', 4],
    [JSON.stringify({ topic: 't', payload: {} }), 1], // no id
    [JSON.stringify([{ id: -1, topic: 't', payload: {} }, { id: 1.5, topic: 't', payload: {} }, { id: '', topic: 't', payload: {} }]), 3],
    [JSON.stringify({ id: { nested: true }, topic: 't', payload: {} }), 1],
    [JSON.stringify({ id: 'x'.repeat(129), topic: 't', payload: {} }), 1],
    ['['.repeat(20_000) + ']'.repeat(20_000), 1], // nested beyond reason
    [Buffer.from([0xde, 0xad, 0xbe, 0xef]), 1], // binary garbage
  ];
  const invalid = [
    { id: 100, payload: {} }, // no topic
    { id: 101, topic: 't' }, // no payload
    { id: 102, topic: 't', payload: [1, 2] },
    { id: 103, topic: 't', payload: 'text' },
    { id: 104, topic: 'bad\u0000topic', payload: {} },
    { id: 105, topic: '', payload: {} },
    { id: 106, topic: 'x'.repeat(257), payload: {} },
    { id: 107, topic: 't', payload: deep(80) },
    { id: 108, topic: 't', payload: {}, message_id: '' },
    { id: 109, topic: 't', payload: {}, sender: 'lead' },
    { id: 110, topic: 't', payload: {}, sequence: 1 },
  ];
  for (const [frame] of unattributed) channel.send(frame, Buffer.isBuffer(frame));
  channel.send(JSON.stringify(invalid));
  const expectedUnattributed = unattributed.reduce((sum, [, count]) => sum + count, 0);
  const acks = await channel.acksAtLeast(expectedUnattributed + invalid.length);
  assert.equal(acks.length, expectedUnattributed + invalid.length);
  for (const ack of acks) {
    assert.ok('error' in ack, JSON.stringify(ack));
    assert.equal(ack.error.code, 'invalid_input', JSON.stringify(ack));
    assert.ok(ack.error.message.length > 0);
  }
  assert.equal(acks.filter((ack) => ack.id === null).length, expectedUnattributed);
  assert.deepEqual(
    acks.filter((ack) => ack.id !== null).map((ack) => ack.id),
    invalid.map((item) => item.id),
    'each invalid publish answered under its own id, in order',
  );
  assert.equal(await storeSnapshot(t.store, 'junk'), snapshot, 'no event, no audit record');

  // The same connection still publishes.
  channel.send(JSON.stringify({ id: 'fine', topic: 'still.works', payload: { ok: true } }));
  const [last] = (await channel.acksAtLeast(acks.length + 1)).slice(-1);
  assert.ok(last && 'event' in last && last.id === 'fine');
  channel.ws.close();
});

test('a frame over the size limit closes that connection with 1009; invalid UTF-8 with 1007; the server stays up', async () => {
  const before = (await m.as.lead!.mission()).last_sequence;
  const big = await openRaw(t.server, m.tokens.writer!, 'junk');
  big.send(JSON.stringify({ id: 1, topic: 't', payload: { blob: 'x'.repeat(70 * 1024) } }));
  assert.equal((await big.closed).code, 1009);

  const garbled = await openRaw(t.server, m.tokens.writer!, 'junk');
  garbled.send(Buffer.from([0x5b, 0xff, 0xfe, 0x5d]), false); // "[" + invalid UTF-8 + "]" as a text frame
  assert.equal((await garbled.closed).code, 1007);

  assert.equal((await raw(t.server, 'GET', '/healthz')).status, 200);
  assert.equal((await m.as.lead!.mission()).last_sequence, before);
  const publisher = m.as.writer!.publisher();
  assert.equal((await publisher.publish('after.junk', {})).sequence, before + 1);
  publisher.close();
});
