/**
 * Every role may do exactly what the profiles grant it, on every route of the route table (taken from the
 * server's OpenAPI document: a new route fails here until the table below says what it needs). For each
 * operation and each of lead, writer, reader and auditor, a request that is valid for an allowed participant
 * is sent: an allowed role gets its 2xx (101 for a WebSocket), a refused one a 403 naming the participant and
 * its role, the stream does not move, and the audit log records the denial. On the publish channel anyone
 * may connect, and each publish is decided like POST …/messages.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { DEFAULT_PROFILES, type Capability } from '../../src/core/profiles.js';
import { ACTORS, ROLES, routeOperations, send, startSecured, validRequest, type Actor, type Secured, type SecuredMission } from './secured-server.js';

/** What each mission-scoped operation needs: a capability of the profiles, or the lead role (membership). */
const NEEDS: Record<string, Capability | 'lead' | 'recipient'> = {
  getMission: 'read',
  addParticipant: 'lead',
  changeRole: 'lead',
  publish: 'publish',
  checkpoint: 'checkpoint',
  handoff: 'handoff',
  // The recipient, who must be able to continue the work ('checkpoint').
  acceptHandoff: 'recipient',
  resumePacket: 'read',
  listEvents: 'read',
  getEvent: 'read',
  readAudit: 'audit',
  configureIsolation: 'configure_isolation',
  cellStarted: 'publish',
  cellExited: 'publish',
  putBlob: 'checkpoint',
  getBlob: 'read',
  exportMission: 'read',
  streamEvents: 'read',
  subscribeWebSocket: 'read',
  // Connecting needs nothing; each publish needs 'publish' (checked below through its ack).
  publishWebSocket: 'publish',
};
const NOT_MISSION_SCOPED = new Set(['health', 'openapi', 'whoami', 'createMission', 'importMission']);

function allowed(operation: string, actor: Actor): boolean {
  const needs = NEEDS[operation]!;
  const role = ROLES[actor];
  if (needs === 'lead') return role === 'lead';
  if (needs === 'recipient') return DEFAULT_PROFILES.roles[role].includes('checkpoint');
  return DEFAULT_PROFILES.roles[role].includes(needs);
}

let s: Secured;
let m: SecuredMission;
before(async () => {
  s = await startSecured();
  m = await s.populate('matrix');
});
after(() => s.close());

test('each role gets exactly its capabilities on every mission-scoped route, and each denial is audited', { timeout: 120_000 }, async (t) => {
  const operations = (await routeOperations(s.url)).filter((op) => !NOT_MISSION_SCOPED.has(op));
  assert.deepEqual(operations.filter((op) => !(op in NEEDS)), [], 'operations the matrix does not classify');
  const tally = { allowed: 0, denied: 0 };
  for (const operation of operations) {
    for (const actor of ACTORS) {
      const request = await validRequest(operation, m, actor);
      const lastBefore = (await s.store.getMission('matrix'))!.last_sequence;
      const auditBefore = (await s.store.readAudit('matrix', 0, 1_000_000)).length;
      const answer = await send(s.url, request, m.tokens[actor]);
      const may = allowed(operation, actor);
      const what = `${operation} as ${actor} (${ROLES[actor]})`;
      if (request.publish) {
        // The channel opens for everyone; the publish itself is what is decided.
        assert.equal(answer.status, 101, `${what}: ${answer.body}`);
        if (may) assert.ok(answer.ack?.event, `${what}: ${answer.body}`);
        else assert.equal(answer.ack?.error?.code, 'permission_denied', `${what}: ${answer.body}`);
      } else if (may) {
        assert.ok([200, 201, 101].includes(answer.status), `${what} is allowed: ${answer.status} ${answer.body.slice(0, 300)}`);
      } else {
        assert.equal(answer.status, 403, `${what} is refused: ${answer.body.slice(0, 300)}`);
        const details = JSON.parse(answer.body).error.details;
        assert.equal(details.participant, actor, what);
        if (NEEDS[operation] !== 'recipient') assert.equal(details.role, ROLES[actor], what);
      }
      if (!may) {
        assert.equal((await s.store.getMission('matrix'))!.last_sequence, lastBefore, `${what}: a denied request moved the stream`);
        const audit = await s.store.readAudit('matrix', 0, 1_000_000);
        const added = audit.slice(auditBefore);
        assert.ok(added.some((r) => r.participant === actor && r.outcome === 'denied'), `${what}: the denial is in the audit log`);
        tally.denied++;
      } else {
        tally.allowed++;
      }
    }
  }
  t.diagnostic(`${operations.length} operations × ${ACTORS.length} roles: ${tally.allowed} allowed, ${tally.denied} denied`);
});
