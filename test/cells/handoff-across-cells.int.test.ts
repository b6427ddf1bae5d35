/**
 * The whole path, for real: agent A works in a level 2 (bubblewrap) cell — writes files, runs
 * `missionbus checkpoint` and `missionbus handoff` inside it — and agent B accepts and resumes in a
 * level 3 (rootless podman) cell, where it finds the same files byte for byte and the resume packet.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { test } from 'node:test';
import { MissionClient } from '../../src/client/client.js';
import { runMissionCell } from '../../src/cells/mission-cell.js';
import { PermissionDeniedError } from '../../src/core/errors.js';
import type { CheckpointEvent, HandoffEvent, MissionEvent } from '../../src/core/events.js';
import { startServer } from '../../src/server/server.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import { hostDir, launcherOrSkip } from './helpers.js';

function collector() {
  const stream = new PassThrough();
  let text = '';
  stream.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { stream, text: () => text };
}

const AGENT_A = `
const { execFileSync } = require('node:child_process');
const { mkdirSync, writeFileSync } = require('node:fs');
const { randomBytes } = require('node:crypto');
mkdirSync('src/deep', { recursive: true });
writeFileSync('src/deep/notes.md', '# halfway\\nthe parser fix needs one more test\\n');
writeFileSync('data.bin', randomBytes(50000));
writeFileSync('empty.txt', '');
const run = (...args) => JSON.parse(execFileSync('missionbus', [...args, '--json'], { encoding: 'utf8' }));
const checkpoint = run('checkpoint', '--summary', 'A: halfway', '--state', JSON.stringify({ step: 2, branch: 'fix/parser' }));
const handoff = run('handoff', 'agent-b', '--checkpoint', checkpoint.checkpoint_id, '--note', 'finish the test');
console.log(JSON.stringify({ checkpoint: checkpoint.checkpoint_id, handoff: handoff.handoff_id, url: process.env.MISSIONBUS_URL }));
`;

const AGENT_B = `
const { createHash } = require('node:crypto');
const { readFileSync, readdirSync, statSync } = require('node:fs');
const walk = (dir) => readdirSync(dir).flatMap((name) => {
  const path = dir === '.' ? name : dir + '/' + name;
  return statSync(path).isDirectory() ? (name === '.missionbus' ? [] : walk(path)) : [path];
});
const files = Object.fromEntries(walk('.').sort().map((p) => [p, createHash('sha256').update(readFileSync(p)).digest('hex')]));
const fromFile = JSON.parse(readFileSync('.missionbus/resume.json', 'utf8'));
const fromEnv = JSON.parse(process.env.MISSIONBUS_RESUME);
console.log(JSON.stringify({ files, fromFile, sameAsEnv: JSON.stringify(fromFile) === JSON.stringify(fromEnv), cwd: process.cwd(), file: process.env.MISSIONBUS_RESUME_FILE }));
`;

test('agent A checkpoints in a level 2 cell, agent B resumes in a level 3 cell with the same files and the packet', { timeout: 180_000 }, async (t) => {
  if (!(await launcherOrSkip(t, 2)) || !(await launcherOrSkip(t, 3))) return;
  const dir = hostDir(t, 'mb-handoff-');
  const server = await startServer({
    store: new SqliteStore(join(dir, 'store', 'missionbus.db')),
    port: 0,
    socketPath: join(dir, 'run', 'bus.sock'),
    socketGroup: 'missionbus',
    logLevel: 'silent',
  });
  t.after(() => server.close());
  const url = `unix:${server.socketPath}`;
  const created = await new MissionClient({ url }).createMission({ mission_id: 'cells-e2e', lead: { name: 'timmy' } });
  const lead = new MissionClient({ url, token: created.token, missionId: 'cells-e2e' });
  const a = lead.withToken((await lead.addParticipant('agent-a', 'write')).token);
  const b = lead.withToken((await lead.addParticipant('agent-b', 'write')).token);
  await lead.configureIsolation('level2-mount-namespace');

  // Below the mission's level is refused, before anything runs.
  await assert.rejects(runMissionCell({ client: a, level: 1, command: ['true'] }), PermissionDeniedError);

  const outA = collector();
  const errA = collector();
  const cellA = await runMissionCell({ client: a, level: 2, workspace: join(dir, 'ws-a'), command: ['node', '-e', AGENT_A], stdout: outA.stream, stderr: errA.stream, timeoutMs: 60_000 });
  assert.equal(cellA.exitCode, 0, `agent A failed: ${errA.text()}`);
  const reportA = JSON.parse(outA.text().trim().split('\n').at(-1)!);
  assert.equal(reportA.url, 'unix:/run/missionbus/bus.sock', 'inside the cell the bus is the bind-mounted socket');

  const checkpoint = (await lead.event(reportA.checkpoint)) as CheckpointEvent;
  assert.equal(checkpoint.sender, 'agent-a');
  assert.deepEqual(checkpoint.files!.map((f) => f.path), ['data.bin', 'empty.txt', 'src/deep/notes.md']);
  const handoff = (await lead.event(reportA.handoff)) as HandoffEvent;
  assert.equal(handoff.recipient, 'agent-b');

  // Resuming before accepting is refused; B accepts once, then resumes at level 3.
  await assert.rejects(runMissionCell({ client: b, level: 3, command: ['true'], resumeHandoffId: handoff.handoff_id, workspace: join(dir, 'ws-early') }), /accept it first/);
  await b.accept(handoff.handoff_id);
  await assert.rejects(runMissionCell({ client: a, level: 3, command: ['true'], resumeHandoffId: handoff.handoff_id, workspace: join(dir, 'ws-a2') }), PermissionDeniedError);

  const outB = collector();
  const errB = collector();
  const cellB = await runMissionCell({
    client: b,
    level: 3,
    workspace: join(dir, 'ws-b'),
    command: ['node', '-e', AGENT_B],
    resumeHandoffId: handoff.handoff_id,
    stdout: outB.stream,
    stderr: errB.stream,
    timeoutMs: 60_000,
  });
  assert.equal(cellB.exitCode, 0, `agent B failed: ${errB.text()}`);
  const reportB = JSON.parse(outB.text().trim().split('\n').at(-1)!);
  assert.equal(reportB.cwd, '/workspace');
  assert.equal(reportB.file, '/workspace/.missionbus/resume.json');
  assert.equal(reportB.sameAsEnv, true, 'MISSIONBUS_RESUME holds the same packet as the file');
  assert.equal(reportB.fromFile.handoff_id, handoff.handoff_id);
  assert.equal(reportB.fromFile.handoff_note, 'finish the test');
  assert.deepEqual(reportB.fromFile.checkpoint.state, { step: 2, branch: 'fix/parser' });
  const expected = Object.fromEntries(checkpoint.files!.map((f) => [f.path, f.sha256]));
  assert.deepEqual(reportB.files, expected, 'B found every file of A, byte for byte');
  for (const path of Object.keys(expected)) {
    const digest = createHash('sha256').update(readFileSync(join(dir, 'ws-a', path))).digest('hex');
    assert.equal(digest, expected[path], `A's own ${path} is what was checkpointed`);
  }

  const events: MissionEvent[] = [];
  for await (const event of lead.allEvents()) events.push(event);
  const cells = events.filter((e) => e.event_type === 'cell_started' || e.event_type === 'cell_exited');
  assert.ok(cells.some((e) => e.event_type === 'cell_started' && e.level === 2 && e.sender === 'agent-a'));
  assert.ok(cells.some((e) => e.event_type === 'cell_started' && e.level === 3 && e.sender === 'agent-b'));
  assert.ok(cells.some((e) => e.event_type === 'cell_exited' && e.cell_id === cellB.cellId && e.exit_code === 0));
});
