/**
 * The rules of a mission: given the state and a command from an actor, decide. Pure: no I/O, no clock
 * or randomness of its own (both come from the {@link CommandContext}).
 *
 * `execute` never throws. It returns exactly one audit record for the permission decision, and either
 * the event to append, an existing event (idempotent publish), or the typed error to throw. That shape
 * makes "every decision lands in the audit log" structural rather than a convention.
 */
import { ConflictError, InvalidInputError, MissionBusError, PermissionDeniedError } from './errors.js';
import type { AuditRecord, JsonObject, MessageEvent, MissionEvent, ArtifactFile } from './events.js';
import type { MissionState } from './mission-state.js';
import { nameTaken } from './mission-state.js';
import type { Capability, MissionRole } from './profiles.js';
import type { CommandSchemas } from './schemas.js';
import { parseWith } from './validate.js';

export type Command =
  | { kind: 'publish'; topic: string; payload: JsonObject; message_id?: string }
  | { kind: 'checkpoint'; summary: string; state: JsonObject; artifacts?: string[]; files?: ArtifactFile[] }
  | { kind: 'handoff'; recipient: string; checkpoint_id: string; note?: string }
  | { kind: 'accept'; handoff_id: string }
  | { kind: 'add_participant'; name: string; role: MissionRole; metadata?: JsonObject }
  | { kind: 'change_role'; name: string; role: MissionRole }
  | { kind: 'configure_isolation'; profile: string }
  | { kind: 'cell_started'; cell_id: string; level: number; profile: string; command: string[] }
  | { kind: 'cell_exited'; cell_id: string; exit_code: number | null; signal: string | null; duration_ms: number };

/** Actions the audit log records; reads are decisions too. */
export type Action = AuditRecord['action'];

export interface CommandContext {
  now(): string;
  newId(): string;
  schemas: CommandSchemas;
  /** Finds an already appended message by id, for idempotent publish. */
  findMessage(messageId: string): MessageEvent | undefined;
  /** Whether a checkpoint file's content is stored for this mission; without it, files are not checked. */
  isBlobStored?(sha256: string): boolean;
}

export interface Outcome {
  audit: AuditRecord;
  event?: MissionEvent;
  /** Set when an idempotent publish found its message already in the stream. */
  existing?: MessageEvent;
  error?: MissionBusError;
}

const ACTION_OF: Record<Command['kind'], Action> = {
  publish: 'publish',
  checkpoint: 'checkpoint',
  handoff: 'handoff',
  accept: 'accept',
  add_participant: 'manage_members',
  change_role: 'manage_members',
  configure_isolation: 'configure_isolation',
  cell_started: 'publish',
  cell_exited: 'publish',
};

/**
 * Decides whether `actor` may take `action`. Membership is managed by leads (the profiles file has no
 * capability for it); accepting a handoff needs the ability to continue the work (`checkpoint`).
 */
export function authorize(state: MissionState, actor: string, action: Action, target: string | null, now: string): AuditRecord {
  const participant = state.participants.get(actor);
  const record: AuditRecord = {
    mission_id: state.missionId,
    participant: actor,
    role: participant?.role ?? null,
    action,
    outcome: 'allowed',
    reason: null,
    target,
    timestamp: now,
  };
  if (!participant) {
    return { ...record, outcome: 'denied', reason: `'${actor}' is not a participant of mission '${state.missionId}'` };
  }
  const needed: Capability | null = action === 'manage_members' ? null : action === 'accept' ? 'checkpoint' : action;
  const allowed = needed === null ? participant.role === 'lead' : state.policy.can(participant.role, needed);
  if (!allowed) {
    const what = needed === null ? 'managing members needs role lead' : `lacks '${needed}'`;
    return {
      ...record,
      outcome: 'denied',
      reason: `participant '${actor}' (role ${participant.role}) ${needed === null ? 'may not manage members: ' + what : what}`,
    };
  }
  return record;
}

/** The error a denied audit record stands for. */
export function deniedError(audit: AuditRecord): PermissionDeniedError {
  return new PermissionDeniedError(audit.reason ?? 'permission denied', {
    mission_id: audit.mission_id,
    participant: audit.participant,
    role: audit.role,
    action: audit.action,
    capability: audit.action === 'accept' ? 'checkpoint' : audit.action,
  });
}

export function execute(state: MissionState, actor: string, command: Command, ctx: CommandContext): Outcome {
  const now = ctx.now();
  const audit = authorize(state, actor, ACTION_OF[command.kind], targetOf(command), now);
  if (audit.outcome === 'denied') return { audit, error: deniedError(audit) };
  try {
    const decided = decide(state, actor, command, ctx, now);
    return 'existing' in decided ? { audit, existing: decided.existing } : { audit, event: decided };
  } catch (error) {
    if (!(error instanceof MissionBusError)) throw error;
    return { audit: { ...audit, reason: error.message }, error };
  }
}

function targetOf(command: Command): string | null {
  switch (command.kind) {
    case 'publish':
      return typeof command.topic === 'string' ? command.topic : null;
    case 'handoff':
      return typeof command.recipient === 'string' ? command.recipient : null;
    case 'accept':
      return typeof command.handoff_id === 'string' ? command.handoff_id : null;
    case 'add_participant':
    case 'change_role':
      return typeof command.name === 'string' ? command.name : null;
    case 'configure_isolation':
      return typeof command.profile === 'string' ? command.profile : null;
    case 'cell_started':
    case 'cell_exited':
      return typeof command.cell_id === 'string' ? command.cell_id : null;
    case 'checkpoint':
      return null;
  }
}

