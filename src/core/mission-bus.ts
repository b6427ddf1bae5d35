/**
 * The in-process mission bus: the seed's API, camel-cased, with its gaps closed. Everything is held
 * in memory and every call is synchronous; for a durable, shared mission use `MissionService` over an
 * `EventStore`, which runs the same rules (`execute`) and the same state (`MissionState`).
 */
import { uuidv7 } from './ids.js';
import { isoNow } from './clock.js';
import { execute, authorize, deniedError, type Command, type CommandContext } from './commands.js';
import { NotFoundError, InvalidInputError } from './errors.js';
import { missionFromDict, missionToDict, type MissionDict, type ExportOptions } from './dict.js';
import {
  eventId,
  type AuditRecord,
  type CheckpointEvent,
  type HandoffAcceptedEvent,
  type HandoffEvent,
  type IsolationConfiguredEvent,
  type JsonObject,
  type MessageEvent,
  type MissionEvent,
  type ParticipantDict,
  type ParticipantJoinedEvent,
  type ResumePacket,
  type RoleChangedEvent,
} from './events.js';
import { resolveLimits, type Limits } from './limits.js';
import { MissionState } from './mission-state.js';
import { defaultProfiles, parseProfiles, type Capability, type IsolationProfile, type MissionRole, type ProfilesConfig } from './profiles.js';
import { buildResumePacket, rosterDict } from './resume-packet.js';
import { commandSchemas } from './schemas.js';
import { parseWith } from './validate.js';

export interface MissionBusOptions {
  /** Default ''. */
  title?: string;
  /** The loaded profiles (`loadProfiles`); default: the built-in profiles. */
  config?: ProfilesConfig;
  /** Size bounds on inputs; defaults in `DEFAULT_LIMITS`. */
  limits?: Partial<Limits>;
  /** Clock for event timestamps; default: the current time in ISO 8601 UTC. */
  now?: () => string;
  /** Id generator for events; default: random UUIDs. */
  newId?: () => string;
}

export interface CheckpointInput {
  summary: string;
  state: JsonObject;
  artifacts?: string[];
}

export class MissionBus {
  readonly missionId: string;
  private readonly state: MissionState;
  private readonly stream: MissionEvent[] = [];
  private readonly byId = new Map<string, MissionEvent>();
  private readonly audit: AuditRecord[] = [];
  private readonly ctx: CommandContext;

  constructor(missionId: string, options: MissionBusOptions = {}) {
    const schemas = commandSchemas(resolveLimits(options.limits));
    this.missionId = parseWith(schemas.missionId, missionId, 'mission id');
    const title = parseWith(schemas.title, options.title ?? '', 'title');
    const config = options.config ? parseProfiles(options.config) : defaultProfiles();
    const now = options.now ?? isoNow;
    this.state = new MissionState({ mission_id: this.missionId, title, config, created_at: now(), founders: {} });
    this.ctx = {
      now,
      newId: options.newId ?? uuidv7,
      schemas,
      findMessage: (id) => {
        const event = this.byId.get(id);
        return event?.event_type === 'message' ? event : undefined;
      },
    };
  }

  get title(): string {
    return this.state.header.title;
  }

  get config(): ProfilesConfig {
    return this.state.header.config;
  }

  get isolationProfiles(): IsolationProfile[] {
    return this.state.header.config.isolation_profiles;
  }

  /** The profile set by `configureIsolation`, or null. */
  get isolationProfile(): IsolationProfile | null {
    return this.state.isolationProfile;
  }

  get participants(): Record<string, ParticipantDict> {
    return rosterDict(this.state);
  }

  /** The stream, in sequence order (sequence n is at index n - 1). */
  get events(): readonly MissionEvent[] {
    return this.stream;
  }

  /** Every permission decision taken by this bus, allowed or denied, in order. */
  get auditLog(): readonly AuditRecord[] {
    return this.audit;
  }

  /**
   * Registers a participant directly, as the seed does: trusted local setup, not attributed to anyone
   * and not an event. Throws `ConflictError` if the name is taken — roles change only via `changeRole`.
   */
  registerParticipant(name: string, role: MissionRole, metadata: JsonObject = {}): ParticipantDict {
    const participant = parseWith(this.ctx.schemas.participant, { name, role, metadata }, 'participant');
    this.state.registerFounder(participant);
    return participant;
  }

  /** A lead adds a participant; recorded as a `participant_joined` event. */
  addParticipant(by: string, name: string, role: MissionRole, metadata: JsonObject = {}): ParticipantJoinedEvent {
    return this.run(by, { kind: 'add_participant', name, role, metadata }) as ParticipantJoinedEvent;
  }

