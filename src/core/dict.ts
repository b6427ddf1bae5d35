/**
 * Import and export in the seed's `MissionBus.to_dict()` shape.
 *
 * `events` holds only the seed's three event types, so the seed's `from_dict` loads our dumps; our
 * other events (membership, acceptance, isolation, cells) and the founding roster travel in a
 * `missionbus` key the seed ignores. Merging both lists by sequence restores the exact stream.
 */
import { InvalidInputError } from './errors.js';
import { isSeedEvent, type MissionEvent, type ParticipantDict } from './events.js';
import { MissionState, type MissionHeader } from './mission-state.js';
import { defaultProfiles, parseProfiles } from './profiles.js';
import { rosterDict } from './resume-packet.js';
import { missionDictSchema, wireEventSchema } from './schemas.js';
import { parseWith } from './validate.js';

export interface MissionDict {
  mission_id: string;
  title: string;
  config: MissionHeader['config'];
  participants: Record<string, ParticipantDict>;
  events: MissionEvent[];
  missionbus?: {
    format: 1;
    founders: Record<string, ParticipantDict>;
    extended_events: MissionEvent[];
    created_at: string;
  };
}

export interface ExportOptions {
  /**
   * The plain seed shape and nothing else: no `missionbus` extension, and the seed's three event types
   * renumbered 1..n, since the seed takes a sequence to be its position (its next publish would
   * otherwise reuse a number). Lossy by design: membership history and acceptances are left out, the
   * roster is kept. Default false.
   */
  seedOnly?: boolean;
}

export function missionToDict(state: MissionState, events: Iterable<MissionEvent>, options: ExportOptions = {}): MissionDict {
  const seedEvents: MissionEvent[] = [];
  const extended: MissionEvent[] = [];
  for (const event of events) (isSeedEvent(event) ? seedEvents : extended).push(event);
  const dict: MissionDict = {
    mission_id: state.missionId,
    title: state.header.title,
    config: state.header.config,
    participants: rosterDict(state),
    events: options.seedOnly ? seedEvents.map((event, index) => ({ ...event, sequence: index + 1 })) : seedEvents,
  };
  if (!options.seedOnly) {
    dict.missionbus = { format: 1, founders: state.header.founders, extended_events: extended, created_at: state.header.created_at };
  }
  return dict;
}

export interface ImportedMission {
  header: MissionHeader;
  events: MissionEvent[];
  state: MissionState;
}

/**
 * Validates a dump (ours or the seed's) and replays it into a fresh state, so a dangling handoff,
 * a gap in the sequences or a double accept is refused with the reason. Missing ids get fresh ones and
 * missing timestamps the import time, as the seed's `from_dict` does.
 */
export function missionFromDict(input: unknown, ctx: { now(): string; newId(): string }): ImportedMission {
  const dict = parseWith(missionDictSchema, input, 'mission dump');
  const config = dict.config === undefined || dict.config === null ? defaultProfiles() : parseProfiles(dict.config, 'mission config');
  const extension = dict.missionbus;
  const header: MissionHeader = {
    mission_id: dict.mission_id,
    title: dict.title,
    config,
    created_at: extension?.created_at ?? ctx.now(),
    founders: structuredClone(extension?.founders ?? dict.participants),
  };
  const events = [...dict.events, ...(extension?.extended_events ?? [])]
    .map((raw, index) => normalizeEvent(raw, index, ctx))
    .sort((a, b) => a.sequence - b.sequence);
  const state = new MissionState(header);
  for (const event of events) state.apply(event);
  const roster = rosterDict(state);
  for (const [name, participant] of Object.entries(dict.participants)) {
    if (roster[name]?.role !== participant.role) {
      throw new InvalidInputError(
        `participant '${name}' has role ${participant.role} in the dump but ${roster[name]?.role ?? 'no role'} after replaying its stream`,
        { participant: name },
      );
    }
  }
  return { header, events, state };
}

function normalizeEvent(raw: unknown, index: number, ctx: { now(): string; newId(): string }): MissionEvent {
  const wire = parseWith(wireEventSchema, raw, `event #${index + 1}`);
  const timestamp = wire.timestamp ?? ctx.now();
  switch (wire.event_type) {
    case 'message': {
      const { messageId, message_id, ...rest } = wire;
      return { ...rest, timestamp, message_id: message_id ?? messageId ?? ctx.newId() };
    }
    case 'checkpoint': {
      const { checkpointId, checkpoint_id, ...rest } = wire;
      return { ...rest, timestamp, checkpoint_id: checkpoint_id ?? checkpointId ?? ctx.newId() };
    }
    case 'handoff': {
      const { checkpointId, checkpoint_id, handoffId, handoff_id, ...rest } = wire;
      const checkpoint = checkpoint_id ?? checkpointId;
      if (!checkpoint) throw new InvalidInputError(`event #${index + 1}: a handoff needs checkpoint_id`);
      return { ...rest, timestamp, checkpoint_id: checkpoint, handoff_id: handoff_id ?? handoffId ?? ctx.newId() };
    }
    default:
      return { ...wire, timestamp } as MissionEvent;
  }
}
