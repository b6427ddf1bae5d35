/**
 * Broken object-level authorization, route by route. Missions A and B each have a lead, a writer, a reader
 * and an auditor. For every operation of the route table (taken from the server's OpenAPI document, so a new
 * route fails here until it is classified):
 *
 * - every token of B, sent with a request that would succeed for A's own participants — A's ids, valid
 *   bodies — is refused with 403 `other_mission`, with the very body a mission that does not exist gets (so
 *   the answer reveals nothing of A), and neither A nor B changes: events, audit log, mission row;
 * - the admin token acts on no mission (403 `admin_token`), and participant tokens create and import nothing
 *   on a server that requires the admin token (403 `admin_required`);
 * - B's participants, on B's own routes, using A's ids — a handoff, an event, a blob, a checkpoint, a
 *   participant of A — get 404 (400 for a checkpoint referring to A's blob) and not a byte of A's data.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { ACTORS, missionSnapshot, routeOperations, send, startSecured, validRequest, type Actor, type RouteRequest, type Secured, type SecuredMission } from './secured-server.js';

/** Operations that act on no mission: whoami (any token; answers about the token's own mission), create/import (admin only), health and openapi (public). */
const NOT_MISSION_SCOPED = new Set(['health', 'openapi', 'whoami', 'createMission', 'importMission']);

let s: Secured;
let a: SecuredMission;
let b: SecuredMission;
before(async () => {
  s = await startSecured();
  a = await s.populate('alpha');
  b = await s.populate('bravo');
});
after(() => s.close());

function leaks(body: string, mission: SecuredMission): string[] {
  return mission.secrets.filter((secret) => body.includes(secret));
}

describe("another mission's token", () => {
  it('every mission-scoped route refuses it with 403, reveals nothing and changes nothing', { timeout: 120_000 }, async () => {
    const operations = await routeOperations(s.url);
    assert.ok(operations.length >= 24, `the route table lists ${operations.length} operations`);
    const before = { a: await missionSnapshot(s.store, 'alpha'), b: await missionSnapshot(s.store, 'bravo') };
    let checked = 0;
    for (const operation of operations.filter((op) => !NOT_MISSION_SCOPED.has(op))) {
      for (const actor of ACTORS) {
        const request = await validRequest(operation, a, actor);
        // The handoff/participant a request needed was made just now: that is A's new "before".
        before.a = await missionSnapshot(s.store, 'alpha');
        const answer = await send(s.url, request, b.tokens[actor]);
        assert.equal(answer.status, 403, `${operation} as bravo's ${actor}: ${answer.body}`);
        assert.equal(JSON.parse(answer.body).error.details.reason, 'other_mission', `${operation} as bravo's ${actor}`);
        assert.deepEqual(leaks(answer.body, a), [], `${operation}: the refusal mentions A's data`);
        const nowhere = await send(s.url, { ...request, path: request.path.replace('/alpha', '/nowhere') }, b.tokens[actor]);
        assert.equal(answer.body.replaceAll('alpha', 'X'), nowhere.body.replaceAll('nowhere', 'X'), `${operation}: the refusal tells A apart from a mission that does not exist`);
        assert.equal(await missionSnapshot(s.store, 'alpha'), before.a, `${operation} as bravo's ${actor} changed mission alpha`);
        assert.equal(await missionSnapshot(s.store, 'bravo'), before.b, `${operation} as bravo's ${actor} changed mission bravo`);
        checked++;
      }
    }
    assert.ok(checked >= 19 * 4);
  });

  it('whoami answers about the token’s own mission only', async () => {
    for (const actor of ACTORS) {
      const answer = await send(s.url, await validRequest('whoami', a, actor), b.tokens[actor]);
      assert.equal(answer.status, 200);
      assert.equal(JSON.parse(answer.body).mission_id, 'bravo');
      assert.deepEqual(leaks(answer.body, a), []);
    }
  });
});

