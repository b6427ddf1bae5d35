/**
 * Captures a workspace directory as content-addressed files (path, size, sha256, bytes) for a checkpoint.
 * Only regular files are captured: a symlink, device, socket or FIFO is refused (never followed), as is
 * anything over the size limits — with the path and the limit in the message. `.missionbus/` (where the
 * resume packet lives) is not part of the work and is left out.
 */
import { createHash } from 'node:crypto';
import { lstat, readdir, readFile } from 'node:fs/promises';
import { join, posix, relative, sep } from 'node:path';
import { InvalidInputError } from '../core/errors.js';
import type { ArtifactFile } from '../core/events.js';

export interface CaptureLimits {
  /** Largest single file. Default 16 MiB. */
  maxFileBytes: number;
  /** All files together. Default 64 MiB. */
  maxTotalBytes: number;
  /** Number of files. Default 10,000. */
  maxFiles: number;
}

export const DEFAULT_CAPTURE_LIMITS: CaptureLimits = {
  maxFileBytes: 16 * 1024 * 1024,
  maxTotalBytes: 64 * 1024 * 1024,
  maxFiles: 10_000,
};

export const WORKSPACE_META_DIR = '.missionbus';

export interface CapturedFile extends ArtifactFile {
  bytes: Uint8Array;
}

export async function captureWorkspace(root: string, limits: Partial<CaptureLimits> = {}): Promise<CapturedFile[]> {
  const bounds = { ...DEFAULT_CAPTURE_LIMITS, ...limits };
  const rootStat = await lstat(root).catch(() => null);
  if (!rootStat?.isDirectory()) throw new InvalidInputError(`workspace '${root}' is not a directory`);
  const files: CapturedFile[] = [];
  let total = 0;
  const pending = [root];
  while (pending.length > 0) {
    const dir = pending.pop()!;
    const entries = await readdir(dir, { withFileTypes: true });
    entries.sort((a, b) => (a.name < b.name ? -1 : 1));
    for (const entry of entries) {
      const full = join(dir, entry.name);
      const path = relative(root, full).split(sep).join(posix.sep);
      if (path === WORKSPACE_META_DIR) continue;
      const stat = await lstat(full);
      if (stat.isDirectory()) {
        pending.push(full);
        continue;
      }
      if (stat.isSymbolicLink()) throw refused(path, 'is a symbolic link; checkpoints capture regular files only (a link could point outside the workspace)');
      if (!stat.isFile()) throw refused(path, 'is not a regular file (device, socket or FIFO)');
      if (stat.size > bounds.maxFileBytes) throw refused(path, `is ${stat.size} bytes; the per-file limit is ${bounds.maxFileBytes}`);
      total += stat.size;
      if (total > bounds.maxTotalBytes) throw refused(path, `takes the workspace past its ${bounds.maxTotalBytes}-byte limit`);
      if (files.length + 1 > bounds.maxFiles) throw refused(path, `is past the limit of ${bounds.maxFiles} files`);
      const bytes = new Uint8Array(await readFile(full));
      files.push({ path, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex'), bytes });
    }
  }
  return files.sort((a, b) => (a.path < b.path ? -1 : 1));
}

function refused(path: string, why: string): InvalidInputError {
  return new InvalidInputError(`workspace file '${path}' ${why}`, { path });
}
