/**
 * `setupCells()`: one-time host preparation for level 3 (and a health report for every level),
 * for `missionbus cell setup` run as root. It installs no packages; it says which are missing.
 *
 * @module
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, cp, lstat, mkdir, rename, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { CELL_PACKAGE_DIR, CELL_PACKAGE_ENTRIES, type Availability, type CellLevel, type CellProfile } from './contract.js';
import { CellSetupError } from './errors.js';
import { CELL_ETC_ENTRIES, findExecutable, hasSubordinateIds, lookupUser, readSubordinateRanges, systemEntries, type HostUser } from './host.js';
import { Level2BubblewrapLauncher, CELL_HOSTNAME } from './level2-bubblewrap.js';
import { CELL_ROOTFS, CELL_USER, Level3PodmanLauncher, ROOTFS_MARKER, ROOTFS_VERSION, ensureRuntimeDir } from './level3-podman.js';

const execFileAsync = promisify(execFile);

/** Options for {@link setupCells}. */
export interface SetupOptions {
  /** The unprivileged account for level 3. Default `missionbus`. */
  user?: string;
  /** Where to build the rootfs. Default `/var/lib/missionbus/rootfs`. */
  rootfs?: string;
  /** Receives progress lines for long steps. Default: written to stderr. */
  progress?: (line: string) => void;
}

/** What {@link setupCells} did and what is still missing. */
export interface SetupReport {
  /** Each change made, in order (`created user missionbus (uid 999)`, …). Empty when all was in place. */
  did: string[];
  /** Host packages that are absent, with the command that installs them. */
  missing: { tool: string; install: string }[];
  /** Availability of levels 2 and 3 after setup. */
  levels: ({ level: CellLevel; name: CellProfile } & Availability)[];
}

const TOOLS: readonly { tool: string; pkg: string }[] = [
  { tool: 'bwrap', pkg: 'bubblewrap' },
  { tool: 'podman', pkg: 'podman' },
  { tool: 'runc', pkg: 'runc' },
  { tool: 'newuidmap', pkg: 'uidmap' },
  { tool: 'newgidmap', pkg: 'uidmap' },
  { tool: 'catatonit', pkg: 'catatonit' },
];

const SUBORDINATE_COUNT = 65_536;
const SUBORDINATE_FLOOR = 100_000;

/**
 * Prepares this host for isolation cells. Idempotent; must run as root. Steps:
 *
 * 1. reports missing tools (bwrap, podman, runc, newuidmap/newgidmap, catatonit) with the
 *    `apt-get install` line — it never installs packages itself;
 * 2. creates the unprivileged cell user (`useradd --system`, home `/var/lib/missionbus`,
 *    no login shell) if missing;
 * 3. delegates a free 65536-id range in /etc/subuid and /etc/subgid to it if it has none;
 * 4. creates its `XDG_RUNTIME_DIR` (`/run/user/<uid>`, mode 0700) and pins podman's storage
 *    driver to `vfs` (cells use `--rootfs`, never image layers);
 * 5. builds the rootfs afresh from the host's own files (see {@link buildRootfs}) and swaps it in;
 * 6. warms podman up (storage, pause process) with a trial container and reports each level.
 */
export async function setupCells(options: SetupOptions = {}): Promise<SetupReport> {
  const progress = options.progress ?? ((line: string) => process.stderr.write(`cells setup: ${line}\n`));
  const userName = options.user ?? CELL_USER;
  const rootfs = options.rootfs ?? CELL_ROOTFS;
  if (process.getuid?.() !== 0) {
    throw new CellSetupError('privileges', 'setting up cells creates a user, edits /etc/subuid and builds a rootfs under /var/lib', 'run it as root: sudo missionbus cell setup');
  }
  const did: string[] = [];
  const step = (line: string) => {
    did.push(line);
    progress(line);
  };

  const missing: SetupReport['missing'] = [];
  for (const { tool, pkg } of TOOLS) {
    const found = tool === 'catatonit' ? existsSync('/usr/libexec/podman/catatonit') || (await findExecutable(tool)) : await findExecutable(tool);
    if (!found) missing.push({ tool, install: `apt-get install -y ${pkg}` });
  }
  if (missing.length > 0) progress(`missing: ${missing.map((m) => m.tool).join(', ')} (install: apt-get install -y ${[...new Set(missing.map((m) => m.install.split(' ').pop()))].join(' ')})`);

  const user = await ensureUser(userName, step);
  const subordinatesAdded = await ensureSubordinateIds(user, step);
  await ensureRuntimeDir(`/run/user/${user.uid}`, user);
  await ensureStorageConf(user, step);
  if (subordinatesAdded && (await findExecutable('podman'))) {
    // podman caches the old id mapping in its storage; `system migrate` makes it pick up the new range.
    await asUser(user, 'podman', ['system', 'migrate']).catch(() => undefined);
  }

  progress(`building rootfs ${rootfs} from this host's files`);
  await buildRootfs(rootfs, user);
  step(`built rootfs ${rootfs} (/usr bind-mounted read-only at run time, curated /etc copied)`);

  progress('warming up podman and trying each level (the first podman run initializes storage; may take a few seconds)');
  const levels: SetupReport['levels'] = [];
  for (const launcher of [new Level2BubblewrapLauncher(), new Level3PodmanLauncher({ user: userName, rootfs })]) {
    const started = performance.now();
    const availability = await launcher.check();
    levels.push({ level: launcher.level, name: launcher.name, ...availability });
    progress(`${launcher.name}: ${availability.available ? `available (checked in ${Math.round(performance.now() - started)} ms)` : `UNAVAILABLE: ${availability.reason}; fix: ${availability.fix}`}`);
    for (const note of availability.notes ?? []) progress(`${launcher.name}: note: ${note}`);
  }
  if (did.length === 0) progress('nothing to change');
  return { did, missing, levels };
}

