/**
 * A checkpoint's files are restored into a workspace later, on another machine perhaps, so no path in one
 * may point outside it, and capture never follows a link or reads a device:
 *
 * - through the HTTP API, a checkpoint whose `files[].path` is `..`, absolute, has backslashes, NUL, empty
 *   or `.` segments is refused (400) and nothing is appended; so is an import carrying such a checkpoint;
 * - capturing a workspace that holds a symlink (pointing out, or even in), a FIFO or a device file is
 *   refused naming the file, so the capture → upload → checkpoint flow uploads and records nothing;
 * - restoring a checkpoint (fetched through the API) into a workspace never writes outside it, even
 *   when the workspace holds a symlink to a directory outside — see the note on that test.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { MissionClient } from '../../src/client/index.js';
import { captureWorkspace } from '../../src/workspace/capture.js';
import { restoreWorkspace } from '../../src/workspace/restore.js';
import { startSecured, type Secured, type SecuredMission } from './secured-server.js';

const ESCAPING = ['..', '../outside.txt', '/etc/passwd', 'a/../../b', 'a/..', './a', 'a/./b', 'a//b', 'dir/', '/', '', '.', 'a\\..\\b', 'C:\\x', 'nul\u0000.txt', 'tab\t.txt', '\u001b[31m'];

let s: Secured;
let m: SecuredMission;
let dir: string;
before(async () => {
  s = await startSecured();
  m = await s.populate('paths');
  dir = mkdtempSync(join(tmpdir(), 'mb-paths-'));
});
after(async () => {
  await s.close();
  rmSync(dir, { recursive: true, force: true });
});

test('the API refuses a checkpoint with any path that could leave the workspace, and records nothing', async () => {
  const writer = s.anon.withToken(m.tokens.writer, 'paths');
  const before = (await writer.mission()).last_sequence;
  for (const path of ESCAPING) {
    await assert.rejects(writer.checkpoint({ summary: 'escape', state: {}, files: [{ path, size: m.blob.bytes.length, sha256: m.blob.sha256 }] }), (error: Error & { details?: { status?: number } }) => {
      assert.equal(error.name, 'InvalidInputError', JSON.stringify(path));
      assert.equal(error.details?.status, 400);
      return true;
    });
  }
  assert.equal((await writer.mission()).last_sequence, before);
});

test('an import carrying such a checkpoint is refused too', async () => {
  const admin = s.anon.withToken(s.admin);
  const missions = (await s.store.listMissions()).length;
  for (const path of ESCAPING) {
    const dump = {
      mission_id: 'imported-escape',
      participants: { l: { name: 'l', role: 'lead' } },
      events: [{ event_type: 'checkpoint', sender: 'l', sequence: 1, summary: 's', state: {}, files: [{ path, size: 1, sha256: 'a'.repeat(64) }], checkpoint_id: 'c1' }],
    };
    await assert.rejects(admin.import(dump), { name: 'InvalidInputError' }, JSON.stringify(path));
  }
  assert.equal((await s.store.listMissions()).length, missions);
});

/** The client-side flow: capture the workspace, upload each file's bytes, then record the checkpoint. */
async function checkpointWorkspace(client: MissionClient, workspace: string) {
  const files = await captureWorkspace(workspace);
  for (const file of files) await client.putBlob(file.bytes);
  return client.checkpoint({ summary: 'workspace', state: {}, files: files.map(({ bytes: _, ...ref }) => ref) });
}

function workspaceWith(name: string, make: (ws: string) => void): string {
  const ws = join(dir, name);
  mkdirSync(join(ws, 'src'), { recursive: true });
  writeFileSync(join(ws, 'src', `inside-${name}.txt`), `inside ${name}\n`);
  make(ws);
  return ws;
}

test('capture refuses symlinks (out or in), FIFOs and devices, so nothing is uploaded or recorded', async (t) => {
  const writer = s.anon.withToken(m.tokens.writer, 'paths');
  writeFileSync(join(dir, 'outside-secret.txt'), 'not yours\n');
  const cases: Array<[string, (ws: string) => void]> = [
    ['symlink-out', (ws) => symlinkSync(join(dir, 'outside-secret.txt'), join(ws, 'link'))],
    ['symlink-dir-out', (ws) => symlinkSync(dir, join(ws, 'src', 'up'))],
    ['symlink-in', (ws) => symlinkSync(join(ws, 'src', 'inside-symlink-in.txt'), join(ws, 'alias'))],
    ['fifo', (ws) => execFileSync('mkfifo', [join(ws, 'pipe')])],
  ];
  if (process.getuid?.() === 0) cases.push(['device', (ws) => execFileSync('mknod', [join(ws, 'null'), 'c', '1', '3'])]);
  else t.diagnostic('not root: the device-file case is skipped (mknod needs root)');
  for (const [name, make] of cases) {
    const ws = workspaceWith(name, make);
    const before = (await writer.mission()).last_sequence;
    await assert.rejects(checkpointWorkspace(writer, ws), (error: Error) => {
      assert.equal(error.name, 'InvalidInputError', name);
      assert.match(error.message, /symbolic link|not a regular file/, name);
      return true;
    });
    assert.equal((await writer.mission()).last_sequence, before, `${name}: nothing recorded`);
    // Not even the regular file beside it was uploaded: capture fails before any upload.
    const { createHash } = await import('node:crypto');
    const inside = createHash('sha256').update(`inside ${name}\n`).digest('hex');
    await assert.rejects(writer.getBlob(inside), { name: 'NotFoundError' }, `${name}: nothing uploaded`);
  }
});

test(
  'restoring a checkpoint never writes outside the workspace, even through a symlink already in it',
  async () => {
    const writer = s.anon.withToken(m.tokens.writer, 'paths');
    const ws = workspaceWith('restorable', () => undefined);
    const checkpoint = await checkpointWorkspace(writer, ws);
    const handoff = await s.anon.withToken(m.tokens.lead, 'paths').handoff('writer', checkpoint.checkpoint_id);
    const packet = await writer.resumePacket(handoff.handoff_id);
    // The target already holds `src` as a link to a directory outside it.
    const outside = join(dir, 'outside-dir');
    mkdirSync(outside);
    const target = join(dir, 'target');
    mkdirSync(target);
    symlinkSync(outside, join(target, 'src'));
    await assert.rejects(restoreWorkspace(target, packet.checkpoint.files!, async (sha) => writer.getBlob(sha)), /is a symbolic link/);
    assert.equal(existsSync(join(outside, 'inside-restorable.txt')), false, 'restore wrote through the symlink, outside the workspace');
  },
);
