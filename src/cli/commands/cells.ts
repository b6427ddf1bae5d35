/** Isolation cells from the command line: run, resume, setup, and the doctor. */
import type { Command } from 'commander';
import { cellAvailability, setupCells, type CellLevel } from '../../cells/index.js';
import { runMissionCell, type MissionCellResult } from '../../cells/mission-cell.js';
import { InvalidInputError } from '../../core/errors.js';
import { addConnectionFlags, connect, type ConnectionFlags } from '../connection.js';
import { printJson } from '../output.js';
import { positiveInt } from '../parse.js';
import { storeAvailability } from '../store-availability.js';

interface CellFlags extends ConnectionFlags {
  level?: string;
  workspace?: string;
  timeout?: string;
  socket?: string;
}

export function registerCellCommands(program: Command): void {
  const cell = program.command('cell').description('run agents in isolation cells (level 1 directory, 2 bubblewrap, 3 rootless podman)');

  cellFlags(addConnectionFlags(cell.command('run')))
    .description('run a command in a fresh cell: missionbus cell run --level 2 -- CMD ARGS...')
    .argument('<command...>', 'the command and its arguments (after --)')
    .action(async (command: string[], flags: CellFlags) => {
      process.exitCode = exitCodeOf(await launch(command, flags));
    });

  cellFlags(addConnectionFlags(cell.command('resume <handoff-id>')))
    .description("resume an accepted handoff in a fresh cell: the checkpoint's files restored, the packet in .missionbus/resume.json and MISSIONBUS_RESUME")
    .argument('<command...>', 'the command and its arguments (after --)')
    .action(async (handoffId: string, command: string[], flags: CellFlags) => {
      process.exitCode = exitCodeOf(await launch(command, flags, handoffId));
    });

  cell
    .command('setup')
    .description('prepare this host for level 3 (run as root): the unprivileged cell user, subuid/subgid, the rootfs')
    .action(async () => {
      const report = await setupCells();
      process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
    });

  program
    .command('doctor')
    .description('what this host can run: each cell level and each store, available or not, why, and how to fix it')
    .option('--postgres <url>', 'PostgreSQL to check (env MISSIONBUS_POSTGRES_URL)', process.env.MISSIONBUS_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/test')
    .option('--json', 'machine-readable output')
    .action(async (flags: { postgres: string; json?: boolean }) => {
      const [cells, stores] = await Promise.all([cellAvailability(), storeAvailability(flags.postgres)]);
      if (flags.json) return printJson({ cells, stores });
      for (const c of cells) {
        process.stdout.write(`cell level ${c.level} ${c.name.padEnd(24)} ${c.available ? 'available' : `NOT available: ${c.reason}${c.fix ? ` — fix: ${c.fix}` : ''}`}\n`);
        for (const note of c.notes ?? []) process.stdout.write(`    note: ${note}\n`);
      }
      for (const s of stores) {
        process.stdout.write(`store ${s.name.padEnd(31)} ${s.available ? 'available' : `NOT available: ${s.reason}${s.fix ? ` — fix: ${s.fix}` : ''}`}\n`);
      }
    });
}

function cellFlags(command: Command): Command {
  return command
    .option('--level <n>', "isolation level 1, 2 or 3 (default: the mission's configured level, else 1)")
    .option('--workspace <dir>', 'workspace directory (default: a fresh one under .missionbus/cells/)')
    .option('--timeout <seconds>', 'kill the whole cell after this many seconds')
    .option('--socket <path>', "the bus's Unix socket (levels 2 and 3 reach the bus only through it)");
}

async function launch(command: string[], flags: CellFlags, resumeHandoffId?: string): Promise<MissionCellResult> {
  if (command.length === 0) throw new InvalidInputError('no command: put it after --, e.g. missionbus cell run --level 2 -- node agent.js');
  const level = flags.level === undefined ? undefined : positiveInt('--level', flags.level);
  if (level !== undefined && ![1, 2, 3].includes(level)) throw new InvalidInputError(`--level must be 1, 2 or 3, not ${level}`);
  const abort = new AbortController();
  const stop = () => abort.abort();
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
  try {
    const result = await runMissionCell({
      client: connect(flags, { token: true, mission: true }),
      command,
      ...(level !== undefined ? { level: level as CellLevel } : {}),
      ...(flags.workspace ? { workspace: flags.workspace } : {}),
      ...(flags.timeout ? { timeoutMs: positiveInt('--timeout', flags.timeout) * 1000 } : {}),
      ...(flags.socket ? { busSocket: flags.socket } : {}),
      ...(resumeHandoffId ? { resumeHandoffId } : {}),
      signal: abort.signal,
    });
    const how = result.timedOut ? 'timed out' : result.aborted ? 'interrupted' : result.signal ? `killed by ${result.signal}` : `exit ${result.exitCode}`;
    process.stderr.write(`missionbus: cell ${result.cellId} (level ${result.level}, workspace ${result.workspace}) ended: ${how} after ${Math.round(result.durationMs)} ms\n`);
    return result;
  } finally {
    process.off('SIGINT', stop);
    process.off('SIGTERM', stop);
  }
}

function exitCodeOf(result: MissionCellResult): number {
  if (result.exitCode !== null) return result.exitCode;
  return result.timedOut ? 124 : 128 + (result.signal ? signalNumber(result.signal) : 1);
}

function signalNumber(signal: string): number {
  const numbers: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGKILL: 9, SIGTERM: 15 };
  return numbers[signal] ?? 1;
}
