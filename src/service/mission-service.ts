/**
 * Durable missions over any `EventStore`: creates, imports and opens missions and keeps each open one
 * live (`LiveMission`) in this process. The server, the CLI and embedding programs all go through it.
 */
import { uuidv7 } from '../core/ids.js';
import { isoNow } from '../core/clock.js';
import { missionFromDict } from '../core/dict.js';
import { NotFoundError } from '../core/errors.js';
import type { JsonObject, MissionEvent } from '../core/events.js';
import { resolveLimits, type Limits } from '../core/limits.js';
import { MissionState, type MissionHeader } from '../core/mission-state.js';
import { defaultProfiles, parseProfiles, type ProfilesConfig } from '../core/profiles.js';
import { commandSchemas, type CommandSchemas } from '../core/schemas.js';
import { parseWith } from '../core/validate.js';
import { eventId } from '../core/events.js';
import type { Credential, EventStore, MissionSummary } from '../store/contract.js';
import { LiveMission, applyStoredEvent, type MissionContext } from './live-mission.js';

export interface MissionServiceOptions {
  store: EventStore;
  /** Size bounds on inputs; defaults in `DEFAULT_LIMITS`. */
  limits?: Partial<Limits>;
  now?: () => string;
  newId?: () => string;
}

export interface CreateMissionInput {
  mission_id: string;
  title?: string;
  /** Profiles (the seed's file shape); default: the built-in profiles. */
  config?: unknown;
  /** The founding lead. */
  lead: { name: string; metadata?: JsonObject };
  /** The lead's credential, stored with the mission. */
  credentials?: Credential[];
}

export class MissionService {
  readonly store: EventStore;
  readonly schemas: CommandSchemas;
  private readonly ctx: MissionContext;
  private readonly live = new Map<string, Promise<LiveMission>>();
  private readonly stopWatching: () => void;

  constructor(options: MissionServiceOptions) {
    this.store = options.store;
    this.schemas = commandSchemas(resolveLimits(options.limits));
    this.ctx = {
      store: options.store,
      schemas: this.schemas,
      now: options.now ?? isoNow,
      newId: options.newId ?? uuidv7,
    };
    // Appends made by other processes on a shared store: fold them into the open mission.
    this.stopWatching = this.store.onAppend((missionId, lastSequence) => {
      const open = this.live.get(missionId);
      void open?.then((mission) => mission.requestCatchUp(lastSequence), () => undefined);
    });
  }

  async createMission(input: CreateMissionInput): Promise<LiveMission> {
    const missionId = parseWith(this.schemas.missionId, input.mission_id, 'mission id');
    const title = parseWith(this.schemas.title, input.title ?? '', 'title');
    const config: ProfilesConfig = input.config === undefined ? defaultProfiles() : parseProfiles(input.config);
    const lead = parseWith(this.schemas.participant, { name: input.lead?.name, role: 'lead', metadata: input.lead?.metadata ?? {} }, 'lead');
    const header: MissionHeader = { mission_id: missionId, title, config, created_at: this.ctx.now(), founders: { [lead.name]: lead } };
    await this.store.createMission({ header, credentials: input.credentials ?? [] });
    return this.open(missionId);
  }

  /** Imports a dump (ours or the seed's `to_dict`) as a new mission, validating the whole stream first. */
  async importMission(dict: unknown, credentials: Credential[] = []): Promise<LiveMission> {
    const { header, events } = missionFromDict(dict, this.ctx);
    await this.store.createMission({
      header,
      credentials,
      events: events.map((event: MissionEvent) => ({
        sequence: event.sequence,
        event_type: event.event_type,
        event_id: eventId(event),
        body: JSON.stringify(event),
      })),
    });
    return this.open(header.mission_id);
  }

  /** The live mission, loading its state from the store on first use. `NotFoundError` if absent. */
  open(missionId: string): Promise<LiveMission> {
    let mission = this.live.get(missionId);
    if (!mission) {
      mission = this.load(missionId);
      this.live.set(missionId, mission);
      mission.catch(() => this.live.delete(missionId));
    }
    return mission;
  }

  listMissions(): Promise<MissionSummary[]> {
    return this.store.listMissions();
  }

  /** Waits for every open mission's queued commands to be committed or refused. */
  async drain(): Promise<void> {
    for (const mission of this.live.values()) await (await mission.catch(() => undefined))?.idle();
  }

  /** Drains, stops watching the store and closes it. */
  async close(): Promise<void> {
    await this.drain();
    this.stopWatching();
    await this.store.close();
  }

  private async load(missionId: string): Promise<LiveMission> {
    const record = await this.store.getMission(missionId);
    if (!record) throw new NotFoundError(`mission '${missionId}' does not exist`, { mission_id: missionId });
    const state = new MissionState(record.header);
    for await (const stored of this.store.iterateEvents(missionId, 1, 5000)) applyStoredEvent(state, stored);
    return new LiveMission(state, this.ctx);
  }
}
