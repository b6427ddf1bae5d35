/**
 * A cell that works on a mission: the library call behind `missionbus cell run` and `cell resume`.
 *
 * It launches the participant's command at the mission's isolation level (never below it), with the
 * participant's token and the bus address in the environment, records `cell_started` and `cell_exited`
 * in the mission stream, and — for a resume — restores the checkpoint's files into a fresh workspace
 * with the resume packet at `.missionbus/resume.json` and in `MISSIONBUS_RESUME`.
 */
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { PACKAGE_ROOT } from '../config/package-root.js';
import type { MissionClient } from '../client/client.js';
import { InvalidInputError, PermissionDeniedError } from '../core/errors.js';
import { uuidv7 } from '../core/ids.js';
import type { ResumePacket } from '../core/events.js';
import { restoreFromPacket } from '../workspace/checkpoint.js';
import { WORKSPACE_META_DIR } from '../workspace/capture.js';
import {
  CELL_PACKAGE_DIR,
  CELL_PACKAGE_ENTRIES,
  CELL_PROFILES,
  CELL_WORKSPACE,
  type CellLauncher,
  type CellLevel,
  type CellOutput,
  type CellResult,
} from './contract.js';
import { CELL_PATH } from './env.js';
import { launcherFor } from './index.js';

/** The resume packet's JSON goes into the environment only up to this size; beyond, read the file. */
const MAX_RESUME_ENV_BYTES = 96 * 1024;

export interface MissionCellOptions {
  /** A client acting as the participant (its token and mission). */
  client: MissionClient;
  command: string[];
  /** Default: the mission's configured isolation level, or 1 when none is set. Below it is refused. */
  level?: CellLevel;
  /** Default: a fresh directory under `.missionbus/cells/`. A resume needs an empty or new one. */
  workspace?: string;
  /**
   * Host path of the bus's Unix socket; levels 2 and 3 reach the bus only through it. Default: the
   * client's `unix:` URL, else `.missionbus/bus.sock` when it exists.
   */
  busSocket?: string;
  /** Resume from this handoff (the caller must be its recipient and have accepted it). */
  resumeHandoffId?: string;
  timeoutMs?: number;
  signal?: AbortSignal;
  stdout?: CellOutput;
  stderr?: CellOutput;
  /** Default: the shared launcher of the level. */
  launcher?: CellLauncher;
}

export interface MissionCellResult extends CellResult {
  cellId: string;
  level: CellLevel;
  workspace: string;
  packet?: ResumePacket;
}

