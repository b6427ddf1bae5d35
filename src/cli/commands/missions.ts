import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { loadProfiles } from '../../config/load-profiles.js';
import { InvalidInputError } from '../../core/errors.js';
import { addConnectionFlags, connect, type ConnectionFlags } from '../connection.js';
import { printJson, type OutputFlags } from '../output.js';
import { parseObject, role } from '../parse.js';

type Flags = ConnectionFlags & OutputFlags;

export function registerMissionCommands(program: Command): void {
  const mission = program.command('mission').description('create and inspect missions');

  addConnectionFlags(mission.command('create <id>'))
    .description('create a mission; prints the lead token (shown once)')
    .option('--title <title>', 'mission title', '')
    .option('--lead <name>', 'name of the founding lead', 'lead')
    .option('--profiles <file>', 'profiles JSON (roles and isolation profiles, the seed shape)')
    .option('--admin-token <token>', 'admin token, when the bus is reachable beyond loopback (env MISSIONBUS_ADMIN_TOKEN)')
    .option('--json', 'machine-readable output')
    .action(async (id: string, flags: Flags & { title: string; lead: string; profiles?: string; adminToken?: string }) => {
      const adminToken = flags.adminToken ?? process.env.MISSIONBUS_ADMIN_TOKEN;
      const client = connect({ ...flags, ...(adminToken ? { token: adminToken } : { token: undefined }) });
      const created = await client.createMission({
        mission_id: id,
        title: flags.title,
        lead: { name: flags.lead },
        ...(flags.profiles ? { config: loadProfiles(flags.profiles) } : {}),
      });
      if (flags.json) return printJson(created);
      process.stdout.write(
        `mission '${id}' created; ${flags.lead} is its lead.\n` +
          `lead token (shown once, store it now):\n  export MISSIONBUS_MISSION=${id}\n  export MISSIONBUS_TOKEN=${created.token}\n`,
      );
    });

  addConnectionFlags(mission.command('show'))
    .description('the mission: participants, isolation profile, last sequence')
    .option('--json', 'machine-readable output')
    .action(async (flags: Flags) => {
      const view = await connect(flags, { token: true, mission: true }).mission();
      if (flags.json) return printJson(view);
      process.stdout.write(`${view.mission_id} "${view.title}" — ${view.last_sequence} events, isolation: ${view.isolation_profile?.name ?? 'none set'}\n`);
      for (const p of Object.values(view.participants)) process.stdout.write(`  ${p.name.padEnd(16)} ${p.role}\n`);
    });

  addConnectionFlags(mission.command('isolation <profile>'))
    .description("set the mission's isolation profile (needs configure_isolation)")
    .option('--json', 'machine-readable output')
    .action(async (profile: string, flags: Flags) => {
      const event = await connect(flags, { token: true, mission: true }).configureIsolation(profile);
      if (flags.json) return printJson(event);
      process.stdout.write(`isolation profile set to ${event.profile} (level ${event.level})\n`);
    });

  const participant = program.command('participant').description('manage participants (leads only)');
  addConnectionFlags(participant.command('add <name>'))
    .description("add a participant; prints its token (shown once)")
    .requiredOption('--role <role>', 'lead, write, read or audit')
    .option('--metadata <json>', 'metadata JSON object')
    .option('--json', 'machine-readable output')
    .action(async (name: string, flags: Flags & { role: string; metadata?: string }) => {
      const metadata = flags.metadata === undefined ? undefined : parseObject('--metadata', flags.metadata);
      const added = await connect(flags, { token: true, mission: true }).addParticipant(name, role(flags.role), metadata);
      if (flags.json) return printJson(added);
      process.stdout.write(`${name} joined as ${flags.role} (event #${added.event.sequence}); token (shown once):\n  ${added.token}\n`);
    });
  addConnectionFlags(participant.command('role <name> <role>'))
    .description("change a participant's role")
    .option('--json', 'machine-readable output')
    .action(async (name: string, newRole: string, flags: Flags) => {
      const event = await connect(flags, { token: true, mission: true }).changeRole(name, role(newRole));
      if (flags.json) return printJson(event);
      process.stdout.write(`${name}: ${event.previous_role} → ${event.role} (event #${event.sequence})\n`);
    });

  addConnectionFlags(program.command('export'))
    .description("export the mission as JSON (the seed's to_dict shape)")
    .option('--format <format>', "seed (only the seed's keys) or full (with missionbus's extension)", 'full')
    .option('--out <file>', 'write to a file instead of stdout')
    .action(async (flags: Flags & { format: string; out?: string }) => {
      if (flags.format !== 'seed' && flags.format !== 'full') throw new InvalidInputError(`--format must be seed or full, not '${flags.format}'`);
      const dump = await connect(flags, { token: true, mission: true }).export({ format: flags.format });
      const text = `${JSON.stringify(dump, null, 2)}\n`;
      if (flags.out) writeFileSync(flags.out, text);
      else process.stdout.write(text);
    });

  addConnectionFlags(program.command('import <file>'))
    .description("import a mission dump (ours or the seed's to_dict JSON); prints every participant's new token")
    .option('--admin-token <token>', 'admin token, when the bus is reachable beyond loopback (env MISSIONBUS_ADMIN_TOKEN)')
    .option('--json', 'machine-readable output')
    .action(async (file: string, flags: Flags & { adminToken?: string }) => {
      let dump: unknown;
      try {
        dump = JSON.parse(readFileSync(file, 'utf8'));
      } catch (error) {
        throw new InvalidInputError(`cannot read '${file}' as JSON: ${(error as Error).message}`);
      }
      const adminToken = flags.adminToken ?? process.env.MISSIONBUS_ADMIN_TOKEN;
      const reply = await connect({ ...flags, token: adminToken }).import(dump);
      if (flags.json) return printJson(reply);
      process.stdout.write(`imported mission '${reply.mission.mission_id}' with ${reply.mission.last_sequence} events; tokens (shown once):\n`);
      for (const [name, token] of Object.entries(reply.tokens)) process.stdout.write(`  ${name.padEnd(16)} ${token}\n`);
    });
}