async function ensureUser(name: string, step: (line: string) => void): Promise<HostUser> {
  let user = await lookupUser(name);
  if (!user) {
    const home = `/var/lib/${name}`;
    await execFileAsync('useradd', ['--system', '--user-group', '--create-home', '--home-dir', home, '--shell', '/usr/sbin/nologin', '--comment', 'missionbus isolation cells', name]).catch((error: Error) => {
      throw new CellSetupError('user', `useradd ${name} failed: ${error.message}`, `create an unprivileged system user '${name}' with a home directory by hand`, { cause: error });
    });
    user = await lookupUser(name);
    if (!user) throw new CellSetupError('user', `user '${name}' still missing after useradd`, 'check /etc/nsswitch.conf and /etc/passwd');
    step(`created user ${name} (uid ${user.uid}, gid ${user.gid}, home ${user.home})`);
  }
  if (user.uid === 0) throw new CellSetupError('user', `cell user '${name}' has uid 0`, 'choose an unprivileged account');
  if (!existsSync(user.home)) {
    await mkdir(user.home, { recursive: true, mode: 0o755 });
    await execFileAsync('chown', [`${user.uid}:${user.gid}`, user.home]);
    step(`created home ${user.home}`);
  }
  const homeMode = (await stat(user.home)).mode & 0o777;
  if ((homeMode & 0o005) !== 0o005) {
    // The rootfs lives below it and must stay readable for podman run by other unprivileged users.
    await chmod(user.home, homeMode | 0o005);
    step(`made ${user.home} searchable (mode ${(homeMode | 0o005).toString(8)}); podman keeps its own storage 0700`);
  }
  return user;
}

/** Appends `user:start:65536` to /etc/subuid and /etc/subgid past every range already handed out. */
async function ensureSubordinateIds(user: HostUser, step: (line: string) => void): Promise<boolean> {
  const files = ['/etc/subuid', '/etc/subgid'];
  if (files.every((file) => hasSubordinateIds(file, user))) return false;
  const used = files.flatMap((file) => readSubordinateRanges(file)).map((r) => r.start + r.count);
  const start = Math.max(SUBORDINATE_FLOOR, ...used);
  const end = start + SUBORDINATE_COUNT - 1;
  for (const file of files) {
    if (hasSubordinateIds(file, user)) continue;
    const flag = file === '/etc/subuid' ? '--add-subuids' : '--add-subgids';
    try {
      await execFileAsync('usermod', [flag, `${start}-${end}`, user.name]);
    } catch (error) {
      throw new CellSetupError('subordinate-ids', `usermod ${flag} ${start}-${end} ${user.name} failed: ${(error as Error).message}`, `add the line '${user.name}:${start}:${SUBORDINATE_COUNT}' to ${file}`, { cause: error });
    }
    step(`delegated ids ${start}-${end} to ${user.name} in ${file}`);
  }
  return true;
}

/** Cells never use image layers, so the simplest storage driver avoids overlay/fuse probing on every host. */
async function ensureStorageConf(user: HostUser, step: (line: string) => void): Promise<void> {
  const file = join(user.home, '.config/containers/storage.conf');
  if (existsSync(file)) return;
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, '# written by missionbus cell setup: cells run with --rootfs and need no image layers\n[storage]\ndriver = "vfs"\n');
  await execFileAsync('chown', ['-R', `${user.uid}:${user.gid}`, join(user.home, '.config')]);
  step(`pinned podman storage driver to vfs in ${file}`);
}

