import type { Command } from 'commander';
import { startServer, closeOnSignals, DEFAULT_HOST, DEFAULT_PORT, DEFAULT_SOCKET_PATH, DEFAULT_STREAM_OPTIONS } from '../../server/index.js';
import { groupId } from '../../server/server.js';
import { CELL_USER } from '../../cells/level3-podman.js';
import { DEFAULT_SQLITE_PATH } from '../../store/sqlite.js';
import { openStore } from '../open-store.js';
import { fraction, positiveInt } from '../parse.js';

interface ServeFlags {
  host: string;
  port: string;
  socket: string | false;
  socketGroup?: string;
  tcp: boolean;
  store: string;
  bodyLimit: string;
  subscriberBuffer: string;
  sendShare: string;
  logLevel: string;
}

export function registerServe(program: Command): void {
  program
    .command('serve')
    .description('run the bus: HTTP + WebSocket/SSE on TCP and on a Unix socket')
    .option('--host <host>', 'TCP host; beyond loopback, creating missions needs the admin token', DEFAULT_HOST)
    .option('--port <port>', 'TCP port (0 picks a free one)', String(DEFAULT_PORT))
    .option('--socket <path>', 'Unix socket path', DEFAULT_SOCKET_PATH)
    .option('--no-socket', 'do not listen on a Unix socket')
    .option('--socket-group <group>', "group that may also connect to the socket (default: 'missionbus' when cells are set up, so level 3 cells reach the bus)")
    .option('--no-tcp', 'do not listen on TCP (Unix socket only)')
    .option('--store <spec>', "SQLite file, 'memory', or postgres://…", DEFAULT_SQLITE_PATH)
    .option('--body-limit <bytes>', 'largest JSON request body', String(1024 * 1024))
    .option('--subscriber-buffer <bytes>', 'bytes a subscriber may leave unread before it is cut off (it resumes by itself)', String(DEFAULT_STREAM_OPTIONS.highWaterMark))
    .option('--send-share <fraction>', 'largest share of the event loop that writing to subscribers may take; lower gathers more events per write', String(DEFAULT_STREAM_OPTIONS.sendShare))
    .option('--log-level <level>', 'pino level: fatal, error, warn, info, debug, trace, silent', 'warn')
    .action(async (flags: ServeFlags) => {
      const stream = { highWaterMark: positiveInt('--subscriber-buffer', flags.subscriberBuffer), sendShare: fraction('--send-share', flags.sendShare) };
      const socketGroup = flags.socketGroup ?? (groupId(CELL_USER) !== undefined ? CELL_USER : undefined);
      const store = await openStore(flags.store);
      const server = await startServer({
        store,
        host: flags.host,
        port: flags.tcp ? positiveInt('--port', flags.port, { allowZero: true }) : null,
        socketPath: flags.socket === false ? null : flags.socket,
        ...(socketGroup !== undefined && flags.socket !== false ? { socketGroup } : {}),
        bodyLimit: positiveInt('--body-limit', flags.bodyLimit),
        stream,
        logLevel: flags.logLevel as never,
      });
      const where = [server.url, server.socketPath && `unix:${server.socketPath}`].filter(Boolean).join(' and ');
      process.stderr.write(`missionbus listening on ${where} (store: ${flags.store.replace(/\/\/[^@/]*@/, '//***@')})\n`);
      closeOnSignals(server, { onSignal: (signal) => process.stderr.write(`missionbus: ${signal}, shutting down gracefully\n`) });
    });
}
