/**
 * The `missionbus` command line: thin commands over the client, the server and the cells.
 * Typed errors become one readable line on stderr and an exit code per kind.
 */
import { Command, CommanderError } from 'commander';
import { MissionBusError, type ErrorCode } from '../core/errors.js';
import { registerCellCommands } from './commands/cells.js';
import { registerDemo } from './commands/demo.js';
import { registerMissionCommands } from './commands/missions.js';
import { registerServe } from './commands/serve.js';
import { registerWorkCommands } from './commands/work.js';

const EXIT_CODES: Record<ErrorCode, number> = {
  invalid_input: 2,
  permission_denied: 3,
  not_found: 4,
  conflict: 5,
  unavailable: 6,
};

export function buildProgram(): Command {
  const program = new Command('missionbus')
    .description('a durable, ordered mission bus for teams of AI agents and people')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerServe(program);
  registerMissionCommands(program);
  registerWorkCommands(program);
  registerCellCommands(program);
  registerDemo(program);
  return program;
}

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    if (error instanceof MissionBusError) {
      process.stderr.write(`missionbus: ${error.message}\n`);
      return EXIT_CODES[error.code];
    }
    if ((error as NodeJS.ErrnoException)?.code === 'ECONNREFUSED' || (error as NodeJS.ErrnoException)?.code === 'ENOENT') {
      process.stderr.write(`missionbus: cannot reach the bus (${(error as Error).message}); start one with \`missionbus serve\` or set MISSIONBUS_URL\n`);
      return EXIT_CODES.unavailable;
    }
    process.stderr.write(`missionbus: ${(error as Error)?.stack ?? String(error)}\n`);
    return 1;
  }
}

const invokedDirectly = process.argv[1] && import.meta.url === new URL(`file://${process.argv[1]}`).href;
if (invokedDirectly) {
  const code = await main(process.argv.slice(2));
  // serve keeps running until a signal; every other command ends here.
  if (code !== 0 || !process.argv.slice(2).includes('serve')) process.exitCode = code;
}
