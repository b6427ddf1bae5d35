/**
 * Level 3: rootless Podman with a rootfs built from the host's own files.
 *
 * @module
 */
import { execFile, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, lchown, lstat, mkdir, readdir } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { userInfo } from 'node:os';
import { CELL_BUS_SOCKET, CELL_BUS_URL, CELL_WORKSPACE, CellLauncher, type Availability, type CellResult, type CellSpec } from './contract.js';
import { CELL_PATH, cellEnv } from './env.js';
import { CellUnavailableError, InvalidCellSpecError } from './errors.js';
import { cgroupLayout, findExecutable, hasSubordinateIds, lookupUser, pathObstacle, systemEntries, type HostUser } from './host.js';
import { CELL_HOSTNAME } from './level2-bubblewrap.js';
import { killProcessGroup, runLaunch } from './process.js';

/** The unprivileged account that runs level 3 cells when missionbus itself runs as root. */
export const CELL_USER = 'missionbus';

/** Where `setupCells()` builds the level 3 rootfs. */
export const CELL_ROOTFS = '/var/lib/missionbus/rootfs';

/** File in the rootfs that marks it as built by `setupCells()` (JSON: version, builtAt). */
export const ROOTFS_MARKER = '.missionbus-rootfs';

/** Bumped when the rootfs layout changes, so `check()` asks for a rebuild. */
export const ROOTFS_VERSION = 2;

/** Label on every cell container, for `podman ps --filter label=io.missionbus.cell`. */
export const CELL_LABEL = 'io.missionbus.cell';

/**
 * Host /etc entries that package installs change: mounted live over the rootfs copies, so a
 * library or tool installed after `setupCells()` still links and resolves inside the cell.
 */
const LIVE_ETC_ENTRIES = ['/etc/alternatives', '/etc/ld.so.cache', '/etc/ld.so.conf.d', '/etc/ssl/certs'];

/** Options for {@link Level3PodmanLauncher}. */
export interface Level3Options {
  /** Account that runs podman when the caller is root. Default {@link CELL_USER}. Ignored when not root. */
  user?: string;
  /** Rootfs directory. Default {@link CELL_ROOTFS}. */
  rootfs?: string;
  /** podman executable. Default: `podman` from the system directories. */
  podman?: string;
  /** OCI runtime. Default `runc` (crun 1.8 refuses hybrid cgroup hosts such as this project's CI). */
  runtime?: string;
  /** `--pids-limit`, applied only where the host's cgroups let rootless podman enforce it. Default 4096. */
  pidsLimit?: number;
  /** `--memory` in MiB, applied only where enforceable. Default 4096. */
  memoryMiB?: number;
}

/** What `check()` learned and `launch()` needs. */
interface Context {
  podman: string;
  runtime: string;
  /** Who podman runs as: the cell user when we are root, else ourselves. */
  runAs: HostUser;
  /** Drop to `runAs` before exec (we are root). */
  drop: boolean;
  podmanEnv: Record<string, string>;
  limits: boolean;
  /** Podman's `--root`/`--runroot` on tmpfs, or `undefined` for the user's default storage. */
  storage: string | undefined;
}

/**
 * Names podman, Go, the dynamic linker or libc would act on if they were in podman's own
 * environment; such cell variables are passed as `-e NAME=VALUE` instead of `-e NAME`.
 */
const HOST_SENSITIVE_ENV = /^(?:LD_|GO|GCONV_|MALLOC_|CONTAINERS?_|XDG_|DBUS_|PODMAN_|BUILDAH_|STORAGE_|REGISTRY_|DOCKER_|NOTIFY_SOCKET$|HOME$|PATH$|TMPDIR$|SHELL$|USER$|LOGNAME$|NLSPATH$|HOSTALIASES$|LOCALDOMAIN$|RES_OPTIONS$|TZDIR$|(?:HTTPS?|NO|FTP|ALL)_PROXY$|(?:https?|no|ftp|all)_proxy$)/;

