import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from '../../src/store/sqlite.js';
import { runStoreConformance } from './conformance.js';

runStoreConformance('sqlite', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'missionbus-sqlite-'));
  const path = join(dir, 'nested', 'missionbus.db');
  let store = new SqliteStore(path);
  return {
    store,
    reopen: async () => {
      await store.close();
      store = new SqliteStore(path);
      return store;
    },
    cleanup: async () => {
      await store.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}, { durable: true });
