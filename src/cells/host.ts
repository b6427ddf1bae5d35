/**
 * Host probes shared by the launchers and `setupCells()`: executables, users, subordinate ids,
 * cgroups, path permissions, and the host files a cell may see.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { constants, existsSync, readFileSync, statSync } from 'node:fs';
import { access, lstat, readlink } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const execFileAsync = promisify(execFile);

/** Directories searched for tools; fixed rather than the caller's `PATH`, which may hold shims. */
const SYSTEM_DIRS = ['/usr/local/sbin', '/usr/local/bin', '/usr/sbin', '/usr/bin', '/sbin', '/bin'];

/** Absolute path of an executable in the system directories, or `undefined`. */
export async function findExecutable(name: string): Promise<string | undefined> {
  if (name.startsWith('/')) return (await isExecutable(name)) ? name : undefined;
  for (const dir of SYSTEM_DIRS) {
    const candidate = join(dir, name);
    if (await isExecutable(candidate)) return candidate;
  }
  return undefined;
}

async function isExecutable(path: string): Promise<boolean> {
  try {
    await access(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** A host account as the launchers need it. */
export interface HostUser {
  name: string;
  uid: number;
  gid: number;
  /** Primary and supplementary group ids. */
  gids: number[];
  home: string;
}

/** Looks a user up through NSS (`getent`, `id`), or returns `undefined` when it does not exist. */
export async function lookupUser(name: string): Promise<HostUser | undefined> {
  let line: string;
  try {
    line = (await execFileAsync('getent', ['passwd', name])).stdout.trim();
  } catch {
    return undefined;
  }
  const [, , uid, gid, , home] = line.split(':');
  if (uid === undefined || gid === undefined || home === undefined) return undefined;
  let gids = [Number(gid)];
  try {
    gids = (await execFileAsync('id', ['-G', name])).stdout.trim().split(/\s+/).map(Number);
  } catch {
    // primary group only
  }
  return { name, uid: Number(uid), gid: Number(gid), gids, home };
}

/** A `name:start:count` (or `uid:start:count`) line of /etc/subuid or /etc/subgid. */
export interface SubordinateRange {
  owner: string;
  start: number;
  count: number;
}

export function readSubordinateRanges(file: string): SubordinateRange[] {
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .split('\n')
    .map((line) => line.trim().split(':'))
    .filter((parts) => parts.length === 3 && parts[0] !== '' && !parts[0]!.startsWith('#'))
    .map(([owner, start, count]) => ({ owner: owner!, start: Number(start), count: Number(count) }));
}

/** True when `file` delegates at least 65536 ids to the user (by name or uid), as rootless podman needs. */
export function hasSubordinateIds(file: string, user: { name: string; uid: number }): boolean {
  return readSubordinateRanges(file).some((r) => (r.owner === user.name || r.owner === String(user.uid)) && r.count >= 65_536);
}

/** Which cgroup hierarchy the host runs: pure v2, v1 only, or hybrid (v1 controllers plus a v2 mount). */
export function cgroupLayout(): 'v2' | 'v1' | 'hybrid' {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return 'v2';
  return existsSync('/sys/fs/cgroup/unified/cgroup.controllers') ? 'hybrid' : 'v1';
}

/**
 * Whether `user` can traverse to `path` and use it with `need` (`'x'`: search/execute, `'w'`: write,
 * `'rwx'`: a writable directory), judged from mode bits. Returns the first obstacle, or `undefined`.
 */
export function pathObstacle(path: string, user: Pick<HostUser, 'uid' | 'gids' | 'name'>, need: 'x' | 'w' | 'rwx'): string | undefined {
  if (user.uid === 0) return undefined;
  const allows = (p: string, bits: number): boolean => {
    const stat = statSync(p);
    const shift = stat.uid === user.uid ? 6 : user.gids.includes(stat.gid) ? 3 : 0;
    return ((stat.mode >> shift) & bits) === bits;
  };
  const describe = (p: string) => {
    const stat = statSync(p);
    return `${p} (mode ${(stat.mode & 0o7777).toString(8).padStart(4, '0')}, owner uid ${stat.uid}, group gid ${stat.gid})`;
  };
  const parents: string[] = [];
  for (let dir = dirname(path); ; dir = dirname(dir)) {
    parents.unshift(dir);
    if (dir === '/') break;
  }
  for (const dir of parents) {
    if (!allows(dir, 0o1)) return `directory ${describe(dir)} is not searchable by ${user.name}`;
  }
  const bits = need === 'x' ? 0o1 : need === 'w' ? 0o2 : 0o7;
  if (!allows(path, bits)) return `${describe(path)} does not grant '${need}' to ${user.name}`;
  return undefined;
}

/** How a top-level system path exists on the host. */
export type SystemEntry = { path: string; kind: 'dir' } | { path: string; kind: 'symlink'; target: string };

/**
 * The program directories a cell needs (`/usr`, and `/bin`, `/lib`, … either as merged-usr
 * symlinks or as real directories). Real directories are bind-mounted read-only; symlinks are
 * recreated. Host `/root`, `/home`, `/work`, `/tmp`, `/var`, `/opt`, `/srv`, `/mnt` are never among them.
 */
export async function systemEntries(): Promise<SystemEntry[]> {
  const entries: SystemEntry[] = [];
  for (const path of ['/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32']) {
    try {
      const stat = await lstat(path);
      if (stat.isSymbolicLink()) entries.push({ path, kind: 'symlink', target: await readlink(path) });
      else if (stat.isDirectory()) entries.push({ path, kind: 'dir' });
    } catch {
      // absent on this host
    }
  }
  return entries;
}

/**
 * The host /etc entries a cell may see: what dynamic linking (`ld.so.*`), name and service lookup
 * (`nsswitch.conf`, `passwd`/`group`, which hold no hashes, `protocols`, `services`), time zones,
 * TLS roots, OS identification and `update-alternatives` links (`/usr/bin/editor` and friends) need
 * at run time. An allow-list, not /etc minus secrets: /etc/shadow, /etc/ssl/private, SSH host keys
 * and service credentials stay outside, as does anything added to /etc later. Kept short because
 * each entry is one bind mount at level 2 (about 0.25 ms each). Missing entries are skipped.
 */
export const CELL_ETC_ENTRIES: readonly string[] = [
  '/etc/alternatives',
  '/etc/group',
  '/etc/ld.so.cache',
  '/etc/ld.so.conf',
  '/etc/ld.so.conf.d',
  '/etc/localtime',
  '/etc/nsswitch.conf',
  '/etc/os-release',
  '/etc/passwd',
  '/etc/protocols',
  '/etc/services',
  '/etc/ssl/certs',
  '/etc/ssl/openssl.cnf',
];