export async function runMissionCell(options: MissionCellOptions): Promise<MissionCellResult> {
  const { client } = options;
  if (!client.token || !client.missionId) throw new InvalidInputError('a mission cell needs a client with a token and a mission');
  const me = await client.whoami();
  if (me.kind !== 'participant') throw new InvalidInputError('a mission cell runs as a participant, not with the admin token');
  const mission = await client.mission();
  const required = (mission.isolation_profile?.level ?? 1) as CellLevel;
  const level = options.level ?? required;
  if (level < required) {
    throw new PermissionDeniedError(
      `mission '${mission.mission_id}' is configured for ${mission.isolation_profile!.name} (level ${required}); a level ${level} cell is refused — run at level ${required} or higher`,
      { mission_id: mission.mission_id, required_level: required, level },
    );
  }
  const launcher = options.launcher ?? launcherFor(level);
  const cellId = uuidv7();
  const workspace = resolve(options.workspace ?? (await freshWorkspace()));
  await mkdir(workspace, { recursive: true });

  let packet: ResumePacket | undefined;
  const env: Record<string, string> = {
    MISSIONBUS_URL: client.url,
    MISSIONBUS_TOKEN: client.token,
    MISSIONBUS_MISSION: client.missionId,
    MISSIONBUS_CELL_ID: cellId,
    MISSIONBUS_WORKSPACE: level === 1 ? workspace : CELL_WORKSPACE,
    PATH: level === 1 ? `${join(PACKAGE_ROOT, 'bin')}:${process.env.PATH ?? CELL_PATH}` : `${CELL_PACKAGE_DIR}/bin:${CELL_PATH}`,
  };
  if (options.resumeHandoffId !== undefined) {
    packet = await prepareResume(client, me.participant, options.resumeHandoffId, workspace);
    const json = JSON.stringify(packet);
    env.MISSIONBUS_RESUME_FILE = join(level === 1 ? workspace : CELL_WORKSPACE, WORKSPACE_META_DIR, 'resume.json');
    if (Buffer.byteLength(json) <= MAX_RESUME_ENV_BYTES) env.MISSIONBUS_RESUME = json;
  }

  const busSocket = options.busSocket ?? defaultBusSocket(client.url);
  if (level >= 2 && busSocket === undefined) {
    throw new InvalidInputError(
      `a level ${level} cell has no network and reaches the bus only through its Unix socket; start the bus with one (missionbus serve --socket PATH) and connect with MISSIONBUS_URL=unix:PATH`,
    );
  }

  await client.cellStarted({ cell_id: cellId, level, profile: CELL_PROFILES[level], command: options.command });
  let result: CellResult | undefined;
  try {
    result = await launcher.run({
      level,
      workspace,
      command: options.command,
      env,
      ...(busSocket !== undefined ? { busSocket } : {}),
      readOnlyBinds: level === 1 ? [] : packageBinds(),
      ...(options.timeoutMs !== undefined ? { timeoutMs: options.timeoutMs } : {}),
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.stdout ? { stdout: options.stdout } : {}),
      ...(options.stderr ? { stderr: options.stderr } : {}),
    });
    return { ...result, cellId, level, workspace, ...(packet ? { packet } : {}) };
  } finally {
    // Recorded even when the launch failed, so the stream never shows a cell that never ended.
    await client.cellExited({
      cell_id: cellId,
      exit_code: result?.exitCode ?? null,
      signal: result?.signal ?? (result ? null : 'LAUNCH_FAILED'),
      duration_ms: result?.durationMs ?? 0,
    });
  }
}

async function prepareResume(client: MissionClient, me: string, handoffId: string, workspace: string): Promise<ResumePacket> {
  const packet = await client.resumePacket(handoffId);
  if (packet.recipient !== me) {
    throw new PermissionDeniedError(`handoff '${handoffId}' is addressed to '${packet.recipient}'; only the recipient resumes it, not '${me}'`, {
      handoff_id: handoffId,
      participant: me,
    });
  }
  if (!packet.accepted) throw new InvalidInputError(`handoff '${handoffId}' is not accepted yet; accept it first: missionbus accept ${handoffId}`);
  const entries = await readdir(workspace);
  if (entries.length > 0) throw new InvalidInputError(`workspace '${workspace}' is not empty; a resume restores into a fresh workspace`);
  await restoreFromPacket(client, packet, workspace);
  await mkdir(join(workspace, WORKSPACE_META_DIR), { recursive: true });
  await writeFile(join(workspace, WORKSPACE_META_DIR, 'resume.json'), `${JSON.stringify(packet, null, 2)}\n`);
  return packet;
}

function defaultBusSocket(url: string): string | undefined {
  if (url.startsWith('unix:')) return resolve(url.slice('unix:'.length));
  const local = resolve('.missionbus/bus.sock');
  return existsSync(local) ? local : undefined;
}

async function freshWorkspace(): Promise<string> {
  const base = resolve('.missionbus', 'cells');
  await mkdir(base, { recursive: true });
  return mkdtemp(join(base, 'cell-'));
}

/** The missionbus package's code and dependencies, read-only, so `missionbus` works inside the cell. */
function packageBinds(): Array<{ host: string; cell: string }> {
  return CELL_PACKAGE_ENTRIES.filter((entry) => existsSync(join(PACKAGE_ROOT, entry.name))).map((entry) => ({
    host: join(PACKAGE_ROOT, entry.name),
    cell: `${CELL_PACKAGE_DIR}/${entry.name}`,
  }));
}
