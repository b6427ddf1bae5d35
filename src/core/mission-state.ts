/**
 * The state of one mission, derived from its header and its stream: who is in it, which checkpoints
 * and handoffs exist, what was accepted, the configured isolation profile, the last sequence.
 *
 * It keeps indexes, not events, so it stays small for a million-event mission and every lookup the
 * rules need is O(1). `apply` is the only mutator and returns an undo, which lets a group commit roll
 * back a batch the store refused without rebuilding the state.
 */
import { ConflictError, InvalidInputError, NotFoundError } from './errors.js';
import type { MissionEvent, ParticipantDict } from './events.js';
import { RolePolicy, type IsolationProfile, type ProfilesConfig } from './profiles.js';

/** What a mission is created with; immutable afterwards. */
export interface MissionHeader {
  mission_id: string;
  title: string;
  config: ProfilesConfig;
  created_at: string;
  /** The roster the mission was created with; later members join through the stream. */
  founders: Record<string, ParticipantDict>;
}

export interface CheckpointRef {
  checkpoint_id: string;
  sequence: number;
  sender: string;
}

export interface HandoffRef {
  handoff_id: string;
  sequence: number;
  sender: string;
  recipient: string;
  checkpoint_id: string;
  note: string;
  accepted_sequence: number | null;
}

export type Undo = () => void;

export class MissionState {
  readonly policy: RolePolicy;
  readonly participants = new Map<string, ParticipantDict>();
  readonly checkpoints = new Map<string, CheckpointRef>();
  readonly handoffs = new Map<string, HandoffRef>();
  isolationProfile: IsolationProfile | null = null;
  lastSequence = 0;

  constructor(readonly header: MissionHeader) {
    this.policy = new RolePolicy(header.config);
    for (const founder of Object.values(header.founders)) this.participants.set(founder.name, founder);
  }

  get missionId(): string {
    return this.header.mission_id;
  }

  /** Adds a participant outside the stream (the seed's `register_participant`); conflicts on an existing name. */
  registerFounder(participant: ParticipantDict): void {
    const existing = this.participants.get(participant.name);
    if (existing) throw nameTaken(participant.name, existing.role, this.missionId);
    this.participants.set(participant.name, participant);
    this.header.founders[participant.name] = participant;
  }

  /**
   * Applies the next event of the stream. Throws {@link InvalidInputError} when the event does not fit
   * (wrong sequence, dangling reference, double accept) — which only happens for imported or corrupt data,
   * since live events are decided against this same state.
   */
  apply(event: MissionEvent): Undo {
    if (event.sequence !== this.lastSequence + 1) {
      throw invalid(`event sequence ${event.sequence} does not follow ${this.lastSequence}`, event);
    }
    const undoBody = this.applyBody(event);
    this.lastSequence = event.sequence;
    return () => {
      undoBody();
      this.lastSequence = event.sequence - 1;
    };
  }

  /** Skips an event that changes nothing but the sequence (a message, a cell event) without parsing it. */
  advance(sequence: number): void {
    if (sequence !== this.lastSequence + 1) {
      throw new InvalidInputError(`event sequence ${sequence} does not follow ${this.lastSequence}`, { sequence });
    }
    this.lastSequence = sequence;
  }

  private applyBody(event: MissionEvent): Undo {
    switch (event.event_type) {
      case 'message':
      case 'cell_started':
      case 'cell_exited':
        return noop;
      case 'checkpoint': {
        if (this.checkpoints.has(event.checkpoint_id)) throw invalid(`duplicate checkpoint id ${event.checkpoint_id}`, event);
        this.checkpoints.set(event.checkpoint_id, {
          checkpoint_id: event.checkpoint_id,
          sequence: event.sequence,
          sender: event.sender,
        });
        return () => this.checkpoints.delete(event.checkpoint_id);
      }
      case 'handoff': {
        if (this.handoffs.has(event.handoff_id)) throw invalid(`duplicate handoff id ${event.handoff_id}`, event);
        if (!this.checkpoints.has(event.checkpoint_id)) {
          throw invalid(`handoff ${event.handoff_id} references unknown checkpoint ${event.checkpoint_id}`, event);
        }
        this.handoffs.set(event.handoff_id, {
          handoff_id: event.handoff_id,
          sequence: event.sequence,
          sender: event.sender,
          recipient: event.recipient,
          checkpoint_id: event.checkpoint_id,
          note: event.note,
          accepted_sequence: null,
        });
        return () => this.handoffs.delete(event.handoff_id);
      }
      case 'handoff_accepted': {
        const handoff = this.handoffs.get(event.handoff_id);
        if (!handoff) throw invalid(`acceptance of unknown handoff ${event.handoff_id}`, event);
        if (handoff.accepted_sequence !== null) throw invalid(`handoff ${event.handoff_id} accepted twice`, event);
        handoff.accepted_sequence = event.sequence;
        return () => {
          handoff.accepted_sequence = null;
        };
      }
      case 'participant_joined': {
        const name = event.participant.name;
        if (this.participants.has(name)) throw invalid(`participant ${name} joined twice`, event);
        this.participants.set(name, event.participant);
        return () => this.participants.delete(name);
      }
      case 'role_changed': {
        const previous = this.participants.get(event.name);
        if (!previous) throw invalid(`role change of unknown participant ${event.name}`, event);
        this.participants.set(event.name, { ...previous, role: event.role });
        return () => this.participants.set(event.name, previous);
      }
      case 'isolation_configured': {
        const profile = this.policy.profileNamed(event.profile);
        if (!profile) throw invalid(`unknown isolation profile ${event.profile}`, event);
        const previous = this.isolationProfile;
        this.isolationProfile = profile;
        return () => {
          this.isolationProfile = previous;
        };
      }
    }
  }

  participant(name: string): ParticipantDict {
    const participant = this.participants.get(name);
    if (!participant) {
      throw new NotFoundError(`participant '${name}' is not in mission '${this.missionId}'`, {
        mission_id: this.missionId,
        participant: name,
      });
    }
    return participant;
  }

  checkpoint(checkpointId: string): CheckpointRef {
    const checkpoint = this.checkpoints.get(checkpointId);
    if (!checkpoint) {
      throw new NotFoundError(`checkpoint '${checkpointId}' does not exist in mission '${this.missionId}'`, {
        mission_id: this.missionId,
        checkpoint_id: checkpointId,
      });
    }
    return checkpoint;
  }

  handoff(handoffId: string): HandoffRef {
    const handoff = this.handoffs.get(handoffId);
    if (!handoff) {
      throw new NotFoundError(`handoff '${handoffId}' does not exist in mission '${this.missionId}'`, {
        mission_id: this.missionId,
        handoff_id: handoffId,
      });
    }
    return handoff;
  }
}

export function nameTaken(name: string, role: string, missionId: string): ConflictError {
  return new ConflictError(
    `participant '${name}' is already in mission '${missionId}' with role ${role}; use changeRole to change it`,
    { mission_id: missionId, participant: name, role },
  );
}

const noop: Undo = () => undefined;

function invalid(message: string, event: MissionEvent): InvalidInputError {
  return new InvalidInputError(message, { sequence: event.sequence, event_type: event.event_type });
}
