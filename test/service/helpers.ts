import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MissionService } from '../../src/service/mission-service.js';
import { SqliteStore } from '../../src/store/sqlite.js';
import type { LiveMission } from '../../src/service/live-mission.js';

export interface SqliteFixture {
  dir: string;
  path: string;
  service: MissionService;
  reopen(): Promise<MissionService>;
  cleanup(): Promise<void>;
}

export function sqliteFixture(): SqliteFixture {
  const dir = mkdtempSync(join(tmpdir(), 'missionbus-service-'));
  const path = join(dir, 'missionbus.db');
  const fixture: SqliteFixture = {
    dir,
    path,
    service: new MissionService({ store: new SqliteStore(path) }),
    async reopen() {
      await fixture.service.close();
      fixture.service = new MissionService({ store: new SqliteStore(path) });
      return fixture.service;
    },
    async cleanup() {
      await fixture.service.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

/** A mission with the seed's team: timmy (lead), ezra (write), bezalel (read), allegro (audit). */
export async function teamMission(service: MissionService, missionId = 'mission-883'): Promise<LiveMission> {
  const mission = await service.createMission({ mission_id: missionId, title: 'team', lead: { name: 'timmy' } });
  await mission.run('timmy', { kind: 'add_participant', name: 'ezra', role: 'write' });
  await mission.run('timmy', { kind: 'add_participant', name: 'bezalel', role: 'read' });
  await mission.run('timmy', { kind: 'add_participant', name: 'allegro', role: 'audit' });
  return mission;
}