function asUser(user: HostUser, file: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(file, args, {
    uid: user.uid,
    gid: user.gid,
    cwd: user.home,
    env: { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: user.home, XDG_RUNTIME_DIR: `/run/user/${user.uid}` },
  });
}

/**
 * Builds the level 3 rootfs in a sibling directory and swaps it in, so a running cell never sees a
 * half-built tree. The rootfs is a read-only skeleton owned by root:
 *
 * - mountpoints (`/usr`, `/proc`, `/dev`, `/sys`, `/run`, `/workspace`), `/tmp` and `/var/tmp` (1777);
 * - `/bin`, `/lib*`, `/sbin` as the host has them (merged-usr symlinks, or mountpoints);
 * - `/etc`: world-readable copies of {@link CELL_ETC_ENTRIES} (never shadow files or private keys),
 *   plus generated `passwd`/`group` (root, nobody, the cell user with home `/workspace`),
 *   `hosts`, `hostname`, empty `resolv.conf` and `mtab`.
 *
 * `/usr` itself is not copied: 5+ GB on a developer host. It is bind-mounted read-only at run time,
 * which also keeps node and the tools inside patched along with the host.
 */
export async function buildRootfs(rootfs: string, user: Pick<HostUser, 'name' | 'uid' | 'gid'>): Promise<void> {
  const staging = `${rootfs}.new-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true, mode: 0o755 });
  for (const dir of ['proc', 'dev', 'sys', 'run', 'etc', 'root', 'home', 'var', 'workspace', 'usr']) {
    await mkdir(join(staging, dir), { mode: 0o755 });
  }
  for (const dir of ['tmp', 'var/tmp']) {
    await mkdir(join(staging, dir));
    await execFileAsync('chmod', ['1777', join(staging, dir)]);
  }
  // Mount points for the read-only missionbus package (runc cannot create them in a root-owned rootfs).
  await mkdir(join(staging, CELL_PACKAGE_DIR), { recursive: true, mode: 0o755 });
  for (const entry of CELL_PACKAGE_ENTRIES) {
    const target = join(staging, CELL_PACKAGE_DIR, entry.name);
    if (entry.kind === 'dir') await mkdir(target, { mode: 0o755 });
    else await writeFile(target, '');
  }
  for (const entry of await systemEntries()) {
    const target = join(staging, entry.path);
    if (entry.kind === 'symlink') await symlink(entry.target, target);
    else await mkdir(target, { recursive: true, mode: 0o755 });
  }
  for (const source of CELL_ETC_ENTRIES) {
    if (!existsSync(source)) continue;
    await cp(source, join(staging, source), {
      recursive: true,
      verbatimSymlinks: true,
      preserveTimestamps: true,
      filter: async (path) => {
        const info = await lstat(path);
        // Only what every host user may read anyway: no secrets can leak through the copy.
        if (info.isSymbolicLink()) return true;
        if (info.isDirectory()) return (info.mode & 0o005) === 0o005;
        return info.isFile() && (info.mode & 0o004) !== 0;
      },
    });
  }
  const etc = join(staging, 'etc');
  await writeFile(join(etc, 'passwd'), [
    'root:x:0:0:root:/root:/usr/sbin/nologin',
    'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin',
    `${user.name}:x:${user.uid}:${user.gid}:missionbus cell:/workspace:/bin/sh`,
    '',
  ].join('\n'));
  await writeFile(join(etc, 'group'), ['root:x:0:', 'nogroup:x:65534:', `${user.name}:x:${user.gid}:`, ''].join('\n'));
  await writeFile(join(etc, 'hosts'), `127.0.0.1\tlocalhost ${CELL_HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n`);
  await writeFile(join(etc, 'hostname'), `${CELL_HOSTNAME}\n`);
  await writeFile(join(etc, 'resolv.conf'), '');
  await symlink('../proc/self/mounts', join(etc, 'mtab'));
  await writeFile(join(staging, ROOTFS_MARKER), `${JSON.stringify({ version: ROOTFS_VERSION, builtAt: new Date().toISOString(), user: user.name })}\n`);
  await execFileAsync('chown', ['-R', '--no-dereference', '0:0', staging]);

  const previous = `${rootfs}.old-${process.pid}`;
  const exists = await stat(rootfs).then(() => true, () => false);
  await mkdir(dirname(rootfs), { recursive: true });
  if (exists) await rename(rootfs, previous);
  await rename(staging, rootfs);
  if (exists) await rm(previous, { recursive: true, force: true });
}
