import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, existsSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, test } from 'node:test';
import { InvalidInputError } from '../../src/core/errors.js';
import { captureWorkspace } from '../../src/workspace/capture.js';
import { restoreWorkspace } from '../../src/workspace/restore.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'missionbus-ws-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function workspace(): string {
  const ws = join(dir, 'ws');
  mkdirSync(join(ws, 'src', 'deep'), { recursive: true });
  writeFileSync(join(ws, 'README.md'), 'hello\n');
  writeFileSync(join(ws, 'src', 'deep', 'data.bin'), randomBytes(70_000));
  writeFileSync(join(ws, 'empty'), '');
  mkdirSync(join(ws, '.missionbus'));
  writeFileSync(join(ws, '.missionbus', 'resume.json'), '{}');
  return ws;
}

test('a workspace round-trips byte for byte through capture and restore', async () => {
  const ws = workspace();
  const files = await captureWorkspace(ws);
  assert.deepEqual(files.map((f) => f.path), ['README.md', 'empty', 'src/deep/data.bin']);
  const blobs = new Map(files.map((f) => [f.sha256, f.bytes]));
  const target = join(dir, 'restored');
  await restoreWorkspace(target, files.map(({ bytes: _, ...ref }) => ref), async (sha) => blobs.get(sha)!);
  for (const file of files) assert.deepEqual(new Uint8Array(readFileSync(join(target, file.path))), file.bytes);
  assert.equal(existsSync(join(target, '.missionbus')), false, '.missionbus/ is not captured');
});

test('a symlink is refused, even one that stays inside', async () => {
  const ws = workspace();
  symlinkSync('/etc/passwd', join(ws, 'escape'));
  await assert.rejects(captureWorkspace(ws), (error: unknown) => error instanceof InvalidInputError && /'escape' is a symbolic link/.test(error.message));
  rmSync(join(ws, 'escape'));
  symlinkSync('README.md', join(ws, 'inner'));
  await assert.rejects(captureWorkspace(ws), InvalidInputError);
});

test('a FIFO is refused', async () => {
  const ws = workspace();
  execFileSync('mkfifo', [join(ws, 'pipe')]);
  await assert.rejects(captureWorkspace(ws), /'pipe' is not a regular file/);
});

test('size limits are enforced with the limit in the message', async () => {
  const ws = workspace();
  await assert.rejects(captureWorkspace(ws, { maxFileBytes: 1000 }), /'src\/deep\/data.bin' is 70000 bytes; the per-file limit is 1000/);
  await assert.rejects(captureWorkspace(ws, { maxTotalBytes: 50_000 }), /past its 50000-byte limit/);
  await assert.rejects(captureWorkspace(ws, { maxFiles: 2 }), /past the limit of 2 files/);
});

test('restore refuses paths that escape and blobs that do not match, writing nothing', async () => {
  const target = join(dir, 'restored');
  const bytes = new TextEncoder().encode('x');
  const fetch = async () => bytes;
  for (const path of ['../evil', '/etc/evil', 'a/../../evil', 'a//b', './a', 'a\\..\\b', 'nul\0byte']) {
    await assert.rejects(restoreWorkspace(target, [{ path, size: 1, sha256: 'f'.repeat(64) }], fetch), InvalidInputError, path);
  }
  assert.equal(existsSync(join(dir, 'evil')), false);
  await assert.rejects(restoreWorkspace(target, [{ path: 'ok.txt', size: 1, sha256: '0'.repeat(64) }], fetch), /has sha256/);
  assert.deepEqual(readdirSync(target), []);
});