type Decided = MissionEvent | { existing: MessageEvent };

function decide(state: MissionState, actor: string, command: Command, ctx: CommandContext, now: string): Decided {
  const { schemas } = ctx;
  const base = { sender: actor, sequence: state.lastSequence + 1, timestamp: now };
  const { kind, ...input } = command;
  switch (kind) {
    case 'publish': {
      const { topic, payload, message_id } = parseWith(schemas.publish, input, 'publish');
      if (message_id !== undefined) {
        const existing = ctx.findMessage(message_id);
        if (existing) {
          if (existing.sender !== actor) {
            throw new ConflictError(`message_id '${message_id}' was already used by '${existing.sender}'`, {
              mission_id: state.missionId,
              message_id,
            });
          }
          return { existing };
        }
      }
      return { event_type: 'message', ...base, topic, payload, message_id: message_id ?? ctx.newId() };
    }
    case 'checkpoint': {
      const { summary, state: body, artifacts, files } = parseWith(schemas.checkpoint, input, 'checkpoint');
      const unstored = ctx.isBlobStored ? (files ?? []).filter((file) => !ctx.isBlobStored!(file.sha256)) : [];
      if (unstored.length > 0) {
        throw new InvalidInputError(
          `checkpoint file '${unstored[0]!.path}' refers to content ${unstored[0]!.sha256} that was not uploaded to mission '${state.missionId}'` +
            `${unstored.length > 1 ? ` (and ${unstored.length - 1} more)` : ''}; upload each file's bytes first (PUT …/blobs/<sha256>)`,
          { mission_id: state.missionId, missing: unstored.map((file) => file.sha256) },
        );
      }
      return {
        event_type: 'checkpoint',
        ...base,
        summary,
        state: body,
        artifacts,
        ...(files ? { files } : {}),
        checkpoint_id: ctx.newId(),
      };
    }
    case 'handoff': {
      const { recipient, checkpoint_id, note } = parseWith(schemas.handoff, input, 'handoff');
      const target = state.participant(recipient);
      if (!state.policy.can(target.role, 'checkpoint')) {
        throw new InvalidInputError(
          `cannot hand off to '${recipient}' (role ${target.role}): a recipient must be able to continue the work ('checkpoint')`,
          { mission_id: state.missionId, recipient, role: target.role },
        );
      }
      state.checkpoint(checkpoint_id);
      return { event_type: 'handoff', ...base, recipient, checkpoint_id, note, handoff_id: ctx.newId() };
    }
    case 'accept': {
      const { handoff_id } = parseWith(schemas.accept, input, 'accept');
      const handoff = state.handoff(handoff_id);
      if (handoff.recipient !== actor) {
        throw new PermissionDeniedError(
          `handoff '${handoff_id}' is addressed to '${handoff.recipient}'; only the recipient may accept it, not '${actor}'`,
          { mission_id: state.missionId, participant: actor, handoff_id },
        );
      }
      if (handoff.accepted_sequence !== null) {
        throw new ConflictError(`handoff '${handoff_id}' was already accepted (event ${handoff.accepted_sequence})`, {
          mission_id: state.missionId,
          handoff_id,
          accepted_sequence: handoff.accepted_sequence,
        });
      }
      return { event_type: 'handoff_accepted', ...base, handoff_id, checkpoint_id: handoff.checkpoint_id, event_id: ctx.newId() };
    }
    case 'add_participant': {
      const participant = parseWith(schemas.participant, input, 'participant');
      const existing = state.participants.get(participant.name);
      if (existing) throw nameTaken(participant.name, existing.role, state.missionId);
      return { event_type: 'participant_joined', ...base, participant, event_id: ctx.newId() };
    }
    case 'change_role': {
      const { name, role } = parseWith(schemas.changeRole, input, 'role change');
      const previous = state.participant(name);
      if (previous.role === role) {
        throw new ConflictError(`participant '${name}' already has role ${role}`, { mission_id: state.missionId, participant: name, role });
      }
      return { event_type: 'role_changed', ...base, name, previous_role: previous.role, role, event_id: ctx.newId() };
    }
    case 'configure_isolation': {
      const { profile } = parseWith(schemas.configureIsolation, input, 'isolation profile');
      const found = state.policy.profileNamed(profile);
      if (!found) {
        const known = state.header.config.isolation_profiles.map((p) => p.name).join(', ');
        throw new InvalidInputError(`unknown isolation profile '${profile}'; known profiles: ${known}`, { profile });
      }
      return { event_type: 'isolation_configured', ...base, profile, level: found.level, event_id: ctx.newId() };
    }
    case 'cell_started': {
      const cell = parseWith(schemas.cellStarted, input, 'cell start');
      return { event_type: 'cell_started', ...base, ...cell, event_id: ctx.newId() };
    }
    case 'cell_exited': {
      const cell = parseWith(schemas.cellExited, input, 'cell exit');
      return { event_type: 'cell_exited', ...base, ...cell, event_id: ctx.newId() };
    }
  }
}
