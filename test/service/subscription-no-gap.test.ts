import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Subscription } from '../../src/service/subscription.js';
import type { StoredEvent } from '../../src/store/contract.js';
import { sqliteFixture, teamMission } from './helpers.js';

test('replay then live: every event once, in order, while writers keep appending', async () => {
  const fx = sqliteFixture();
  try {
    const mission = await teamMission(fx.service);
    for (let i = 0; i < 500; i++) void mission.run('ezra', { kind: 'publish', topic: 'before', payload: { i } });
    await mission.idle();
    const writing = (async () => {
      for (let i = 0; i < 300; i++) await mission.run('ezra', { kind: 'publish', topic: 'during', payload: { i } });
    })();
    const seen: StoredEvent[] = [];
    const late: StoredEvent[] = [];
    const sub = new Subscription(mission, 1, { deliver: (events) => void seen.push(...events) });
    await new Promise((resolve) => setTimeout(resolve, 5));
    const lateSub = new Subscription(mission, 400, { deliver: (events) => void late.push(...events) });
    await Promise.all([sub.ready, lateSub.ready, writing]);
    await mission.idle();
    sub.close();
    lateSub.close();
    assert.deepEqual(seen.map((e) => e.sequence), Array.from({ length: 803 }, (_, i) => i + 1));
    assert.deepEqual(late.map((e) => e.sequence), Array.from({ length: 404 }, (_, i) => i + 400));
  } finally {
    await fx.cleanup();
  }
});

test('a subscription from beyond the end waits for new events', async () => {
  const fx = sqliteFixture();
  try {
    const mission = await teamMission(fx.service);
    const seen: number[] = [];
    const sub = new Subscription(mission, 10, { deliver: (events) => void seen.push(...events.map((e) => e.sequence)) });
    await sub.ready;
    for (let i = 0; i < 8; i++) await mission.run('timmy', { kind: 'publish', topic: 't', payload: {} });
    sub.close();
    assert.deepEqual(seen, [10, 11]);
  } finally {
    await fx.cleanup();
  }
});