describe('the admin token and participant tokens beyond their reach', () => {
  it('the admin token reads and changes no mission', { timeout: 60_000 }, async () => {
    for (const operation of (await routeOperations(s.url)).filter((op) => !NOT_MISSION_SCOPED.has(op))) {
      const request = await validRequest(operation, a, 'lead');
      const before = await missionSnapshot(s.store, 'alpha');
      const answer = await send(s.url, request, s.admin);
      assert.equal(answer.status, 403, `${operation} with the admin token: ${answer.body}`);
      assert.equal(JSON.parse(answer.body).error.details.reason, 'admin_token');
      assert.deepEqual(leaks(answer.body, a), []);
      assert.equal(await missionSnapshot(s.store, 'alpha'), before, `${operation} with the admin token changed mission alpha`);
    }
  });

  it('participant tokens of any role create and import nothing where the admin token is required', async () => {
    const missions = (await s.store.listMissions()).length;
    for (const operation of ['createMission', 'importMission']) {
      for (const actor of ACTORS) {
        const answer = await send(s.url, await validRequest(operation, a, actor), a.tokens[actor]);
        assert.equal(answer.status, 403, `${operation} as ${actor}: ${answer.body}`);
        assert.equal(JSON.parse(answer.body).error.details.reason, 'admin_required');
      }
    }
    assert.equal((await s.store.listMissions()).length, missions);
  });
});

describe("another mission's ids through one's own mission", () => {
  it("B's participants reach none of A's handoffs, events, blobs, checkpoints or participants", { timeout: 60_000 }, async () => {
    const beforeA = await missionSnapshot(s.store, 'alpha');
    const bravo = `/v1/missions/bravo`;
    const json = (body: unknown) => ({ body: Buffer.from(JSON.stringify(body)), contentType: 'application/json' });
    const attempts: Array<{ actor: Actor; request: RouteRequest; status: number }> = [
      { actor: 'writer' as const, request: { operation: 'acceptHandoff', method: 'POST', path: `${bravo}/handoffs/${a.openHandoffId}/accept`, transport: 'http' as const, ...json({}) }, status: 404 },
      ...ACTORS.map((actor) => ({ actor, request: { operation: 'resumePacket', method: 'GET', path: `${bravo}/handoffs/${a.openHandoffId}/resume`, transport: 'http' as const }, status: 404 })),
      ...a.eventIds.map((id) => ({ actor: 'reader' as const, request: { operation: 'getEvent', method: 'GET', path: `${bravo}/events/${id}`, transport: 'http' as const }, status: 404 })),
      ...ACTORS.map((actor) => ({ actor, request: { operation: 'getBlob', method: 'GET', path: `${bravo}/blobs/${a.blob.sha256}`, transport: 'http' as const }, status: 404 })),
      { actor: 'writer' as const, request: { operation: 'handoff', method: 'POST', path: `${bravo}/handoffs`, transport: 'http' as const, ...json({ recipient: 'lead', checkpoint_id: a.checkpointId }) }, status: 404 },
      {
        actor: 'writer' as const,
        request: { operation: 'checkpoint', method: 'POST', path: `${bravo}/checkpoints`, transport: 'http' as const, ...json({ summary: 's', state: {}, files: [{ path: 'x', size: a.blob.bytes.length, sha256: a.blob.sha256 }] }) },
        status: 400,
      },
      { actor: 'lead' as const, request: { operation: 'changeRole', method: 'PUT', path: `${bravo}/participants/alpha-only/role`, transport: 'http' as const, ...json({ role: 'read' }) }, status: 404 },
    ];
    await a.lead.addParticipant('alpha-only', 'read');
    const beforeA2 = await missionSnapshot(s.store, 'alpha');
    assert.notEqual(beforeA2, beforeA);
    for (const { actor, request, status } of attempts) {
      const answer = await send(s.url, request, b.tokens[actor]);
      assert.equal(answer.status, status, `${request.operation} ${request.path} as bravo's ${actor}: ${answer.body}`);
      // An id may be echoed in the refusal ("no handoff 'x'"); A's data never is.
      assert.deepEqual(leaks(answer.body, a).filter((secret) => !request.path.includes(secret) && !(request.body?.toString() ?? '').includes(secret)), [], `${request.operation}: ${answer.body}`);
      assert.doesNotMatch(answer.body, /secret-of-alpha/);
    }
    assert.equal(await missionSnapshot(s.store, 'alpha'), beforeA2, 'mission alpha changed');
    // And what B can read of itself holds nothing of A.
    const exported = await send(s.url, { operation: 'exportMission', method: 'GET', path: `${bravo}/export`, transport: 'http' }, b.tokens.reader);
    assert.equal(exported.status, 200);
    assert.doesNotMatch(exported.body, /secret-of-alpha/);
  });
});
