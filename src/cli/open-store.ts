/** Opens the store a `--store` value names: a SQLite file path (default), `memory`, or `postgres://…`. */
import { InvalidInputError } from '../core/errors.js';
import type { EventStore } from '../store/contract.js';
import { MemoryStore } from '../store/memory.js';
import { DEFAULT_SQLITE_PATH, SqliteStore } from '../store/sqlite.js';

export async function openStore(spec: string = DEFAULT_SQLITE_PATH): Promise<EventStore> {
  if (spec === 'memory') return new MemoryStore();
  if (/^postgres(ql)?:\/\//.test(spec)) {
    const { PostgresStore } = await import('../store/postgres.js');
    return PostgresStore.open(spec);
  }
  if (/^[a-z]+:\/\//i.test(spec)) {
    throw new InvalidInputError(`unsupported store '${spec}': use a SQLite file path, 'memory' or postgres://user@host/db`);
  }
  return new SqliteStore(spec);
}