/**
 * Runs the command in a rootless Podman container:
 *
 * `podman --runtime runc --cgroup-manager=cgroupfs --events-backend=none --log-level=error
 *  --root /dev/shm/missionbus-cells-<uid>/root --runroot /dev/shm/missionbus-cells-<uid>/run run
 *  --rm --name missionbus-cell-<hex> --label io.missionbus.cell=1 --network=none --read-only
 *  --no-hosts --http-proxy=false --log-driver=none --userns=keep-id --init --systemd=false
 *  --cap-drop=all --security-opt=no-new-privileges --hostname missionbus-cell
 *  [--pids-limit N --memory NMiB] [--timeout S] -v /usr:/usr:ro -v WORKSPACE:/workspace:rw
 *  -v /etc/ld.so.cache:/etc/ld.so.cache:ro (and alternatives, ld.so.conf.d, ssl/certs)
 *  [-v SOCKET:/run/missionbus/bus.sock] -w /workspace -e NAME... --rootfs ROOTFS COMMAND...`
 *
 * - Rootless: when missionbus runs as root, podman runs as the unprivileged {@link CELL_USER}
 *   (uid/gid dropped by the spawn itself, `HOME` and `XDG_RUNTIME_DIR=/run/user/<uid>` set), so
 *   the cell is in a user namespace owned by that user with its /etc/subuid range. The container
 *   process has the same uid as that user (`keep-id`), no capabilities, no new privileges and
 *   podman's default seccomp filter.
 * - Filesystem: the rootfs ({@link CELL_ROOTFS}, built by `setupCells()`) is a read-only skeleton
 *   with a curated /etc; host `/usr` (and any non-merged `/bin`, `/lib*`) is bind-mounted
 *   read-only, so node and the host's tools run inside and stay patched with the host. `/tmp`,
 *   `/var/tmp` and `/run` are private tmpfs. The workspace is the only writable host path; when we
 *   are root it is handed to the cell user (`chown -R` once, when its top directory is not theirs).
 * - Network: `--network=none`, loopback only. The bus socket, if given, is mounted at
 *   `/run/missionbus/bus.sock` and `MISSIONBUS_URL` rewritten to `unix:/run/missionbus/bus.sock`;
 *   the cell user must be able to reach it (its directories searchable, the socket writable).
 * - Environment: only the scrubbed cell environment; values travel in podman's own environment
 *   (`-e NAME`), so tokens are not in argv for `ps` to show.
 * - Limits: `--pids-limit`/`--memory` only where rootless podman can enforce them (cgroup v2 with
 *   delegation); on cgroup v1/hybrid hosts `check()` says they are not enforced.
 * - Podman state: `--root`/`--runroot` on tmpfs ({@link storageDir}); cells are `--rm` with
 *   `--rootfs`, so there is nothing to keep, and no fsyncs to disk on the start path.
 * - Process tree: `--init` reaps orphans; on timeout/abort the podman client is killed and the
 *   container removed with `podman rm --force --time 0`, which kills its whole PID namespace. If
 *   the missionbus process itself dies, `--timeout` (when a timeout is set) still lets conmon kill it.
 */
export class Level3PodmanLauncher extends CellLauncher {
  readonly level = 3 as const;
  readonly name = 'level3-rootless-podman' as const;
  readonly #options: Required<Level3Options>;
  #context: Context | undefined;

