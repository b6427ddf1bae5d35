/**
 * The command line against a real `missionbus serve` process: create, add, publish, checkpoint, hand off,
 * accept, resume, tail, audit, export, import — with --json output and exit codes per error kind.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

const BIN = new URL('../../bin/missionbus.js', import.meta.url).pathname;
let dir: string;
let server: ReturnType<typeof spawn>;
let url: string;

function cli(args: string[], env: Record<string, string> = {}) {
  const result = spawnSync(process.execPath, [BIN, ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env.PATH!, HOME: dir, MISSIONBUS_URL: url, ...env },
    timeout: 30_000,
  });
  return { code: result.status, stdout: result.stdout, stderr: result.stderr };
}

function json(args: string[], env: Record<string, string> = {}) {
  const result = cli([...args, '--json'], env);
  assert.equal(result.code, 0, `missionbus ${args.join(' ')} failed: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').at(-1)!);
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'missionbus-cli-'));
  server = spawn(process.execPath, [BIN, 'serve', '--port', '0', '--store', join(dir, 'bus.db'), '--socket', join(dir, 'bus.sock'), '--socket-group', 'root'], {
    cwd: dir,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  url = await new Promise<string>((resolve, reject) => {
    let text = '';
    server.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      const found = /listening on (http:\/\/[^\s]+)/.exec(text);
      if (found) resolve(found[1]!);
    });
    server.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${text}`)));
  });
});

after(async () => {
  server.kill('SIGTERM');
  const code = await new Promise((resolve) => server.once('exit', resolve));
  assert.equal(code, 0, 'serve shuts down cleanly on SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

test('a mission driven entirely from the command line', () => {
  const created = json(['mission', 'create', 'cli-m', '--title', 'from the shell', '--lead', 'timmy']);
  const lead = { MISSIONBUS_TOKEN: created.token, MISSIONBUS_MISSION: 'cli-m' };
  const ezra = { ...lead, MISSIONBUS_TOKEN: json(['participant', 'add', 'ezra', '--role', 'write'], lead).token };
  const bezalel = { ...lead, MISSIONBUS_TOKEN: json(['participant', 'add', 'bezalel', '--role', 'read'], lead).token };

  const message = json(['publish', 'progress', '--payload', '{"pct": 40}', '--message-id', 'm-1'], ezra);
  assert.equal(message.sequence, 3);
  assert.equal(json(['publish', 'progress', '--payload', '{"pct": 40}', '--message-id', 'm-1'], ezra).sequence, 3, 'idempotent');
  const checkpoint = json(['checkpoint', '--summary', 'halfway', '--state', '{"branch": "fix/x"}', '--artifact', 'a.txt'], ezra);
  const handoff = json(['handoff', 'timmy', '--checkpoint', checkpoint.checkpoint_id, '--note', 'yours'], ezra);
  json(['accept', handoff.handoff_id], lead);
  const packet = JSON.parse(cli(['resume', handoff.handoff_id], lead).stdout);
  assert.equal(packet.handoff_note, 'yours');
  assert.equal(packet.accepted, true);

  const denied = cli(['publish', 'nope'], bezalel);
  assert.equal(denied.code, 3, 'permission denied exits 3');
  assert.match(denied.stderr, /participant 'bezalel' \(role read\) lacks 'publish'/);
  assert.equal(cli(['accept', handoff.handoff_id], lead).code, 5, 'a second accept is a conflict: exit 5');
  assert.equal(cli(['publish', 'x', '--payload', '[1]'], ezra).code, 2, 'invalid input exits 2');
  assert.equal(cli(['resume', 'no-such-handoff'], lead).code, 4, 'not found exits 4');

  const tail = cli(['tail', '--from', '1', '--json'], bezalel);
  const events = tail.stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.deepEqual(events.map((e) => e.sequence), [1, 2, 3, 4, 5, 6]);
  assert.deepEqual(events.map((e) => e.event_type), ['participant_joined', 'participant_joined', 'message', 'checkpoint', 'handoff', 'handoff_accepted']);
  assert.match(cli(['tail'], bezalel).stdout, /#\s+3 .* ezra\s+message\s+progress \{"pct":40\}/);

  const audit = cli(['audit', '--json'], lead).stdout.trim().split('\n').map((line) => JSON.parse(line));
  assert.ok(audit.some((r) => r.participant === 'bezalel' && r.action === 'publish' && r.outcome === 'denied'));

  const seed = JSON.parse(cli(['export', '--format', 'seed'], lead).stdout);
  assert.deepEqual(seed.events.map((e: { event_type: string }) => e.event_type), ['message', 'checkpoint', 'handoff']);
  seed.mission_id = 'cli-copy';
  writeFileSync(join(dir, 'seed.json'), JSON.stringify(seed));
  const imported = json(['import', join(dir, 'seed.json')]);
  assert.deepEqual(Object.keys(imported.tokens).sort(), ['bezalel', 'ezra', 'timmy']);
  const copy = JSON.parse(cli(['export', '--format', 'seed'], { MISSIONBUS_TOKEN: imported.tokens.timmy, MISSIONBUS_MISSION: 'cli-copy' }).stdout);
  assert.deepEqual(copy, seed);
});

test('errors say what to do next', () => {
  const noToken = cli(['publish', 'x'], { MISSIONBUS_MISSION: 'cli-m' });
  assert.equal(noToken.code, 2);
  assert.match(noToken.stderr, /no token: pass --token or set MISSIONBUS_TOKEN/);
  const unreachable = cli(['whoami'], { MISSIONBUS_URL: 'http://127.0.0.1:1', MISSIONBUS_TOKEN: 'x' });
  assert.equal(unreachable.code, 6);
  assert.match(unreachable.stderr, /cannot reach/);
});

test('doctor reports every cell level and store', () => {
  const report = json(['doctor']);
  assert.deepEqual(report.cells.map((c: { level: number }) => c.level), [1, 2, 3]);
  assert.deepEqual(report.stores.map((s: { name: string }) => s.name.split(' ')[0]), ['memory', 'sqlite', 'postgres']);
  assert.equal(report.cells[0].available, true);
});
