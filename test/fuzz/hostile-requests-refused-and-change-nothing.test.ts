/**
 * Property-based fuzzing of every HTTP endpoint, the SSE endpoint and both WebSocket endpoints (their
 * handshakes): over 10,000 generated hostile requests per run (see hostile-requests.ts for what they are),
 * sent by 8 concurrent keep-alive connections to one server. Each must be answered — within 10 s, never a
 * hang — with a 4xx and a JSON error body `{"error":{"code","message","details"}}`, never a 5xx; a replayed
 * idempotent publish is answered 200 with the very bytes of the first answer. The server stays up.
 *
 * Then the store must be what it was. Precisely (see world.ts): with the server closed, every table of the
 * SQLite file — missions, headers, events, credentials, blobs, blob references, settings — holds exactly its
 * rows from before; no mission, stream event, participant, credential or blob was added or changed. Only the
 * audit log grew, and only with records of decisions that changed nothing: denials, allowed decisions whose
 * operation was then refused (they carry the refusal as their reason), reads, and the replayed publish.
 *
 * The run's seed is printed; `MISSIONBUS_FUZZ_SEED=<seed>` repeats it, `MISSIONBUS_FUZZ_RUNS=<n>` changes its size.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import fc from 'fast-check';
import { ConnectionClosedError, HttpConnection, type WireReply } from '../reliability/http-connection.js';
import { HOSTILE_OPERATIONS, hostileRequest, type HostileRequest } from './hostile-requests.js';
import { buildWorld, closeAndCompare, type World } from './world.js';

const RUNS = Number(process.env.MISSIONBUS_FUZZ_RUNS ?? 10_500);
const SEED = Number(process.env.MISSIONBUS_FUZZ_SEED ?? Math.floor(Math.random() * 2 ** 31));
const CONNECTIONS = 8;
const TIMEOUT_MS = 10_000;

let world: World;
before(async () => {
  world = await buildWorld();
});
after(() => world.close());

function describe(request: HostileRequest): string {
  const body = request.body ? ` body(${request.body.length})=${JSON.stringify(request.body.subarray(0, 160).toString('latin1'))}` : '';
  return `[${request.kind}] ${request.method} ${request.path.slice(0, 160)} ${JSON.stringify(request.headers).slice(0, 200)}${body}`;
}

/** What is wrong with an answer, or undefined when it is a proper refusal. */
function problemWith(request: HostileRequest, reply: WireReply): string | undefined {
  if (request.sameAnswer !== undefined) {
    if (reply.status !== 200) return `status ${reply.status}, expected 200 (idempotent replay)`;
    return reply.body.toString() === request.sameAnswer ? undefined : 'a replayed publish answered other bytes than the first time';
  }
  if (reply.status < 400 || reply.status > 499) return `status ${reply.status}: ${reply.body.toString().slice(0, 300)}`;
  if (request.status !== undefined && reply.status !== request.status) return `status ${reply.status}, expected ${request.status}: ${reply.body.toString().slice(0, 300)}`;
  if (!/^application\/json/.test(reply.headers['content-type'] ?? '')) return `Content-Type ${reply.headers['content-type']}`;
  let error: { code?: unknown; message?: unknown; details?: unknown } | undefined;
  try {
    error = (JSON.parse(reply.body.toString()) as { error?: typeof error }).error;
  } catch {
    return `body is not JSON: ${reply.body.toString().slice(0, 200)}`;
  }
  if (typeof error?.code !== 'string' || typeof error.message !== 'string' || typeof error.details !== 'object' || error.details === null) {
    return `not an error body: ${reply.body.toString().slice(0, 200)}`;
  }
  return undefined;
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout;
  return Promise.race([promise, new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)))]).finally(() => clearTimeout(timer));
}

