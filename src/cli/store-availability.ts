/** The doctor's view of the stores: can this host open each one, and if not, why and how to fix it. */
import { accessSync, constants, mkdirSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { DEFAULT_SQLITE_PATH } from '../store/sqlite.js';

export interface StoreAvailability {
  name: string;
  available: boolean;
  reason?: string;
  fix?: string;
}

export async function storeAvailability(postgresUrl: string): Promise<StoreAvailability[]> {
  return [{ name: 'memory', available: true }, await sqlite(), await postgres(postgresUrl)];
}

async function sqlite(): Promise<StoreAvailability> {
  const name = `sqlite (${DEFAULT_SQLITE_PATH})`;
  try {
    await import('better-sqlite3').then((m) => new m.default(':memory:').close());
  } catch (error) {
    return { name, available: false, reason: `better-sqlite3 does not load: ${(error as Error).message}`, fix: 'npm rebuild better-sqlite3 (needs python3, make and g++)' };
  }
  const dir = dirname(resolve(DEFAULT_SQLITE_PATH));
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    return { name, available: true };
  } catch (error) {
    return { name, available: false, reason: `cannot write ${dir}: ${(error as Error).message}`, fix: 'run from a writable directory or pass --store PATH' };
  }
}

async function postgres(url: string): Promise<StoreAvailability> {
  const name = `postgres (${url.replace(/\/\/[^@/]*@/, '//***@')})`;
  const { default: pg } = await import('pg');
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  try {
    await client.connect();
    await client.query('SELECT 1');
    return { name, available: true };
  } catch (error) {
    return {
      name,
      available: false,
      reason: (error as Error).message,
      fix: 'start PostgreSQL (pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start) or pass --postgres URL',
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
