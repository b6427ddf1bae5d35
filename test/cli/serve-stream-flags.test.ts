/**
 * `missionbus serve --send-share F --subscriber-buffer N` tune live delivery; a bad value is refused
 * before anything is opened, naming the flag, with the exit code of invalid input.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';

const BIN = new URL('../../bin/missionbus.js', import.meta.url).pathname;
let dir: string;
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'missionbus-serve-flags-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

function serveArgs(extra: string[]): string[] {
  return [BIN, 'serve', '--port', '0', '--store', join(dir, 'bus.db'), '--socket', join(dir, 'bus.sock'), ...extra];
}

for (const [flags, named] of [
  [['--send-share', '0'], '--send-share'],
  [['--send-share', '1.5'], '--send-share'],
  [['--send-share', 'half'], '--send-share'],
  [['--subscriber-buffer', '-1'], '--subscriber-buffer'],
  [['--subscriber-buffer', '64k'], '--subscriber-buffer'],
] as const) {
  test(`serve ${flags.join(' ')} is refused, naming ${named}, and opens no store`, () => {
    const result = spawnSync(process.execPath, serveArgs([...flags]), { cwd: dir, encoding: 'utf8', timeout: 30_000 });
    assert.equal(result.status, 2, `exit code of invalid input; stderr: ${result.stderr}`);
    assert.match(result.stderr, new RegExp(`${named} must be`));
    assert.equal(existsSync(join(dir, 'bus.db')), false, 'no store file was created');
  });
}

test('serve --send-share 0.25 --subscriber-buffer 1048576 starts and stops cleanly', async () => {
  const server = spawn(process.execPath, serveArgs(['--send-share', '0.25', '--subscriber-buffer', '1048576']), { cwd: dir, stdio: ['ignore', 'ignore', 'pipe'] });
  await new Promise<void>((resolve, reject) => {
    let text = '';
    server.stderr!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (text.includes('listening on')) resolve();
    });
    server.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${text}`)));
  });
  server.kill('SIGTERM');
  assert.equal(await new Promise((resolve) => server.once('exit', resolve)), 0);
});