  constructor(options: Level3Options = {}) {
    super();
    this.#options = {
      user: CELL_USER,
      rootfs: CELL_ROOTFS,
      podman: 'podman',
      runtime: 'runc',
      pidsLimit: 4096,
      memoryMiB: 4096,
      ...options,
    };
  }

  async check(): Promise<Availability> {
    try {
      return await this.#check();
    } catch (error) {
      return { available: false, reason: `probing podman failed: ${(error as Error).message}`, fix: 'run `missionbus cell setup` as root, then retry' };
    }
  }

  async #check(): Promise<Availability> {
    const options = this.#options;
    const setupFix = 'run `missionbus cell setup` as root (or scripts/ci-cells-setup.sh)';
    const podman = await findExecutable(options.podman);
    if (!podman) return { available: false, reason: `podman executable '${options.podman}' not found`, fix: 'apt-get install podman runc uidmap' };
    const runtime = await findExecutable(options.runtime);
    if (!runtime) return { available: false, reason: `OCI runtime '${options.runtime}' not found`, fix: `apt-get install ${options.runtime}` };
    for (const tool of ['newuidmap', 'newgidmap']) {
      if (!(await findExecutable(tool))) return { available: false, reason: `${tool} not found (rootless podman needs it)`, fix: 'apt-get install uidmap' };
    }

    const drop = process.getuid?.() === 0;
    const userName = drop ? options.user : userInfo().username;
    const runAs = await lookupUser(userName);
    if (!runAs) return { available: false, reason: `cell user '${userName}' does not exist`, fix: setupFix };
    if (drop && runAs.uid === 0) return { available: false, reason: `cell user '${userName}' is root; level 3 must run podman unprivileged`, fix: 'pick an unprivileged user in Level3Options.user' };
    for (const file of ['/etc/subuid', '/etc/subgid']) {
      if (!hasSubordinateIds(file, runAs)) {
        return { available: false, reason: `${file} delegates no range of 65536 ids to '${userName}'`, fix: `${setupFix}, or: usermod --add-subuids 100000-165535 --add-subgids 100000-165535 ${userName}` };
      }
    }
    const rootfsProblem = await this.#rootfsProblem();
    if (rootfsProblem) return { available: false, reason: rootfsProblem, fix: setupFix };

    const runtimeDir = drop ? `/run/user/${runAs.uid}` : process.env.XDG_RUNTIME_DIR;
    if (drop && runtimeDir) await ensureRuntimeDir(runtimeDir, runAs);
    const context: Context = {
      podman,
      runtime,
      runAs,
      drop,
      podmanEnv: { PATH: CELL_PATH, HOME: runAs.home, ...(runtimeDir ? { XDG_RUNTIME_DIR: runtimeDir } : {}) },
      limits: false,
      storage: undefined,
    };

    const notes: string[] = [];
    const storage = storageDir(runAs);
    const storageProblem = await ensureStorageDir(storage, runAs, drop);
    if (storageProblem) notes.push(`podman storage stays in ${runAs.home} (slower, fsyncs to disk): ${storageProblem}`);
    else context.storage = storage;
    const layout = cgroupLayout();
    if (layout === 'v2') {
      const withLimits = await this.#probe({ ...context, limits: true });
      if (withLimits === undefined) context.limits = true;
      else notes.push(`--pids-limit/--memory not enforced: podman rejected them (${withLimits}); delegate the memory and pids controllers to ${userName}`);
    } else {
      notes.push(`--pids-limit/--memory not enforced: rootless podman cannot set cgroup limits on a cgroup ${layout} host (boot with systemd.unified_cgroup_hierarchy=1 for cgroup v2)`);
    }
    if (!context.limits) {
      const failure = await this.#probe(context);
      if (failure !== undefined) {
        return {
          available: false,
          reason: `a trial container failed: ${failure}`,
          fix: `run \`runuser -u ${userName} -- podman --runtime ${options.runtime} --cgroup-manager=cgroupfs run --rm --network=none --rootfs ${options.rootfs} /usr/bin/true\` to see the full error; inside a container, nested user namespaces and mounts must be allowed`,
        };
      }
    }
    this.#context = context;
    return { available: true, notes };
  }

  async #rootfsProblem(): Promise<string | undefined> {
    const rootfs = this.#options.rootfs;
    const markerPath = join(rootfs, ROOTFS_MARKER);
    if (!existsSync(markerPath)) return `rootfs ${rootfs} has not been built`;
    try {
      const marker = JSON.parse(readFileSync(markerPath, 'utf8')) as { version?: number };
      if (marker.version !== ROOTFS_VERSION) return `rootfs ${rootfs} is version ${marker.version}, this missionbus needs ${ROOTFS_VERSION}`;
    } catch {
      return `rootfs marker ${markerPath} is unreadable`;
    }
    for (const entry of await systemEntries()) {
      const inRootfs = await lstat(join(rootfs, entry.path)).catch(() => undefined);
      const matches = entry.kind === 'dir' ? inRootfs?.isDirectory() : inRootfs?.isSymbolicLink();
      if (!matches) return `rootfs ${rootfs} does not match this host's ${entry.path} (${entry.kind}); it was built on a different layout`;
    }
    return undefined;
  }

  /** Runs `/usr/bin/true` in a container with the real flags; returns the error text, if any. */
  async #probe(context: Context): Promise<string | undefined> {
    const args = await this.#podmanArgs(context, { name: `missionbus-probe-${randomBytes(6).toString('hex')}`, env: {}, command: ['/usr/bin/true'] });
    return new Promise((resolve) => {
      execFile(
        context.podman,
        args,
        { env: context.podmanEnv, cwd: '/', timeout: 60_000, ...(context.drop ? { uid: context.runAs.uid, gid: context.runAs.gid } : {}) },
        (error, _stdout, stderr) => resolve(error ? (stderr || error.message).trim().split('\n').slice(-3).join(' ') : undefined),
      );
    });
  }

  /** Global options plus `run` options, ending in `--rootfs ROOTFS COMMAND...` (options after the rootfs would be argv). */
  async #podmanArgs(
    context: Context,
    cell: {
      name: string;
      env: Record<string, string>;
      command: string[];
      workspace?: string;
      busSocket?: string;
      readOnlyBinds?: CellSpec['readOnlyBinds'];
      timeoutMs?: number;
      interactive?: boolean;
    },
  ): Promise<string[]> {
    const args = [
      ...globalArgs(context),
      'run',
      '--rm',
      '--name', cell.name,
      '--label', `${CELL_LABEL}=1`,
      '--network=none',
      '--read-only',
      '--no-hosts',
      '--http-proxy=false',
      '--log-driver=none',
      '--userns=keep-id',
      '--init',
      '--systemd=false',
      '--cap-drop=all',
      '--security-opt=no-new-privileges',
      '--hostname', CELL_HOSTNAME,
    ];
    if (context.limits) args.push(`--pids-limit=${this.#options.pidsLimit}`, `--memory=${this.#options.memoryMiB}m`);
    // Backstop if this process dies mid-run: conmon kills the container itself a little later.
    if (cell.timeoutMs !== undefined) args.push(`--timeout=${Math.ceil(cell.timeoutMs / 1000) + 5}`);
    if (cell.interactive) args.push('--interactive');
    for (const entry of await systemEntries()) {
      if (entry.kind === 'dir') args.push('--volume', `${entry.path}:${entry.path}:ro`);
    }
    for (const path of LIVE_ETC_ENTRIES) {
      if (existsSync(path) && existsSync(join(this.#options.rootfs, path))) args.push('--volume', `${path}:${path}:ro`);
    }
    if (cell.workspace !== undefined) args.push('--volume', `${cell.workspace}:${CELL_WORKSPACE}:rw`, '--workdir', CELL_WORKSPACE);
    if (cell.busSocket !== undefined) args.push('--volume', `${cell.busSocket}:${CELL_BUS_SOCKET}:ro`);
    // Mount points must already exist in the read-only rootfs: setup creates the package's (CELL_PACKAGE_ENTRIES).
    for (const bind of cell.readOnlyBinds ?? []) args.push('--volume', `${bind.host}:${bind.cell}:ro`);
    for (const [name, value] of Object.entries(cell.env)) {
      args.push('--env', passByName(name) ? name : `${name}=${value}`);
    }
    args.push('--rootfs', this.#options.rootfs, ...cell.command);
    return args;
  }

  protected override validate(spec: CellSpec): void {
    super.validate(spec);
    const paths: Array<[string, string | undefined]> = [
      ['workspace', spec.workspace],
      ['busSocket', spec.busSocket],
      ...(spec.readOnlyBinds ?? []).flatMap((bind): Array<[string, string]> => [['readOnlyBinds', bind.host], ['readOnlyBinds', bind.cell]]),
    ];
    for (const [field, path] of paths) {
      if (path !== undefined && /[:,]/.test(path)) {
        throw new InvalidCellSpecError(this.name, field, `${field} '${path}' contains ':' or ',', which podman volume syntax cannot express; use another path`);
      }
    }
  }

  protected async launch(spec: CellSpec): Promise<CellResult> {
    const context = this.#context!;
    await this.assertBusSocket(spec);
    // tmpfs storage vanishes on reboot or cleanup; recreate it (cheap when present).
    if (context.storage !== undefined && !existsSync(context.storage)) {
      const problem = await ensureStorageDir(context.storage, context.runAs, context.drop);
      if (problem) throw new CellUnavailableError(this.level, this.name, problem, `remove ${context.storage}; it is recreated on the next run`);
    }
    await this.#prepareWorkspace(spec.workspace, context);
    if (spec.busSocket !== undefined) {
      const obstacle = pathObstacle(spec.busSocket, context.runAs, 'w');
      if (obstacle) {
        throw new InvalidCellSpecError(this.name, 'busSocket', `cell user '${context.runAs.name}' cannot connect to bus socket ${spec.busSocket}: ${obstacle}; make its directories searchable (chmod o+x or chgrp ${context.runAs.name}) and the socket writable for that user`);
      }
    }
    const env = cellEnv(process.env, spec.env, {
      home: CELL_WORKSPACE,
      path: CELL_PATH,
      ...(spec.busSocket !== undefined ? { busUrl: CELL_BUS_URL } : {}),
    });
    const name = `missionbus-cell-${randomBytes(6).toString('hex')}`;
    const args = await this.#podmanArgs(context, {
      name,
      env,
      command: spec.command,
      workspace: spec.workspace,
      ...(spec.busSocket !== undefined ? { busSocket: spec.busSocket } : {}),
      ...(spec.readOnlyBinds !== undefined ? { readOnlyBinds: spec.readOnlyBinds } : {}),
      ...(spec.timeoutMs !== undefined ? { timeoutMs: spec.timeoutMs } : {}),
      interactive: spec.stdin === 'inherit',
    });
    const podmanEnv = { ...context.podmanEnv };
    for (const [key, value] of Object.entries(env)) if (passByName(key)) podmanEnv[key] = value;
    const stop = async (child: ChildProcess) => {
      killProcessGroup(child);
      await this.#podman(context, ['rm', '--force', '--time', '0', '--ignore', name]);
    };
    return runLaunch(
      {
        file: context.podman,
        args,
        env: podmanEnv,
        cwd: existsSync(context.runAs.home) ? context.runAs.home : '/',
        ...(context.drop ? { uid: context.runAs.uid, gid: context.runAs.gid } : {}),
        runtimeExitStatus: true,
        stop,
      },
      spec,
    );
  }

  /** Creates the workspace and, when podman runs as another user, makes sure that user owns it and can reach it. */
  async #prepareWorkspace(workspace: string, context: Context): Promise<void> {
    await mkdir(workspace, { recursive: true });
    if (!context.drop) return;
    const { uid, gid } = context.runAs;
    const top = await lstat(workspace);
    if (top.uid !== uid) await chownTree(workspace, uid, gid);
    const obstacle = pathObstacle(workspace, context.runAs, 'rwx');
    if (obstacle) {
      throw new InvalidCellSpecError(this.name, 'workspace', `cell user '${context.runAs.name}' cannot use workspace ${workspace}: ${obstacle}; place workspaces under a directory that user can search (e.g. chmod o+x on each parent)`);
    }
  }

  #podman(context: Context, args: string[]): Promise<void> {
    return new Promise((resolve) => {
      execFile(
        context.podman,
        [...globalArgs(context), ...args],
        { env: context.podmanEnv, cwd: '/', timeout: 30_000, ...(context.drop ? { uid: context.runAs.uid, gid: context.runAs.gid } : {}) },
        () => resolve(),
      );
    });
  }
}

