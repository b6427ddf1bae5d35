/**
 * A bus server in its own process, so a test can kill it with SIGKILL: `node --import tsx serve-child.ts '<spec JSON>'`.
 * The spec names the store (`{ "store": "sqlite", "path" }` or `{ "store": "postgres", "url", "schema" }`)
 * and optional stream options. Once listening it prints one line, `{"url": "http://127.0.0.1:<port>", "pid": <pid>}`,
 * on stdout; SIGTERM closes it gracefully.
 */
import { startServer, closeOnSignals, type StreamOptions } from '../../src/server/index.js';
import type { EventStore } from '../../src/store/contract.js';
import { PostgresStore } from '../../src/store/postgres.js';
import { SqliteStore } from '../../src/store/sqlite.js';

export type StoreSpec = { store: 'sqlite'; path: string } | { store: 'postgres'; url: string; schema: string };

export type ChildSpec = StoreSpec & {
  stream?: Partial<StreamOptions>;
  maxSubscribers?: number;
};

const spec = JSON.parse(process.argv[2] ?? '{}') as ChildSpec;

async function openStore(spec: StoreSpec): Promise<EventStore> {
  if (spec.store === 'sqlite') return new SqliteStore(spec.path); // durability 'full': acked means fsync'd
  return PostgresStore.open(spec.url, { schema: spec.schema });
}

const server = await startServer({
  store: await openStore(spec),
  port: 0,
  socketPath: null,
  logLevel: 'error',
  stream: spec.stream,
  maxSubscribers: spec.maxSubscribers,
});
closeOnSignals(server);
process.stdout.write(`${JSON.stringify({ url: server.url, pid: process.pid })}\n`);
