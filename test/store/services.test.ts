// The services table: a heartbeat registers a service once and never undoes what an operator set.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { openStore } from '../../src/store/index.js';
import * as services from '../../src/store/services.js';
import { toBool } from '../../src/store/schema.js';
import { makeTempDir } from '../support/tmp.js';
import { freshDatabaseUrl } from '../support/database.js';

test('heartbeat: one row per (host, binary); disabled, reason and frozen survive later heartbeats', async () => {
  const dir = await makeTempDir();
  const store = await openStore({ url: await freshDatabaseUrl(dir.path) });
  try {
    const beat = (now: string, zone = 'nova') =>
      services.heartbeat(store.db, { id: randomUUID(), host: 'h1@file', binary: 'cinder-volume', topic: 'cinder-volume', availabilityZone: zone, rpcAddress: null, capabilities: '{}', now });
    await beat('2026-01-01T00:00:00.000000');
    const [row] = await services.listServices(store.db);
    assert.equal(row.updated_at, '2026-01-01T00:00:00.000000');
    assert.ok(await services.updateService(store.db, row.id, { disabled: true, disabledReason: 'maintenance', frozen: true, now: '2026-01-01T00:00:05.000000' }));
    await beat('2026-01-01T00:00:10.000000', 'az2');
    const rows = await services.listServices(store.db);
    assert.equal(rows.length, 1);
    assert.equal(rows[0].id, row.id);
    assert.deepEqual(
      [toBool(rows[0].disabled), rows[0].disabled_reason, toBool(rows[0].frozen), rows[0].updated_at, rows[0].modified_at, rows[0].availability_zone],
      [true, 'maintenance', true, '2026-01-01T00:00:10.000000', '2026-01-01T00:00:05.000000', 'az2'],
    );
    assert.equal(await services.updateService(store.db, row.id, { frozen: true, now: '2026-01-01T00:00:20.000000' }, { frozen: false }), false, 'frozen only changes from the expected value');
  } finally {
    await store.close();
    await dir.cleanup();
  }
});
