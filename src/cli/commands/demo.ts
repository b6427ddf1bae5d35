/**
 * `missionbus demo` (what `npm start` runs): a whole mission on a fresh embedded store, each participant a
 * separate client with its own token, printed as a readable timeline.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { MissionClient } from '../../client/client.js';
import type { MissionSubscription } from '../../client/subscription.js';
import { PermissionDeniedError } from '../../core/errors.js';
import { startServer, DEFAULT_PORT, type MissionServer } from '../../server/index.js';
import { SqliteStore } from '../../store/sqlite.js';
import { describeAudit, describeEvent } from '../output.js';

export function registerDemo(program: Command): void {
  program
    .command('demo')
    .description('run a demo mission: a lead, a writer, a reader and an auditor, over a real server')
    .option('--port <port>', 'TCP port (falls back to a free one if taken)', String(DEFAULT_PORT))
    .action(async (flags: { port: string }) => runDemo(Number(flags.port)));
}

const say = (who: string, text: string) => process.stdout.write(`${who.padEnd(9)}│ ${text}\n`);

async function listen(store: SqliteStore, socketPath: string, port: number): Promise<MissionServer> {
  try {
    return await startServer({ store, port, socketPath, closeStore: true });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EADDRINUSE') throw error;
    return startServer({ store, port: 0, socketPath, closeStore: true });
  }
}

export async function runDemo(port = DEFAULT_PORT): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'missionbus-demo-'));
  const server = await listen(new SqliteStore(join(dir, 'missionbus.db')), join(dir, 'bus.sock'), port);
  let tail: MissionSubscription | undefined;
  try {
    say('bus', `listening on ${server.url} and unix:${server.socketPath} (store: ${join(dir, 'missionbus.db')})`);
    const url = server.url!;
    const missionId = `demo-${new Date().toISOString().slice(0, 19).replace(/[:T]/g, '-')}`;

    const created = await new MissionClient({ url }).createMission({ mission_id: missionId, title: 'ship the parser fix', lead: { name: 'timmy' } });
    const lead = new MissionClient({ url, token: created.token, missionId });
    say('timmy', `created mission ${missionId} as lead`);
    const tokens: Record<string, string> = {};
    for (const [name, role] of [['ezra', 'write'], ['bezalel', 'read'], ['allegro', 'audit']] as const) {
      tokens[name] = (await lead.addParticipant(name, role)).token;
      say('timmy', `added ${name} as ${role} (own token)`);
    }
    // The writer reaches the bus over the Unix socket, as an agent in a network-less cell would.
    const writer = new MissionClient({ url: `unix:${server.socketPath}`, token: tokens.ezra!, missionId });
    const reader = new MissionClient({ url, token: tokens.bezalel!, missionId });
    const auditor = new MissionClient({ url, token: tokens.allegro!, missionId });

    // The reader tails live; its lines show up as the stream grows.
    tail = reader.subscribe({ from: 1 });
    const seen: number[] = [];
    const tailing = (async () => {
      for await (const event of tail!) {
        seen.push(event.sequence);
        say('bezalel', `tail ${describeEvent(event)}`);
      }
    })();

    for (const pct of [25, 60, 90]) {
      await writer.publish('progress', { pct, note: `parser fix ${pct}% done` });
      say('ezra', `published progress ${pct}%`);
    }
    const checkpoint = await writer.checkpoint({
      summary: 'parser fix ready for review',
      state: { branch: 'fix/parser', tests: { passed: 41, failed: 1 } },
      artifacts: ['src/parser.ts', 'test/parser.test.ts'],
    });
    say('ezra', `checkpointed ${checkpoint.checkpoint_id}`);
    const handoff = await writer.handoff('timmy', checkpoint.checkpoint_id, 'one failing test left: test/parser.test.ts:88');
    say('ezra', `handed off to timmy (${handoff.handoff_id})`);

    await lead.accept(handoff.handoff_id);
    const packet = await lead.resumePacket(handoff.handoff_id);
    say('timmy', `accepted; resuming from packet: branch=${String(packet.checkpoint.state.branch)}, note="${packet.handoff_note}", stream_length=${packet.stream_length}`);
    await lead.publish('progress', { pct: 100, note: 'fixed the last test; merged' });
    say('timmy', 'published progress 100%');

    try {
      await reader.publish('progress', { pct: 0, note: 'I should not be able to say this' });
      throw new Error('the reader was allowed to publish: role enforcement is broken');
    } catch (error) {
      if (!(error instanceof PermissionDeniedError)) throw error;
      say('bezalel', `refused: ${error.message}`);
    }

    const last = (await lead.mission()).last_sequence;
    while (seen.length < last) await new Promise((resolve) => setTimeout(resolve, 10));
    tail.close();
    await tailing;

    say('allegro', 'audit trail:');
    for (const record of (await auditor.audit({ limit: 1000 })).records) say('allegro', `  ${describeAudit(record)}`);
    say('bus', `done: ${last} events, reader saw ${seen.length} live, in order`);
  } finally {
    tail?.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}
