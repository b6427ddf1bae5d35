/**
 * Restores checkpointed files into a fresh workspace, byte for byte: each path is checked to stay inside
 * the workspace, each blob's sha256 is verified before it is written, and each file is written to a
 * temporary name and renamed, so a failure never leaves a half-written file under its real name.
 */
import { createHash } from 'node:crypto';
import { lstat, mkdir, rename, writeFile } from 'node:fs/promises';
import { join, resolve, sep } from 'node:path';
import { InvalidInputError } from '../core/errors.js';
import type { ArtifactFile } from '../core/events.js';
import { workspacePath } from '../core/schemas.js';

/** Refuses a path that is absolute, has `..` or empty segments, or a NUL — anything that could escape. */
export function safeRelativePath(path: string): string {
  if (!workspacePath.safeParse(path).success) {
    throw new InvalidInputError(`artifact path '${path}' is not a plain relative path inside the workspace`, { path });
  }
  return path;
}

/**
 * Creates the parent directories of `path` under `base` one by one, refusing any that already exists as
 * a symlink: a link planted in the target (say `src -> /etc`) must not carry a write outside.
 */
async function makeDirectoriesInside(base: string, path: string): Promise<void> {
  let current = base;
  for (const segment of path.split('/').slice(0, -1)) {
    current = join(current, segment);
    const info = await lstat(current).catch(() => undefined);
    if (info?.isSymbolicLink()) {
      throw new InvalidInputError(`cannot restore '${path}': '${current}' is a symbolic link; restore into a fresh workspace`, { path });
    }
    if (info && !info.isDirectory()) throw new InvalidInputError(`cannot restore '${path}': '${current}' is not a directory`, { path });
    if (!info) await mkdir(current);
  }
}

export async function restoreWorkspace(root: string, files: ArtifactFile[], fetch: (sha256: string) => Promise<Uint8Array>): Promise<void> {
  const base = resolve(root);
  for (const file of files) safeRelativePath(file.path);
  await mkdir(base, { recursive: true });
  for (const file of files) {
    const target = join(base, file.path);
    if (!target.startsWith(base + sep)) throw new InvalidInputError(`artifact path '${file.path}' escapes the workspace`);
    const bytes = await fetch(file.sha256);
    const actual = createHash('sha256').update(bytes).digest('hex');
    if (actual !== file.sha256 || bytes.byteLength !== file.size) {
      throw new InvalidInputError(`artifact '${file.path}': blob ${file.sha256} has sha256 ${actual} and ${bytes.byteLength} bytes; expected ${file.size}`);
    }
    await makeDirectoriesInside(base, file.path);
    const temporary = `${target}.missionbus-partial`;
    await writeFile(temporary, bytes, { flag: 'wx' });
    await rename(temporary, target);
  }
}
