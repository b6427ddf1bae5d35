/** The commands of the work itself: publish, checkpoint, handoff, accept, resume, tail, audit. */
import type { Command } from 'commander';
import { addConnectionFlags, connect, type ConnectionFlags } from '../connection.js';
import { describeAudit, printEvent, printJson, type OutputFlags } from '../output.js';
import { parseObject, positiveInt } from '../parse.js';
import { checkpointWorkspace } from '../../workspace/checkpoint.js';

type Flags = ConnectionFlags & OutputFlags;

export function registerWorkCommands(program: Command): void {
  addConnectionFlags(program.command('whoami'))
    .description('who the token acts as, with its role and capabilities')
    .option('--json', 'machine-readable output')
    .action(async (flags: Flags) => {
      const me = await connect(flags, { token: true }).whoami();
      if (flags.json) return printJson(me);
      process.stdout.write(me.kind === 'admin' ? 'admin\n' : `${me.participant} (${me.role}) in ${me.mission_id}: ${me.capabilities.join(', ')}\n`);
    });

  addConnectionFlags(program.command('publish <topic>'))
    .description('publish a message to the mission stream')
    .option('--payload <json>', 'payload JSON object', '{}')
    .option('--message-id <id>', 'idempotency key: publishing it again returns the first event')
    .option('--json', 'machine-readable output')
    .action(async (topic: string, flags: Flags & { payload: string; messageId?: string }) => {
      const client = connect(flags, { token: true, mission: true });
      const event = await client.publish(topic, parseObject('--payload', flags.payload), flags.messageId ? { messageId: flags.messageId } : {});
      printEvent(event, flags);
    });

  addConnectionFlags(program.command('checkpoint'))
    .description('record a checkpoint of your state; inside a cell (or with --workspace) its files are captured too')
    .requiredOption('--summary <text>', 'what the checkpoint captures')
    .option('--state <json>', 'state JSON object', '{}')
    .option('--artifact <path...>', 'artifact paths to list in the checkpoint')
    .option('--workspace <dir>', 'capture this directory\'s files (default inside a cell: MISSIONBUS_WORKSPACE)')
    .option('--no-files', 'do not capture workspace files, even inside a cell')
    .option('--json', 'machine-readable output')
    .action(async (flags: Flags & { summary: string; state: string; artifact?: string[]; workspace?: string; files: boolean }) => {
      const client = connect(flags, { token: true, mission: true });
      const state = parseObject('--state', flags.state);
      const workspace = flags.files ? (flags.workspace ?? process.env.MISSIONBUS_WORKSPACE) : undefined;
      const event = workspace
        ? await checkpointWorkspace(client, { workspace, summary: flags.summary, state, artifacts: flags.artifact ?? [] })
        : await client.checkpoint({ summary: flags.summary, state, artifacts: flags.artifact ?? [] });
      printEvent(event, flags);
    });

  addConnectionFlags(program.command('handoff <recipient>'))
    .description('hand a checkpoint off to another participant')
    .requiredOption('--checkpoint <id>', 'the checkpoint to resume from')
    .option('--note <text>', 'a note for the recipient', '')
    .option('--json', 'machine-readable output')
    .action(async (recipient: string, flags: Flags & { checkpoint: string; note: string }) => {
      printEvent(await connect(flags, { token: true, mission: true }).handoff(recipient, flags.checkpoint, flags.note), flags);
    });

  addConnectionFlags(program.command('accept <handoff-id>'))
    .description('accept a handoff addressed to you (once)')
    .option('--json', 'machine-readable output')
    .action(async (handoffId: string, flags: Flags) => {
      printEvent(await connect(flags, { token: true, mission: true }).accept(handoffId), flags);
    });

  addConnectionFlags(program.command('resume <handoff-id>'))
    .description("print a handoff's resume packet (JSON)")
    .action(async (handoffId: string, flags: ConnectionFlags) => {
      process.stdout.write(`${JSON.stringify(await connect(flags, { token: true, mission: true }).resumePacket(handoffId), null, 2)}\n`);
    });

  addConnectionFlags(program.command('tail'))
    .description('print the mission stream from a sequence; --follow keeps streaming live events')
    .option('--from <n>', 'first sequence', '1')
    .option('-f, --follow', 'keep going with live events (reconnects by itself)')
    .option('--json', 'one JSON event per line (wire format)')
    .action(async (flags: Flags & { from: string; follow?: boolean }) => {
      const client = connect(flags, { token: true, mission: true });
      const from = positiveInt('--from', flags.from);
      if (!flags.follow) {
        for await (const event of client.allEvents(from)) printEvent(event, flags);
        return;
      }
      const subscription = client.subscribe({ from });
      const stop = () => subscription.close();
      process.once('SIGINT', stop);
      process.once('SIGTERM', stop);
      for await (const event of subscription) printEvent(event, flags);
    });

  addConnectionFlags(program.command('audit'))
    .description('print the audit log: every decision, allowed or denied (needs audit)')
    .option('--after <id>', 'start after this audit id', '0')
    .option('--json', 'one JSON record per line')
    .action(async (flags: Flags & { after: string }) => {
      const client = connect(flags, { token: true, mission: true });
      let after = positiveInt('--after', flags.after, { allowZero: true });
      for (;;) {
        const page = await client.audit({ after, limit: 1000 });
        for (const record of page.records) flags.json ? printJson(record) : process.stdout.write(`${describeAudit(record)}\n`);
        if (page.records.length < 1000) return;
        after = page.next;
      }
    });
}
