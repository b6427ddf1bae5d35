/**
 * Each role may do exactly what the profiles grant it — lead/write/read/audit × publish, checkpoint,
 * handoff, read, audit, configure_isolation — over HTTP, and the audit log records every decision,
 * allowed and denied. A denial is a 403 naming the participant, the role and the missing capability,
 * and appends nothing to the stream.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { MissionClient } from '../../src/client/index.js';
import { DEFAULT_PROFILES, type Capability, type MissionRole } from '../../src/core/profiles.js';
import { createMission, startTestServer, type TestMission, type TestServer } from './helpers.js';

let t: TestServer;
let m: TestMission;
let checkpointId: string;
before(async () => {
  t = await startTestServer();
  m = await createMission(t, 'matrix', { writer: 'write', reader: 'read', auditor: 'audit' });
  checkpointId = (await m.as.lead!.checkpoint({ summary: 'base', state: {} })).checkpoint_id;
});
after(() => t.close());

const ACTIONS: Record<Capability, (client: MissionClient) => Promise<unknown>> = {
  publish: (c) => c.publish('matrix.topic', { hello: true }),
  checkpoint: (c) => c.checkpoint({ summary: 'step', state: { n: 1 } }),
  handoff: (c) => c.handoff('lead', checkpointId, 'over to you'),
  read: (c) => c.events({ limit: 5 }),
  audit: (c) => c.audit({ limit: 5 }),
  configure_isolation: (c) => c.configureIsolation('level2-mount-namespace'),
};

const PARTICIPANT_OF: Record<MissionRole, string> = { lead: 'lead', write: 'writer', read: 'reader', audit: 'auditor' };

test('every role × capability is allowed or denied as the profiles say, and audited either way', async () => {
  const expected: Array<{ participant: string; role: MissionRole; action: Capability; outcome: 'allowed' | 'denied' }> = [];
  for (const role of ['lead', 'write', 'read', 'audit'] as const) {
    const participant = PARTICIPANT_OF[role];
    const client = m.as[participant]!;
    for (const capability of Object.keys(ACTIONS) as Capability[]) {
      const allowed = DEFAULT_PROFILES.roles[role].includes(capability);
      const lastBefore = (await m.as.lead!.mission()).last_sequence;
      if (allowed) {
        await ACTIONS[capability](client);
      } else {
        await assert.rejects(ACTIONS[capability](client), (error: any) => {
          assert.equal(error.name, 'PermissionDeniedError', `${role} ${capability}`);
          assert.equal(error.details.status, 403);
          assert.equal(error.details.participant, participant);
          assert.equal(error.details.role, role);
          assert.equal(error.details.capability, capability);
          assert.match(error.message, new RegExp(`'${participant}' \\(role ${role}\\) lacks '${capability}'`));
          return true;
        });
        assert.equal((await m.as.lead!.mission()).last_sequence, lastBefore, `a denied ${capability} appended nothing`);
      }
      expected.push({ participant, role, action: capability, outcome: allowed ? 'allowed' : 'denied' });
    }
  }
  const records = [];
  for (let after = 0; ; ) {
    const page = await m.as.auditor!.audit({ after, limit: 1000 });
    records.push(...page.records);
    if (page.records.length < 1000) break;
    after = page.next;
  }
  for (const want of expected) {
    const found = records.find(
      (r) => r.participant === want.participant && r.action === want.action && r.outcome === want.outcome && r.role === want.role,
    );
    assert.ok(found, `audit log records ${want.outcome} ${want.action} by ${want.participant}`);
    if (want.outcome === 'denied') assert.match(found.reason ?? '', /lacks/);
  }
  // Allowed and denied decisions both present for every non-lead role.
  for (const participant of ['writer', 'reader', 'auditor']) {
    const mine = records.filter((r) => r.participant === participant);
    assert.ok(mine.some((r) => r.outcome === 'allowed'));
    assert.ok(mine.some((r) => r.outcome === 'denied'));
  }
});

test('membership is managed by leads only', async () => {
  await assert.rejects(m.as.writer!.addParticipant('mallory', 'lead'), { name: 'PermissionDeniedError' });
  await assert.rejects(m.as.writer!.changeRole('reader', 'lead'), { name: 'PermissionDeniedError' });
  const { token, event } = await m.as.lead!.addParticipant('newcomer', 'read');
  assert.equal(event.participant.role, 'read');
  const newcomer = t.anon.withToken(token, 'matrix');
  await assert.rejects(newcomer.publish('t', {}), { name: 'PermissionDeniedError' });
  await m.as.lead!.changeRole('newcomer', 'write');
  assert.equal((await newcomer.publish('t', { promoted: true })).sender, 'newcomer');
  await assert.rejects(m.as.lead!.addParticipant('newcomer', 'read'), { name: 'ConflictError' });
});

test('reads of a denied kind (audit by a reader) are recorded as denied reads of the audit log', async () => {
  await assert.rejects(m.as.reader!.audit(), { name: 'PermissionDeniedError' });
  const page = await m.as.lead!.audit({ after: 0, limit: 1000 });
  const last = (await m.as.lead!.audit({ after: page.next, limit: 1000 })).records;
  const all = [...page.records, ...last];
  assert.ok(all.some((r) => r.participant === 'reader' && r.action === 'audit' && r.outcome === 'denied' && r.target === 'audit_log'));
});
