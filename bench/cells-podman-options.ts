/**
 * What each podman option costs at level 3: the launcher's flag set, and the same with one option
 * removed or added, run round-robin so background load hits every variant alike. Reports the median
 * per variant and its difference to the launcher's flags. Needs a host that passed `setupCells()`.
 * `MB_BENCH_PODMAN_RUNS` sets the rounds (default 15); `MB_BENCH_PODMAN_ONLY=3,10` keeps only those
 * variants (by index) besides the baseline.
 */
import { execFile } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { CELL_ROOTFS, CELL_USER, launcherFor } from '../src/cells/index.js';
import { lookupUser } from '../src/cells/host.js';
import { fmt, median, nowMs, progress, type Report } from './lib.js';

const RUNS = Number(process.env.MB_BENCH_PODMAN_RUNS ?? 15);

interface Variant {
  label: string;
  /** Global options to leave out, with their value when they take one (`--root`). */
  dropGlobal?: string[];
  add?: string[];
  drop?: string[];
}

const ONLY = process.env.MB_BENCH_PODMAN_ONLY?.split(',').map(Number);
const ALL_VARIANTS: Variant[] = [
  { label: 'launcher flags (baseline)' },
  { label: 'without --log-driver=none (k8s-file log)', drop: ['--log-driver=none'] },
  { label: 'without --events-backend=none (file events)', dropGlobal: ['--events-backend=none'] },
  { label: 'without --init', drop: ['--init'] },
  { label: 'without --userns=keep-id', drop: ['--userns=keep-id'] },
  { label: 'without --no-hosts', drop: ['--no-hosts'] },
  { label: 'without --read-only', drop: ['--read-only'] },
  { label: 'with --pids-limit=4096 --memory=4096m', add: ['--pids-limit=4096', '--memory=4096m'] },
  { label: 'with seccomp=unconfined (not used: shows the filter cost)', add: ['--security-opt=seccomp=unconfined'] },
  { label: 'with --cgroups=disabled', add: ['--cgroups=disabled'] },
  { label: 'with storage on disk (default ~/.local/share/containers)', dropGlobal: ['--root', '--runroot'] },
];
const VARIANTS = ONLY ? ALL_VARIANTS.filter((_, i) => i === 0 || ONLY.includes(i)) : ALL_VARIANTS;

const STORAGE = '/dev/shm/missionbus-bench';
const GLOBAL = ['--runtime', 'runc', '--cgroup-manager=cgroupfs', '--events-backend=none', '--log-level=error', '--root', `${STORAGE}/root`, '--runroot', `${STORAGE}/run`];
const RUN = [
  'run', '--rm', '--network=none', '--read-only', '--no-hosts', '--http-proxy=false', '--log-driver=none',
  '--userns=keep-id', '--init', '--systemd=false', '--cap-drop=all', '--security-opt=no-new-privileges',
  '--volume', '/usr:/usr:ro',
];

export async function benchPodmanOptions(report: Report): Promise<void> {
  const availability = await launcherFor(3).check();
  if (!availability.available) {
    report(`podman options: skipped — ${availability.reason} (fix: ${availability.fix})`);
    return;
  }
  const asRoot = process.getuid?.() === 0;
  const user = await lookupUser(asRoot ? CELL_USER : userInfo().username);
  if (!user) throw new Error('cell user vanished after a successful check');
  const root = mkdtempSync(join(tmpdir(), 'mb-bench-podman-'));
  chmodSync(root, 0o711);
  const workspace = join(root, 'ws');
  mkdirSync(workspace);
  if (asRoot) {
    mkdirSync(STORAGE, { recursive: true, mode: 0o700 });
    await execFileP('chown', [`${user.uid}:${user.gid}`, workspace, STORAGE]);
  } else {
    mkdirSync(STORAGE, { recursive: true, mode: 0o700 });
  }
  const env = { PATH: '/usr/sbin:/usr/bin:/sbin:/bin', HOME: user.home, XDG_RUNTIME_DIR: asRoot ? `/run/user/${user.uid}` : (process.env.XDG_RUNTIME_DIR ?? '') };
  const argsFor = (v: Variant) => [
    ...withoutOptions(GLOBAL, v.dropGlobal),
    ...RUN.filter((a) => !v.drop?.includes(a)),
    ...(v.add ?? []),
    '--volume', `${workspace}:/workspace:rw`, '--workdir', '/workspace',
    '--rootfs', CELL_ROOTFS, '/usr/bin/true',
  ];
  const once = (v: Variant) =>
    new Promise<{ ms: number; error?: string }>((resolve) => {
      const started = nowMs();
      execFile('podman', argsFor(v), { env, cwd: '/', ...(asRoot ? { uid: user.uid, gid: user.gid } : {}) }, (error, _out, stderr) => {
        resolve({ ms: nowMs() - started, ...(error ? { error: (stderr || error.message).trim().split('\n').pop() } : {}) });
      });
    });
  try {
    const times = new Map<Variant, number[]>(VARIANTS.map((v) => [v, []]));
    const failures = new Map<Variant, string>();
    for (const v of VARIANTS) {
      const warm = await once(v);
      if (warm.error) failures.set(v, warm.error);
    }
    for (let i = 0; i < RUNS; i++) {
      // A fresh order each round: a run's asynchronous cleanup (conmon's exit command) slows whatever
      // comes next, so a fixed order would bias the variant that always follows another.
      for (const v of shuffled(VARIANTS)) {
        if (failures.has(v)) continue;
        const { ms, error } = await once(v);
        if (error) failures.set(v, error);
        else times.get(v)!.push(ms);
      }
      progress(`podman options: round ${i + 1}/${RUNS}`);
    }
    const baseline = median(times.get(VARIANTS[0]!)!);
    for (const v of VARIANTS) {
      const failure = failures.get(v);
      if (failure) {
        report(`${v.label}: fails here — ${failure}`);
        continue;
      }
      const med = median(times.get(v)!);
      report(`${v.label}: median ${fmt(med, 0)} ms${v === VARIANTS[0] ? '' : ` (${med >= baseline ? '+' : ''}${fmt(med - baseline, 0)} ms vs launcher flags)`}`);
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
    rmSync(STORAGE, { recursive: true, force: true });
  }
}

function withoutOptions(options: string[], drop: string[] | undefined): string[] {
  const out: string[] = [];
  for (let i = 0; i < options.length; i++) {
    if (drop?.includes(options[i]!)) {
      if (options[i]!.startsWith('--') && !options[i]!.includes('=') && options[i + 1] !== undefined && !options[i + 1]!.startsWith('--')) i++;
      continue;
    }
    out.push(options[i]!);
  }
  return out;
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

function execFileP(file: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => execFile(file, args, (error) => (error ? reject(error) : resolve())));
}
