/**
 * Hostile bytes below the HTTP API, over raw TCP, generated with fast-check:
 *
 * - HTTP requests that are truncated (with or without the client half-closing), carry NUL or bare CR bytes,
 *   lie in Content-Length, mix Content-Length with Transfer-Encoding, name no Host, use a version or method
 *   that does not exist, or a head larger than the server accepts. Each is answered — within 5 s, the
 *   server's head timeout is 1 s here — with a 4xx and a JSON error body, and the server closes the connection.
 * - After a valid WebSocket handshake (subscribe or publish channel): truncated frames, unmasked frames,
 *   reserved opcodes and RSV bits, oversized or fragmented control frames, orphan continuations, invalid
 *   UTF-8, lengths over the limit, invalid close codes, random bytes. A WebSocket is past HTTP, so there is
 *   no status to answer with: the server closes the connection, with the protocol's close code when it can
 *   send one (1002 protocol error, 1007 invalid data, 1009 too big). Publishes that are valid frames but not
 *   valid publishes (malformed JSON, forged sender, a role without `publish`) are each refused with an error ack.
 *
 * Afterwards the server still serves, and the store is unchanged as in hostile-requests-refused-and-change-nothing.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { HttpConnection, type WireReply } from '../reliability/http-connection.js';
import { closeAndCompare, buildWorld, type World } from './world.js';
import { closePayload, frame, OPCODE, RawWebSocket, textFrame } from './websocket-frames.js';

const SEED = Number(process.env.MISSIONBUS_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const HTTP_CASES = 800;
const FRAME_CASES = 400;
const CONCURRENCY = 8;

let world: World;
before(async () => {
  world = await buildWorld({ headersTimeoutMs: 1000 });
});
after(() => world.close());

async function pool<T>(items: T[], run: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < items.length) await run(items[next++]!);
  }));
}

// ---- raw HTTP ----

interface RawCase {
  kind: string;
  bytes: Buffer;
  /** Half-close after writing. */
  end: boolean;
  status?: number;
  /** The request is still HTTP (only its content is refused): the connection may stay open. */
  keepsConnection?: boolean;
}

/** Complete, valid requests — never sent as they are. */
function baseRequests(w: World): Buffer[] {
  const host = new URL(w.url).host;
  const req = (method: string, path: string, headers: string[], body = '') =>
    Buffer.from([`${method} ${path} HTTP/1.1`, `Host: ${host}`, ...headers, ...(body ? [`Content-Length: ${Buffer.byteLength(body)}`] : []), '', body].join('\r\n'), 'latin1');
  const publish = JSON.stringify({ topic: 'wire', payload: { n: 1 } });
  const blob = 'raw blob bytes';
  const sha = createHash('sha256').update(blob).digest('hex');
  return [
    req('GET', '/v1/missions/alpha/events?limit=5', [`Authorization: Bearer ${w.alpha.tokens.reader}`]),
    req('POST', '/v1/missions/alpha/messages', [`Authorization: Bearer ${w.alpha.tokens.writer}`, 'Content-Type: application/json'], publish),
    req('PUT', `/v1/missions/alpha/blobs/${sha}`, [`Authorization: Bearer ${w.alpha.tokens.writer}`, 'Content-Type: application/octet-stream'], blob),
    req('POST', '/v1/missions', ['Content-Type: application/json'], JSON.stringify({ mission_id: 'wire-new', lead: { name: 'l' } })),
    req('POST', `/v1/missions/alpha/handoffs/${w.alpha.openHandoffId}/accept`, [`Authorization: Bearer ${w.alpha.tokens.writer}`, 'Content-Type: application/json'], '{}'),
    req('GET', '/v1/missions/alpha/ws', [`Authorization: Bearer ${w.alpha.tokens.reader}`, 'Upgrade: websocket', 'Connection: Upgrade', 'Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==', 'Sec-WebSocket-Version: 13']),
  ];
}

function headEnd(bytes: Buffer): number {
  return bytes.indexOf('\r\n\r\n') + 4;
}

