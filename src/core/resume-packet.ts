import { InvalidInputError } from './errors.js';
import type { CheckpointEvent, ParticipantDict, ResumePacket } from './events.js';
import type { MissionState } from './mission-state.js';

/**
 * Builds the packet a handoff's recipient resumes from. Costs two map lookups plus the copy of the
 * roster, whatever the length of the stream: the checkpoint event is fetched by the caller by id.
 */
export function buildResumePacket(state: MissionState, handoffId: string, checkpoint: CheckpointEvent): ResumePacket {
  const handoff = state.handoff(handoffId);
  if (checkpoint.checkpoint_id !== handoff.checkpoint_id) {
    throw new InvalidInputError(`checkpoint ${checkpoint.checkpoint_id} is not the one handoff ${handoffId} refers to`);
  }
  return {
    mission_id: state.missionId,
    title: state.header.title,
    recipient: handoff.recipient,
    sender: handoff.sender,
    handoff_note: handoff.note,
    handoff_id: handoff.handoff_id,
    accepted: handoff.accepted_sequence !== null,
    checkpoint,
    participants: rosterDict(state),
    isolation_profiles: state.header.config.isolation_profiles,
    stream_length: state.lastSequence,
  };
}

export function rosterDict(state: MissionState): Record<string, ParticipantDict> {
  return Object.fromEntries(state.participants);
}