/**
 * Options before `run`. `--root`/`--runroot` on tmpfs: cells are `--rm` and use `--rootfs`, so
 * podman's state (its bolt database, container config) is throw-away, and keeping it off disk
 * avoids several fsyncs per run (about 35 ms of start time measured on a loaded CI-sized host).
 */
function globalArgs(context: Context): string[] {
  return [
    '--runtime', context.runtime,
    '--cgroup-manager=cgroupfs',
    '--events-backend=none',
    '--log-level=error',
    ...(context.storage !== undefined ? ['--root', join(context.storage, 'root'), '--runroot', join(context.storage, 'run')] : []),
  ];
}

/** Per-user tmpfs directory for podman's throw-away state; `podman --root DIR/root --runroot DIR/run ps` shows running cells. */
export function storageDir(user: Pick<HostUser, 'uid'>): string {
  return `/dev/shm/missionbus-cells-${user.uid}`;
}

/**
 * Creates the storage directory owned by `user`, mode 0700. /dev/shm is world-writable, so a
 * directory that already exists but belongs to someone else is never used (returned as a problem).
 */
async function ensureStorageDir(dir: string, user: HostUser, drop: boolean): Promise<string | undefined> {
  if (!existsSync(dirname(dir))) return `${dirname(dir)} does not exist`;
  await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  let stat = await lstat(dir);
  if (drop && stat.isDirectory() && stat.uid === 0 && (stat.mode & 0o777) === 0o700) {
    // Just created by us as root: hand it over.
    await lchown(dir, user.uid, user.gid);
    stat = await lstat(dir);
  }
  if (!stat.isDirectory() || stat.uid !== user.uid || (stat.mode & 0o077) !== 0) {
    return `${dir} exists but is not a private directory of ${user.name}`;
  }
  return undefined;
}

