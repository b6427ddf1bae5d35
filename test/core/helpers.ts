import { MissionBus } from '../../src/core/mission-bus.js';
import { loadProfiles, DEFAULT_PROFILES_PATH } from '../../src/config/load-profiles.js';

/** The seed's test team: a lead, a writer, a reader and an auditor. */
export function buildTeamBus(): MissionBus {
  const bus = new MissionBus('mission-883', { title: 'multi-agent teaming', config: loadProfiles(DEFAULT_PROFILES_PATH) });
  bus.registerParticipant('timmy', 'lead');
  bus.registerParticipant('ezra', 'write');
  bus.registerParticipant('bezalel', 'read');
  bus.registerParticipant('allegro', 'audit');
  return bus;
}