  /** A lead changes a participant's role; recorded as a `role_changed` event. */
  changeRole(by: string, name: string, role: MissionRole): RoleChangedEvent {
    return this.run(by, { kind: 'change_role', name, role }) as RoleChangedEvent;
  }

  allowed(name: string, capability: Capability): boolean {
    const participant = this.state.participants.get(name);
    return participant !== undefined && this.state.policy.can(participant.role, capability);
  }

  /** Appends a message. With a `messageId` already in the stream, returns that message instead (idempotent). */
  publish(sender: string, topic: string, payload: JsonObject, options: { messageId?: string } = {}): MessageEvent {
    const command: Command = { kind: 'publish', topic, payload };
    if (options.messageId !== undefined) command.message_id = options.messageId;
    return this.run(sender, command) as MessageEvent;
  }

  createCheckpoint(sender: string, input: CheckpointInput): CheckpointEvent {
    if (typeof input !== 'object' || input === null) throw new InvalidInputError('checkpoint input must be an object');
    return this.run(sender, { kind: 'checkpoint', ...input }) as CheckpointEvent;
  }

  handoff(sender: string, recipient: string, checkpointId: string, note = ''): HandoffEvent {
    return this.run(sender, { kind: 'handoff', recipient, checkpoint_id: checkpointId, note }) as HandoffEvent;
  }

  /** The recipient accepts a handoff, once; a second accept is a `ConflictError`. */
  acceptHandoff(recipient: string, handoffId: string): HandoffAcceptedEvent {
    return this.run(recipient, { kind: 'accept', handoff_id: handoffId }) as HandoffAcceptedEvent;
  }

  /** Sets the mission's isolation profile by name; needs `configure_isolation`. */
  configureIsolation(by: string, profile: string): IsolationConfiguredEvent {
    return this.run(by, { kind: 'configure_isolation', profile }) as IsolationConfiguredEvent;
  }

  /** Runs any command as `actor`; the typed methods above are shorthands for it. */
  run(actor: string, command: Command): MissionEvent {
    const outcome = execute(this.state, actor, command, this.ctx);
    this.audit.push(outcome.audit);
    if (outcome.error) throw outcome.error;
    if (outcome.existing) return outcome.existing;
    const event = outcome.event!;
    this.state.apply(event);
    this.stream.push(event);
    this.byId.set(eventId(event), event);
    return event;
  }

  /** Records a read decision for `reader` and throws if the role lacks `read`. */
  authorizeRead(reader: string): void {
    const record = authorize(this.state, reader, 'read', null, this.ctx.now());
    this.audit.push(record);
    if (record.outcome === 'denied') throw deniedError(record);
  }

  /** Looks up any event by its id (message_id, checkpoint_id, handoff_id or event_id). */
  getEvent(id: string): MissionEvent {
    const event = this.byId.get(id);
    if (!event) throw new NotFoundError(`no event with id '${id}' in mission '${this.missionId}'`, { id });
    return event;
  }

  getCheckpoint(checkpointId: string): CheckpointEvent {
    this.state.checkpoint(checkpointId);
    return this.byId.get(checkpointId) as CheckpointEvent;
  }

  getHandoff(handoffId: string): HandoffEvent {
    this.state.handoff(handoffId);
    return this.byId.get(handoffId) as HandoffEvent;
  }

  /** Whether a handoff has been accepted. */
  isAccepted(handoffId: string): boolean {
    return this.state.handoff(handoffId).accepted_sequence !== null;
  }

  buildResumePacket(handoffId: string): ResumePacket {
    const handoff = this.state.handoff(handoffId);
    return buildResumePacket(this.state, handoffId, this.getCheckpoint(handoff.checkpoint_id));
  }

  toDict(options: ExportOptions = {}): MissionDict {
    return missionToDict(this.state, this.stream, options);
  }

  /** Loads a dump written by `toDict` or by the seed's `to_dict`, validating the whole stream. */
  static fromDict(dict: unknown, options: Omit<MissionBusOptions, 'title' | 'config'> = {}): MissionBus {
    const now = options.now ?? isoNow;
    const newId = options.newId ?? uuidv7;
    const imported = missionFromDict(dict, { now, newId });
    const bus = new MissionBus(imported.header.mission_id, { ...options, title: imported.header.title, config: imported.header.config });
    Object.assign(bus.state.header, { created_at: imported.header.created_at, founders: imported.header.founders });
    for (const founder of Object.values(imported.header.founders)) bus.state.participants.set(founder.name, founder);
    for (const event of imported.events) {
      bus.state.apply(event);
      bus.stream.push(event);
      bus.byId.set(eventId(event), event);
    }
    return bus;
  }
}