function passByName(name: string): boolean {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(name) && !HOST_SENSITIVE_ENV.test(name);
}

/** `XDG_RUNTIME_DIR` for the cell user: rootless podman keeps its runroot, pause pid and locks there. */
export async function ensureRuntimeDir(dir: string, user: HostUser): Promise<void> {
  await mkdir(dirname(dir), { recursive: true, mode: 0o755 });
  await mkdir(dir, { mode: 0o700 }).catch((error: NodeJS.ErrnoException) => {
    if (error.code !== 'EEXIST') throw error;
  });
  const stat = await lstat(dir);
  if (!stat.isDirectory()) throw new Error(`${dir} exists and is not a directory; remove it so the cell user's runtime directory can be created`);
  if (stat.uid !== user.uid || stat.gid !== user.gid) await lchown(dir, user.uid, user.gid);
  if ((stat.mode & 0o777) !== 0o700) await chmod(dir, 0o700);
}

/** Hands a tree to the cell user. `lchown`, never `chown`: a symlink in the workspace must not give away its target. */
async function chownTree(path: string, uid: number, gid: number): Promise<void> {
  const stat = await lstat(path);
  if (stat.isDirectory()) {
    for (const entry of await readdir(path)) await chownTree(join(path, entry), uid, gid);
  }
  if (stat.uid !== uid || stat.gid !== gid) await lchown(path, uid, gid);
}
