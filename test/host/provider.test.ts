import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatProviderLocation, parseProviderLocation, formatProviderAuth, parseProviderAuth } from '../../src/host/provider.js';
import { connectionData } from '../../src/host/connection-data.js';
import {
  generateChapCredentials,
  CHAP_ALPHABET,
  CHAP_ALPHABET_GROUPS,
} from '../../src/util/chap.js';
import { KeyedQueue } from '../../src/util/keyed-queue.js';

test('provider_location has Cinder\'s tgt shape and IPv6 portals are bracketed', () => {
  const iqn = 'iqn.2010-10.org.openstack:volume-11111111-2222-3333-4444-555555555555';
  assert.equal(
    formatProviderLocation({ portals: ['10.0.0.5:3260'], tid: '1', iqn, lun: 1 }),
    `10.0.0.5:3260,1 ${iqn} 1`,
  );
  assert.equal(
    formatProviderLocation({ portals: ['10.0.0.5:3260', 'fd00::5:3260', '[fd00::6]:3261'], tid: '7', iqn, lun: 1 }),
    `10.0.0.5:3260;[fd00::5]:3260;[fd00::6]:3261,7 ${iqn} 1`,
  );
  assert.deepEqual(parseProviderLocation(`10.0.0.5:3260;[fd00::5]:3260,7 ${iqn} 1`), {
    portals: ['10.0.0.5:3260', '[fd00::5]:3260'],
    tid: '7',
    iqn,
    lun: 1,
  });
  // Cinder's parser: a missing or non-integer LUN is 0.
  assert.equal(parseProviderLocation(`10.0.0.5:3260,1 ${iqn}`).lun, 0);
  assert.equal(parseProviderLocation(`10.0.0.5:3260,1 ${iqn} x`).lun, 0);
});

test('provider_auth round-trips and non-CHAP values read as absent', () => {
  assert.equal(formatProviderAuth({ username: 'u', password: 'p' }), 'CHAP u p');
  assert.deepEqual(parseProviderAuth('CHAP abc def'), { username: 'abc', password: 'def' });
  assert.equal(parseProviderAuth(null), null);
  assert.equal(parseProviderAuth('CHAP onlyuser'), null);
  assert.equal(parseProviderAuth('NONE a b'), null);
});

test('CHAP credentials follow Cinder\'s rules: lengths, alphabet, one of each group, random', () => {
  assert.equal(CHAP_ALPHABET.length, 57);
  for (const bad of '01IOl') assert.ok(!CHAP_ALPHABET.includes(bad));
  const seen = new Set<string>();
  for (let i = 0; i < 200; i++) {
    const { username, password } = generateChapCredentials();
    assert.equal(username.length, 20);
    assert.equal(password.length, 16);
    for (const s of [username, password]) {
      for (const ch of s) assert.ok(CHAP_ALPHABET.includes(ch), `unexpected ${ch}`);
      for (const group of CHAP_ALPHABET_GROUPS) assert.ok([...s].some((c) => group.includes(c)), `${s} lacks ${group}`);
    }
    seen.add(password);
  }
  assert.equal(seen.size, 200);
});

test('connection data: singular keys, plural lists for multipath or several portals, CHAP from provider_auth', () => {
  const iqn = 'iqn.2010-10.org.openstack:volume-v';
  const vol = { id: 'v', sizeGiB: 1, providerLocation: `127.0.0.1:3260,1 ${iqn} 1`, providerAuth: 'CHAP user pass' };
  assert.deepEqual(connectionData(vol, false), {
    target_discovered: false,
    target_portal: '127.0.0.1:3260',
    target_iqn: iqn,
    target_lun: 1,
    volume_id: 'v',
    auth_method: 'CHAP',
    auth_username: 'user',
    auth_password: 'pass',
  });
  const mp = connectionData(vol, true);
  assert.deepEqual(mp.target_portals, ['127.0.0.1:3260']);
  assert.deepEqual(mp.target_iqns, [iqn]);
  assert.deepEqual(mp.target_luns, [1]);
  const two = connectionData({ ...vol, providerLocation: `127.0.0.1:3260;10.0.0.1:3260,1 ${iqn} 1`, providerAuth: null }, false);
  assert.deepEqual(two.target_portals, ['127.0.0.1:3260', '10.0.0.1:3260']);
  assert.deepEqual(two.target_luns, [1, 1]);
  assert.equal(two.auth_method, undefined);
});

test('KeyedQueue runs one task at a time per key, keeps order, and survives failures', async () => {
  const q = new KeyedQueue();
  const events: string[] = [];
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  const a1 = q.run('a', async () => {
    events.push('a1 start');
    await gate;
    events.push('a1 end');
    throw new Error('a1 failed');
  });
  const a2 = q.run('a', async () => {
    events.push('a2');
    return 2;
  });
  const b1 = q.run('b', async () => {
    events.push('b1');
    return 'b';
  });
  assert.equal(await b1, 'b');
  assert.deepEqual(events, ['a1 start', 'b1']);
  release();
  await assert.rejects(a1, /a1 failed/);
  assert.equal(await a2, 2);
  assert.deepEqual(events, ['a1 start', 'b1', 'a1 end', 'a2']);
});