function rawCases(w: World): fc.Arbitrary<RawCase> {
  const base = fc.constantFrom(...baseRequests(w));
  const replaceLine = (bytes: Buffer, match: RegExp, replacement: (line: string) => string[]) => {
    const end = headEnd(bytes);
    const lines = bytes.subarray(0, end - 4).toString('latin1').split('\r\n');
    const out = lines.flatMap((line) => (match.test(line) ? replacement(line) : [line]));
    return Buffer.concat([Buffer.from(`${out.join('\r\n')}\r\n\r\n`, 'latin1'), bytes.subarray(end)]);
  };
  return fc.oneof(
    // Any proper prefix is an incomplete request; the client half-closes.
    base.chain((bytes) => fc.integer({ min: 1, max: bytes.length - 1 }).map((cut) => ({ kind: 'truncated, then FIN', bytes: bytes.subarray(0, cut), end: true, status: 400 }))),
    // A head that stops and stalls: answered when the head timeout expires.
    base.chain((bytes) => fc.integer({ min: 1, max: headEnd(bytes) - 2 }).map((cut) => ({ kind: 'truncated head, stalled', bytes: bytes.subarray(0, cut), end: false, status: 408 }))),
    // A NUL or a bare CR inside the head (not before it: empty lines before a request line are to be ignored).
    base.chain((bytes) =>
      fc.tuple(fc.integer({ min: 1, max: headEnd(bytes) - 5 }), fc.constantFrom(0x00, 0x0d)).map(([at, byte]) => ({
        kind: 'forbidden byte in the head',
        bytes: Buffer.concat([bytes.subarray(0, at), Buffer.from([byte]), bytes.subarray(at)]),
        end: false,
      })),
    ),
    // Content-Length that lies (longer than the body, then FIN) or is not a number.
    base.filter((b) => b.length > headEnd(b)).chain((bytes) =>
      fc.integer({ min: 1, max: 1000 }).map((extra) => ({
        kind: 'Content-Length longer than the body, then FIN',
        bytes: replaceLine(bytes, /^Content-Length:/i, (line) => [`Content-Length: ${Number(line.split(':')[1]) + extra}`]),
        end: true,
        status: 400,
      })),
    ),
    fc.tuple(base, fc.constantFrom('abc', '-1', '1e3', '0x10', '', '1 2', '99999999999999999999')).map(([bytes, value]) => ({
      kind: 'Content-Length not a number',
      bytes: replaceLine(bytes, /^Host:/i, (line) => [line, `Content-Length: ${value}`]),
      end: false,
      status: 400,
    })),
    base.map((bytes) => ({ kind: 'two Content-Lengths', bytes: replaceLine(bytes, /^Host:/i, (line) => [line, 'Content-Length: 1', 'Content-Length: 2']), end: false, status: 400 })),
    fc.tuple(base, fc.constantFrom('chunked', 'gzip', 'chunked, gzip', 'identity', 'xchunked')).map(([bytes, te]) => ({
      kind: 'Transfer-Encoding smuggling',
      bytes: replaceLine(bytes, /^Host:/i, (line) => [line, 'Content-Length: 3', `Transfer-Encoding: ${te}`]),
      end: false,
      status: 400,
    })),
    base.map((bytes) => ({ kind: 'no Host', bytes: replaceLine(bytes, /^Host:/i, () => []), end: false, status: 400, keepsConnection: true })),
    fc.tuple(base, fc.constantFrom('HTTP/9.9', 'HTTP/1.1x', 'HTTPS/1.1', 'HTTP/1', 'http/1.1')).map(([bytes, version]) => ({
      kind: 'bad version',
      bytes: replaceLine(bytes, / HTTP\/1\.1$/, (line) => [line.replace(/HTTP\/1\.1$/, version)]),
      end: false,
    })),
    fc.tuple(base, fc.constantFrom('get', 'G ET', 'GE\tT', '', 'ÄPOST')).map(([bytes, method]) => ({
      kind: 'bad method',
      bytes: replaceLine(bytes, / HTTP\/1\.1$/, (line) => [`${method} ${line.split(' ').slice(1).join(' ')}`]),
      end: false,
      status: 400,
    })),
    fc.tuple(base, fc.integer({ min: 17_000, max: 40_000 })).map(([bytes, size]) => ({
      kind: 'head too large',
      bytes: replaceLine(bytes, /^Host:/i, (line) => [line, `X-Pad: ${'p'.repeat(size)}`]),
      end: false,
      status: 431,
    })),
    fc.constantFrom(
      { kind: 'not HTTP/1.1', bytes: Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n'), end: false, status: 400 },
      { kind: 'not HTTP/1.1', bytes: Buffer.from([0x16, 0x03, 0x01, 0x00, 0xa5, 0x01, 0x00, 0x00, 0xa1, 0x03, 0x03]), end: true, status: 400 },
      { kind: 'not HTTP/1.1', bytes: Buffer.from('GET /\r\n'), end: true, status: 400 },
      { kind: 'not HTTP/1.1', bytes: Buffer.from('CONNECT 127.0.0.1:22 HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n'), end: false, status: 405 },
    ),
  );
}

function checkReply(reply: WireReply, expected: number | undefined): string | undefined {
  if (reply.status < 400 || reply.status > 499) return `status ${reply.status}`;
  if (expected !== undefined && reply.status !== expected) return `status ${reply.status}, expected ${expected}: ${reply.body.toString().slice(0, 200)}`;
  try {
    const error = (JSON.parse(reply.body.toString()) as { error?: { code?: unknown; message?: unknown } }).error;
    if (typeof error?.code !== 'string' || typeof error.message !== 'string') return `not an error body: ${reply.body.toString().slice(0, 200)}`;
  } catch {
    return `body is not JSON: ${JSON.stringify(reply.body.toString().slice(0, 200))}`;
  }
  return undefined;
}

test(`${HTTP_CASES} truncated and malformed HTTP requests are each answered with a 4xx JSON error`, { timeout: 120_000 }, async (t) => {
  t.diagnostic(`seed ${SEED}`);
  const cases = fc.sample(rawCases(world), { numRuns: HTTP_CASES, seed: SEED });
  const problems: string[] = [];
  const tally = new Map<string, number>();
  await pool(cases, async (item) => {
    const connection = await HttpConnection.open(world.url);
    const closed = new Promise<void>((resolve) => {
      const poll = setInterval(() => connection.closed && (clearInterval(poll), resolve()), 5);
    });
    try {
      const reply = await Promise.race([
        connection.send(item.bytes, { end: item.end }),
        new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 5000)),
      ]).catch((error: Error) => error);
      const label = `[${item.kind}] ${JSON.stringify(item.bytes.subarray(0, 120).toString('latin1'))}`;
      if (reply === 'timeout') problems.push(`no answer within 5 s: ${label}`);
      else if (reply instanceof Error) problems.push(`${reply.message}: ${label}`);
      else {
        const problem = checkReply(reply, item.status);
        if (problem) problems.push(`${problem}: ${label}`);
        tally.set(`${item.kind} → ${reply.status}`, (tally.get(`${item.kind} → ${reply.status}`) ?? 0) + 1);
        // A request that is not HTTP any more cannot be followed by another: the server says so and hangs up.
        if (!item.keepsConnection) {
          if (reply.headers.connection?.toLowerCase() !== 'close') problems.push(`no Connection: close: ${label}`);
          const gone = await Promise.race([closed.then(() => true), new Promise<boolean>((resolve) => setTimeout(() => resolve(false), 2000))]);
          if (!gone) problems.push(`connection left open after Connection: close: ${label}`);
        }
      }
    } finally {
      connection.close();
    }
  });
  t.diagnostic(`raw HTTP: ${cases.length} requests; ${[...tally].sort().map(([k, n]) => `${k}: ${n}`).join('; ')}`);
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} raw requests were not properly refused`);
});

// ---- WebSocket frames ----

interface FrameCase {
  kind: string;
  channel: 'ws' | 'publish';
  token: 'reader' | 'writer';
  bytes: Buffer;
  end: boolean;
  /** Close codes acceptable for it; empty: the server must just close (or, for `ack`, answer with error acks and stay open). */
  codes: number[];
  /** Publish-channel frames that are valid WebSocket: expect this many error acks and the connection open. */
  acks?: number;
}

function frameCases(): fc.Arbitrary<FrameCase> {
  const channel = fc.constantFrom<['ws', 'reader'] | ['publish', 'writer']>(['ws', 'reader'], ['publish', 'writer']);
  const text = fc.string({ maxLength: 64 }).map((s) => Buffer.from(s));
  const protocolError = (kind: string, build: fc.Arbitrary<Buffer>, codes: number[]) =>
    fc.tuple(channel, build).map(([[ch, token], bytes]) => ({ kind, channel: ch, token, bytes, end: false, codes }));
  return fc.oneof(
    fc.tuple(channel, text, fc.nat()).map(([[ch, token], payload, n]) => {
      const whole = textFrame(payload);
      return { kind: 'truncated frame, then FIN', channel: ch, token, bytes: whole.subarray(0, 1 + (n % (whole.length - 1))), end: true, codes: [] };
    }),
    protocolError('unmasked frame', text.map((payload) => frame({ opcode: OPCODE.text, payload, masked: false })), [1002]),
    protocolError('reserved opcode', fc.tuple(fc.constantFrom(3, 4, 5, 6, 7, 11, 12, 13, 14, 15), text).map(([opcode, payload]) => frame({ opcode, payload })), [1002]),
    protocolError('RSV bits without an extension', fc.tuple(fc.integer({ min: 1, max: 7 }), text).map(([rsv, payload]) => frame({ opcode: OPCODE.text, rsv, payload })), [1002]),
    protocolError('control frame over 125 bytes', fc.integer({ min: 126, max: 400 }).map((n) => frame({ opcode: OPCODE.ping, payload: Buffer.alloc(n, 1) })), [1002]),
    protocolError('fragmented control frame', text.map((payload) => frame({ opcode: OPCODE.ping, payload: payload.subarray(0, 100), fin: false })), [1002]),
    protocolError('continuation without a start', text.map((payload) => frame({ opcode: OPCODE.continuation, payload })), [1002]),
    protocolError('invalid UTF-8 in a text frame', fc.constantFrom([0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x61, 0x80]).map((bytes) => frame({ opcode: OPCODE.text, payload: Buffer.from(bytes) })), [1007]),
    protocolError('invalid close code', fc.constantFrom(0, 999, 1004, 1005, 1006, 1015, 2000, 5000).map((code) => frame({ opcode: OPCODE.close, payload: closePayload(code) })), [1002]),
    protocolError('1-byte close payload', fc.constant(frame({ opcode: OPCODE.close, payload: Buffer.from([3]) })), [1002]),
    protocolError('64-bit length with the top bit set', fc.constant(frame({ opcode: OPCODE.binary, payload: Buffer.alloc(0), declaredLength: 2n ** 63n + 5n })), [1002, 1009]),
    // Over the channel's limit: 4 KiB for subscribers (who only listen), the body limit (1 MiB) for publishers.
    fc.tuple(channel, fc.integer({ min: 1, max: 1000 })).map(([[ch, token], extra]) => ({
      kind: 'length over the limit',
      channel: ch,
      token,
      bytes: frame({ opcode: OPCODE.text, payload: Buffer.alloc(0), declaredLength: BigInt((ch === 'ws' ? 4096 : 1024 * 1024) + extra) }),
      end: false,
      codes: [1009],
    })),
    fc.tuple(channel, fc.uint8Array({ minLength: 1, maxLength: 64 })).map(([[ch, token], bytes]) => ({ kind: 'random bytes, then FIN', channel: ch, token, bytes: Buffer.from(bytes), end: true, codes: [] })),
    // Valid frames, invalid publishes: each refused with an error ack; the channel stays open.
    fc
      .array(
        fc.oneof(
          fc.constantFrom('{', '[]', 'null', '"publish"', '{"id":1}', '[1,2]', '{"id":{},"topic":"t","payload":{}}'),
          fc.tuple(fc.nat(), fc.constantFrom('sender', 'sequence', 'timestamp', 'event_type')).map(([id, key]) => JSON.stringify({ id, topic: 't', payload: {}, [key]: 'lead' })),
          fc.tuple(fc.nat(), fc.constantFrom('', '\u0000', '\ud800', 'x'.repeat(300))).map(([id, topic]) => JSON.stringify({ id, topic, payload: {} })),
          fc.tuple(fc.nat(), fc.constantFrom('[]', '1', 'null', `${'{"a":'.repeat(70)}1${'}'.repeat(70)}`)).map(([id, payload]) => `{"id":${id},"topic":"t","payload":${payload}}`),
        ),
        { minLength: 1, maxLength: 4 },
      )
      .map((texts) => ({
        kind: 'invalid publishes',
        channel: 'publish' as const,
        token: 'writer' as const,
        bytes: Buffer.concat(texts.map((s) => textFrame(s))),
        end: false,
        codes: [],
        // One ack per publish: each item of a non-empty array is one.
        acks: texts.reduce((n, text) => n + publishesIn(text), 0),
      })),
    // A valid publish by a role without `publish`: decided, audited as denied, refused with an error ack.
    fc.nat().map((id) => ({ kind: 'publish by a reader', channel: 'publish' as const, token: 'reader' as const, bytes: textFrame(JSON.stringify({ id, topic: 't', payload: {} })), end: false, codes: [], acks: 1 })),
  );
}

test(`${FRAME_CASES} invalid WebSocket frames end the connection, invalid publishes are refused, nothing changes`, { timeout: 120_000 }, async (t) => {
  const cases = fc.sample(frameCases(), { numRuns: FRAME_CASES, seed: SEED });
  const problems: string[] = [];
  const tally = new Map<string, number>();
  await pool(cases, async (item) => {
    const path = `/v1/missions/alpha/${item.channel}${item.channel === 'ws' ? '?from=1' : ''}`;
    const ws = await RawWebSocket.open(world.url, path, world.alpha.tokens[item.token]!);
    try {
      const label = `[${item.kind} on ${item.channel}] ${item.bytes.subarray(0, 40).toString('hex')}`;
      // The publish channel says hello first.
      if (item.channel === 'publish') await ws.until((o) => o.texts.length > 0, 5000);
      const before = item.channel === 'publish' ? 1 : 0;
      ws.write(item.bytes, { end: item.end });
      if (item.acks !== undefined) {
        const seen = await ws.until((o) => countAcks(o.texts.slice(before)) >= item.acks!, 5000);
        const acks = seen.texts.slice(before).flatMap((text) => {
          try {
            return JSON.parse(text) as Array<{ id: unknown; error?: { code: string }; event?: unknown }>;
          } catch {
            problems.push(`an ack frame that is not JSON: ${JSON.stringify(text.slice(0, 300))}: ${label}`);
            return [];
          }
        });
        if (acks.length !== item.acks) problems.push(`${acks.length} acks for ${item.acks} publishes: ${label}`);
        for (const ack of acks) if (!ack.error || ack.event !== undefined) problems.push(`a publish was not refused (${JSON.stringify(ack).slice(0, 200)}): ${label}`);
        if (seen.closed) problems.push(`the channel closed on invalid publishes: ${label}`);
        tally.set(`${item.kind} → error acks`, (tally.get(`${item.kind} → error acks`) ?? 0) + 1);
        return;
      }
      const seen = await ws.until((o) => o.closed, 5000);
      if (!seen.closed) problems.push(`connection still open after 5 s: ${label}`);
      if (item.codes.length > 0 && seen.closeCode !== undefined && !item.codes.includes(seen.closeCode)) problems.push(`close code ${seen.closeCode}, expected ${item.codes}: ${label}`);
      const outcome = seen.closeCode === undefined ? 'closed' : `close ${seen.closeCode}`;
      tally.set(`${item.kind} → ${outcome}`, (tally.get(`${item.kind} → ${outcome}`) ?? 0) + 1);
    } finally {
      ws.destroy();
    }
  });
  t.diagnostic(`WebSocket: ${cases.length} connections; ${[...tally].sort().map(([k, n]) => `${k}: ${n}`).join('; ')}`);
  assert.deepEqual(problems.slice(0, 20), [], `${problems.length} hostile frames were not handled`);

  const health = await fetch(`${world.url}/healthz`);
  assert.equal(health.status, 200);
  const { changed, newAudit } = await closeAndCompare(world);
  assert.deepEqual(changed, [], 'tables changed by refused input');
  for (const record of newAudit) {
    const harmless = record.outcome === 'denied' || record.reason !== null || record.action === 'read';
    assert.ok(harmless, `an audit record of a decision that changed something: ${JSON.stringify(record)}`);
  }
  t.diagnostic(`store unchanged; audit log +${newAudit.length} (subscriptions read, readers' publishes denied)`);
});

function publishesIn(text: string): number {
  try {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) && parsed.length > 0 ? parsed.length : 1;
  } catch {
    return 1;
  }
}

function countAcks(texts: string[]): number {
  let n = 0;
  for (const text of texts) {
    try {
      const parsed = JSON.parse(text) as unknown;
      if (Array.isArray(parsed)) n += parsed.length;
    } catch {
      // not an ack frame
    }
  }
  return n;
}
