import { test } from 'node:test';
import { PostgresStore } from '../../src/store/postgres.js';
import { POSTGRES_URL, dropSchema, freshSchema, skipUnlessPostgres } from '../multi-instance/postgres-env.js';
import { runStoreConformance } from './conformance.js';

const skip = await skipUnlessPostgres();
if (skip) {
  test('EventStore conformance: postgres', { skip }, () => undefined);
} else {
  runStoreConformance('postgres', async () => {
    // Every test gets its own schema, so runs and tests never see each other's missions.
    const schema = freshSchema();
    let store = await PostgresStore.open(POSTGRES_URL, { schema, poolSize: 4 });
    return {
      store,
      reopen: async () => {
        await store.close();
        store = await PostgresStore.open(POSTGRES_URL, { schema, poolSize: 4 });
        return store;
      },
      cleanup: async () => {
        await store.close();
        await dropSchema(schema);
      },
    };
  }, { durable: true });
}
