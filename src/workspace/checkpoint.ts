/**
 * Checkpoint a workspace through the bus: capture its files, upload each distinct content once, then
 * record the checkpoint with the files (path, size, sha256) alongside the state — and restore it again.
 */
import type { MissionClient } from '../client/client.js';
import type { CheckpointEvent, JsonObject, ResumePacket } from '../core/events.js';
import { captureWorkspace, type CaptureLimits } from './capture.js';
import { restoreWorkspace } from './restore.js';

export interface WorkspaceCheckpointInput {
  workspace: string;
  summary: string;
  state?: JsonObject;
  /** Extra artifact paths to list besides the captured files. */
  artifacts?: string[];
  limits?: Partial<CaptureLimits>;
}

export async function checkpointWorkspace(client: MissionClient, input: WorkspaceCheckpointInput): Promise<CheckpointEvent> {
  const files = await captureWorkspace(input.workspace, input.limits);
  const uploaded = new Set<string>();
  for (const file of files) {
    if (uploaded.has(file.sha256)) continue;
    await client.putBlob(file.bytes);
    uploaded.add(file.sha256);
  }
  return client.checkpoint({
    summary: input.summary,
    state: input.state ?? {},
    artifacts: [...new Set([...(input.artifacts ?? []), ...files.map((file) => file.path)])],
    files: files.map(({ path, size, sha256 }) => ({ path, size, sha256 })),
  });
}

/** Restores a resume packet's checkpointed files into `workspace`, fetching each blob from the bus. */
export async function restoreFromPacket(client: MissionClient, packet: ResumePacket, workspace: string): Promise<number> {
  const files = packet.checkpoint.files ?? [];
  await restoreWorkspace(workspace, files, (sha256) => client.getBlob(sha256));
  return files.length;
}
