/**
 * A publish-channel connection never has more than `window` publishes unacknowledged on the server:
 * publishes beyond it that were already read are refused with unavailable/window_full (and change
 * nothing), the server stops reading the socket at the window, and the SDK publisher keeps to the
 * window the server announces even when its own is larger.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { UnavailableError } from '../../src/core/errors.js';
import { createMission, startTestServer, waitFor, type TestMission, type TestServer } from './helpers.js';
import { openRaw } from './publish-channel-helpers.js';

const WINDOW = 16;
let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer({ publishChannel: { window: WINDOW } });
  m = await createMission(t, 'window', { writer: 'write' });
});
after(() => t.close());

/** Samples the server's unacknowledged publishes until stopped; returns the largest seen. */
function watchInFlight(): () => number {
  let largest = 0;
  const sample = () => (largest = Math.max(largest, t.server.stats().publishesInFlight));
  const timer = setInterval(sample, 0);
  return () => {
    clearInterval(timer);
    sample();
    return largest;
  };
}

test('one frame with more publishes than the window: the excess is refused with window_full and appends nothing', async () => {
  const before = (await m.as.lead!.mission()).last_sequence;
  const channel = await openRaw(t.server, m.tokens.writer!, 'window');
  assert.equal(channel.hello.window, WINDOW);
  channel.send(JSON.stringify(Array.from({ length: 40 }, (_, i) => ({ id: i, topic: 'burst', payload: { i } }))));
  const acks = await channel.acksAtLeast(40);
  const taken = acks.filter((ack) => 'event' in ack).map((ack) => ack.id);
  const refused = acks.filter((ack) => 'error' in ack);
  assert.deepEqual(taken, Array.from({ length: WINDOW }, (_, i) => i), 'the first `window` publishes are taken, in order');
  assert.equal(refused.length, 40 - WINDOW);
  for (const ack of refused) {
    assert.ok('error' in ack);
    assert.equal(ack.error.code, 'unavailable');
    assert.equal(ack.error.details.reason, 'window_full');
    assert.match(ack.error.message, /wait for acks/);
  }
  assert.equal((await m.as.lead!.mission()).last_sequence, before + WINDOW, 'only the taken publishes were appended');
  channel.ws.close();
});

test('a client flooding single-publish frames: never more than `window` in flight on the server', async () => {
  const before = (await m.as.lead!.mission()).last_sequence;
  const channel = await openRaw(t.server, m.tokens.writer!, 'window');
  const stop = watchInFlight();
  for (let i = 0; i < 300; i++) channel.send(JSON.stringify({ id: i, topic: 'flood', payload: { i } }));
  const acks = await channel.acksAtLeast(300);
  const largest = stop();
  assert.ok(largest <= WINDOW, `at most ${WINDOW} in flight (saw ${largest})`);
  const taken = acks.filter((ack) => 'event' in ack).length;
  assert.ok(acks.every((ack) => 'event' in ack || ack.error.details.reason === 'window_full'));
  assert.equal((await m.as.lead!.mission()).last_sequence, before + taken);
  channel.ws.close();
});

test('the SDK publisher keeps to the server window', async () => {
  const publisher = m.as.writer!.publisher({ window: 1000 });
  const stop = watchInFlight();
  const events = await Promise.all(Array.from({ length: 500 }, (_, i) => publisher.publish('paced', { i })));
  const largest = stop();
  assert.ok(largest <= WINDOW, `at most ${WINDOW} in flight on the server (saw ${largest})`);
  assert.ok(largest > 0, 'the sampler saw publishes in flight');
  assert.equal(events.length, 500);
  assert.deepEqual(
    events.map((event) => event.payload.i),
    Array.from({ length: 500 }, (_, i) => i),
  );
  await publisher.drain();
  await assert.rejects(publisher.publish('closed', {}), UnavailableError, 'a drained publisher is closed');
  await waitFor(() => t.server.stats().publishers === 0, 5000, 'the channel to close');
});