test(`${RUNS} hostile requests are each refused with a 4xx JSON error, and the store is unchanged`, { timeout: 240_000 }, async (t) => {
  // Every operation of the route table is attacked: a new route fails here until the generator knows it.
  const openapi = await (await fetch(`${world.url}/openapi.json`)).json() as { paths: Record<string, Record<string, { operationId: string }>> };
  const operations = Object.values(openapi.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId));
  assert.deepEqual(operations.filter((op) => !(HOSTILE_OPERATIONS as readonly string[]).includes(op)), [], 'operations without hostile requests');

  t.diagnostic(`seed ${SEED} (repeat with MISSIONBUS_FUZZ_SEED=${SEED})`);
  const requests = fc.sample(hostileRequest(world), { numRuns: RUNS, seed: SEED });
  const tally = new Map<string, Map<string, number>>();
  const count = (kind: string, outcome: string) => {
    const row = tally.get(kind) ?? new Map<string, number>();
    row.set(outcome, (row.get(outcome) ?? 0) + 1);
    tally.set(kind, row);
  };
  const problems: string[] = [];
  const byOperation = new Map<string, number>();
  let next = 0;
  const started = Date.now();

  const worker = async () => {
    let connection: HttpConnection | undefined;
    while (next < requests.length) {
      const request = requests[next++]!;
      byOperation.set(request.operation, (byOperation.get(request.operation) ?? 0) + 1);
      // An upgrade is answered and then the connection is closed: it gets one of its own.
      const own = request.upgrade ? await HttpConnection.open(world.url) : (connection = connection && !connection.closed ? connection : await HttpConnection.open(world.url));
      let outcome: WireReply | 'timeout' | Error;
      try {
        outcome = await withTimeout(own.request(request.method, request.path, request.headers, request.body), TIMEOUT_MS);
      } catch (error) {
        outcome = error as Error;
      }
      if (outcome === 'timeout') {
        count(request.kind, 'timeout');
        problems.push(`no answer within ${TIMEOUT_MS} ms: ${describe(request)}`);
        own.close();
      } else if (outcome instanceof Error) {
        count(request.kind, outcome instanceof ConnectionClosedError ? 'closed unanswered' : 'connection error');
        problems.push(`${outcome.message}: ${describe(request)}`);
        own.close();
      } else {
        count(request.kind, `${Math.floor(outcome.status / 100)}xx`);
        const problem = problemWith(request, outcome);
        if (problem) problems.push(`${problem} ← ${describe(request)}`);
        if (request.upgrade || outcome.headers.connection?.toLowerCase() === 'close') own.close();
      }
    }
    connection?.close();
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  const seconds = (Date.now() - started) / 1000;

  // Still serving, and still serving the missions it was attacked through.
  const health = await fetch(`${world.url}/healthz`);
  assert.equal(health.status, 200);
  const read = await fetch(`${world.url}/v1/missions/alpha/events?limit=1`, { headers: { Authorization: `Bearer ${world.alpha.tokens.reader}` } });
  assert.equal(read.status, 200);

  const classes = new Map<string, number>();
  for (const row of tally.values()) for (const [outcome, n] of row) classes.set(outcome, (classes.get(outcome) ?? 0) + n);
  t.diagnostic(`fuzzed ${requests.length} requests in ${seconds.toFixed(1)} s over ${CONNECTIONS} connections: ${[...classes].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  for (const [kind, row] of [...tally].sort((a, b) => a[0].localeCompare(b[0]))) {
    t.diagnostic(`  ${kind}: ${[...row].map(([k, n]) => `${k} ${n}`).join(', ')}`);
  }
  t.diagnostic(`  by operation: ${[...byOperation].sort((a, b) => b[1] - a[1]).map(([k, n]) => `${k} ${n}`).join(', ')}`);
  assert.ok(requests.length >= 10_000 || process.env.MISSIONBUS_FUZZ_RUNS !== undefined);
  assert.deepEqual(problems.slice(0, 25), [], `${problems.length} requests were not properly refused; server log: ${world.serverErrors.slice(0, 3).join('\n')}`);
  assert.deepEqual(world.serverErrors, []);

  const { changed, newAudit } = await closeAndCompare(world);
  assert.deepEqual(changed, [], 'tables changed by refused requests');
  const replayedPublishes = requests.filter((r) => r.sameAnswer !== undefined).length;
  const decisions = { denied: 0, refusedAfterDecision: 0, reads: 0, replayedPublish: 0 };
  for (const record of newAudit) {
    assert.ok(record.mission_id === 'alpha' || record.mission_id === 'bravo', `audit record of mission ${record.mission_id}`);
    if (record.outcome === 'denied') decisions.denied++;
    else if (record.reason !== null) decisions.refusedAfterDecision++;
    else if (record.action === 'read' || record.action === 'audit') decisions.reads++;
    else if (record.action === 'publish') decisions.replayedPublish++;
    else assert.fail(`an allowed ${record.action} by ${record.participant} that nothing refused: ${JSON.stringify(record)}`);
  }
  assert.ok(decisions.replayedPublish <= replayedPublishes);
  t.diagnostic(`store unchanged; audit log +${newAudit.length}: ${JSON.stringify(decisions)}`);
});
