/**
 * Subscribers that resume from far behind — after a restart, or after being cut off as too slow — are
 * caught up from the store, with frames that are theirs alone (live frames are shared). What the server
 * holds for each is bounded by the high-water mark, not by the length of the stream or the size of a store
 * page: here 20 subscribers start from sequence 1 of a 12 MB stream and then stop reading, and the server
 * holds at most a quarter of the mark (plus one frame) for each, in its socket and on its heap. Before this
 * was bounded, each held a whole 256-event page: under the 1,000-subscriber load bench, 1.5 GB; and later,
 * while waiting for its socket to drain, the unsent rest of the page it had read (here 12 MB each).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createMission, startTestServer, waitFor, type TestMission, type TestServer } from '../server/helpers.js';
import { RawWebSocket } from '../fuzz/websocket-frames.js';

const HIGH_WATER = 256 * 1024;
const EVENTS = 200;
const PAYLOAD = 'z'.repeat(60 * 1024);
const SUBSCRIBERS = 20;

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;
/** The heap in use once garbage is collected. */
function liveHeap(): number {
  gc();
  return process.memoryUsage().heapUsed;
}

let t: TestServer;
let m: TestMission;
before(async () => {
  t = await startTestServer({ stream: { highWaterMark: HIGH_WATER, stallTimeoutMs: 60_000 } });
  m = await createMission(t, 'backlog', { pub: 'write', watcher: 'read' });
  for (let i = 0; i < EVENTS; i += 20) await Promise.all(Array.from({ length: 20 }, (_, j) => m.as.pub!.publish('big', { i: i + j, pad: PAYLOAD })));
});
after(() => t.close());

test(`${SUBSCRIBERS} subscribers catching up on a ${(EVENTS * PAYLOAD.length) / 1e6} MB stream and not reading hold a bounded backlog each`, async () => {
  const sockets: RawWebSocket[] = [];
  const heapBefore = liveHeap();
  try {
    for (let i = 0; i < SUBSCRIBERS; i++) {
      const ws = await RawWebSocket.open(t.server.url!, '/v1/missions/backlog/ws?from=1', m.tokens.watcher!);
      // Stop reading: the kernel buffers fill, then the server's own buffer.
      ws.reading(false);
      sockets.push(ws);
    }
    await waitFor(() => t.server.stats().subscribers === SUBSCRIBERS, 5000, 'every subscriber');
    // Let each catch-up run until it waits for its socket.
    await new Promise((resolve) => setTimeout(resolve, 1500));
    const { largestBacklog, bufferedBytes } = t.server.stats();
    const bound = HIGH_WATER / 4 + PAYLOAD.length + 1024;
    assert.ok(largestBacklog <= bound, `one subscriber's backlog is ${largestBacklog} bytes; the bound is ${bound}`);
    assert.ok(bufferedBytes <= SUBSCRIBERS * bound, `all subscribers hold ${bufferedBytes} bytes`);
    // Socket buffers are outside the JS heap; what grows the heap is event bodies read and not yet sent.
    const heapGrowth = liveHeap() - heapBefore;
    const streamBytes = EVENTS * PAYLOAD.length;
    // Measured: ~1.5 MB here; ~250 MB when each stalled subscriber kept the page it was sending.
    assert.ok(heapGrowth < streamBytes / 2, `the heap grew by ${(heapGrowth / 1e6).toFixed(1)} MB with ${SUBSCRIBERS} stalled subscribers; holding their pages would be ~${((SUBSCRIBERS * streamBytes) / 1e6).toFixed(0)} MB`);
  } finally {
    for (const ws of sockets) ws.destroy();
  }
});
