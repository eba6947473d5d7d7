// Shared setup of the SDK suite: the server's address and keys from the
// environment, PubNub clients that are destroyed after the test file, unique
// names, and bounded waits.
//
// Against two presenced nodes sharing one presence (on NATS JetStream),
// PRESENCED_ADDR names the node the clients talk to and PRESENCED_WATCH_ADDR
// the one the subscribe tests' watchers subscribe through.
import { after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { isDeepStrictEqual } from 'node:util';
import PubNub from 'pubnub';

/** host:port of the presenced under test (required: the suite fails without it). */
export const addr = process.env.PRESENCED_ADDR;
if (!addr) {
  throw new Error('PRESENCED_ADDR is not set: start presenced and export PRESENCED_ADDR=127.0.0.1:PORT (sdktest/run.sh does both)');
}

/**
 * host:port the subscribe tests' watchers subscribe through:
 * PRESENCED_WATCH_ADDR, another node of the same presence, or addr when it
 * is unset.
 */
export const watchAddr = process.env.PRESENCED_WATCH_ADDR || addr;

/** Whether the watchers talk to another node than the clients. */
export const twoNodes = watchAddr !== addr;

/** Keys of the server's config file; the defaults are those sdktest/run.sh writes. */
export const keys = {
  subKey: process.env.SDKTEST_SUB_KEY ?? 'sub-c-sdktest',
  pubKey: process.env.SDKTEST_PUB_KEY ?? 'pub-c-sdktest',
  signedSubKey: process.env.SDKTEST_SIGNED_SUB_KEY ?? 'sub-c-sdktest-signed',
  signedPubKey: process.env.SDKTEST_SIGNED_PUB_KEY ?? 'pub-c-sdktest-signed',
  secretKey: process.env.SDKTEST_SECRET_KEY ?? 'sec-c-sdktest-signed',
};

/** Bound of every wait in the suite, in milliseconds. */
export const waitMs = 10_000;

const clients = [];
after(() => {
  for (const pn of clients) pn.destroy();
});

/**
 * Returns a PubNub client for the unsigned keyset talking to the server,
 * with userId and any other configuration overridden by options. It is
 * destroyed after the test file.
 */
export function client(userId, options = {}) {
  const pn = new PubNub({
    subscribeKey: keys.subKey,
    publishKey: keys.pubKey,
    userId,
    origin: addr,
    ssl: false,
    presenceTimeout: 20,
    transactionalRequestTimeout: waitMs / 1000,
    ...options,
  });
  clients.push(pn);
  return pn;
}

/**
 * Returns a client made by make (client unless given) that talks to the
 * watch node, watchAddr, rather than to addr.
 */
export function watcher(userId, options = {}, make = client) {
  return make(userId, { ...options, origin: watchAddr });
}

/** Returns a client of the signed keyset: every request carries a v2 signature. */
export function signedClient(userId, options = {}) {
  return client(userId, {
    subscribeKey: keys.signedSubKey,
    publishKey: keys.signedPubKey,
    secretKey: keys.secretKey,
    ...options,
  });
}

/**
 * Returns a client in the SDK's manual presence mode (no event engine), whose
 * presence() call starts a heartbeat loop without subscribing and, with
 * connected: false, sends a leave.
 */
export function manualPresenceClient(userId, options = {}, make = client) {
  return make(userId, {
    enableEventEngine: false,
    announceSuccessfulHeartbeats: true,
    announceFailedHeartbeats: true,
    ...options,
  });
}

const run = `${process.pid.toString(36)}${Date.now().toString(36)}`;
let seq = 0;

/** Returns a name no other test (of this or an earlier run) uses. */
export function uniq(prefix) {
  seq += 1;
  return `${prefix}.${run}.${seq}`;
}

/**
 * Waits for the next status of operation (e.g. 'PNHeartbeatOperation') that
 * pn's listeners receive, and returns it. Start waiting before the call
 * that causes it.
 */
export function nextStatus(pn, operation) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pn.removeListener(listener);
      reject(new Error(`no ${operation} status within ${waitMs} ms`));
    }, waitMs);
    const listener = {
      status(s) {
        if (s.operation !== operation) return;
        clearTimeout(timer);
        pn.removeListener(listener);
        resolve(s);
      },
    };
    pn.addListener(listener);
  });
}

/** Asserts that promise rejects with a PubNub error of the given HTTP status and message. */
export async function assertRejects(promise, statusCode, message) {
  await assert.rejects(promise, (err) => {
    assert.equal(err.status?.statusCode, statusCode, `status of ${JSON.stringify(err.status)}`);
    assert.match(err.status?.errorData?.message ?? '', message);
    return true;
  });
}

/** Occupants of one channel of a hereNow answer as {uuid, state} (state null when absent), sorted by uuid. */
export function occupants(hereNow, channel) {
  const ch = hereNow.channels[channel];
  assert.ok(ch, `channel ${channel} in ${JSON.stringify(hereNow)}`);
  return ch.occupants
    .map((o) => ({ uuid: o.uuid, state: o.state ?? null }))
    .sort((a, b) => a.uuid.localeCompare(b.uuid));
}

/** The nodes under test: addr, and watchAddr when it is another. */
export const nodes = twoNodes ? [addr, watchAddr] : [addr];

// One client per node for the here now of hereNowEverywhere: a REST call
// does not make its uuid present, so it changes nothing it reads.
const observers = new Map();

/**
 * Waits until here now of channel, with uuids and state, lists exactly want
 * ([{uuid, state}], state null when absent, in any order) through every node
 * under test, and fails naming the node and its last answer if one does not
 * within waitMs. With only (a list of uuids), members not in it are left out
 * of the comparison: a subscribe test's watcher, whose own presence rests on
 * its long-polls, is not what it checks. A node that did not serve a change
 * shows it once the change has reached it: this waits for that and does not
 * bound it.
 */
export async function hereNowEverywhere(channel, want, { only } = {}) {
  want = [...want].sort((a, b) => a.uuid.localeCompare(b.uuid));
  for (const origin of nodes) {
    if (!observers.has(origin)) observers.set(origin, client(uniq('observer'), { origin }));
    const pn = observers.get(origin);
    const deadline = Date.now() + waitMs;
    for (;;) {
      const hn = await pn.hereNow({ channels: [channel], includeUUIDs: true, includeState: true });
      let got = hn.channels[channel] ? occupants(hn, channel) : [];
      if (only) got = got.filter((o) => only.includes(o.uuid));
      if (isDeepStrictEqual(got, want)) break;
      if (Date.now() > deadline) {
        assert.fail(`here now of ${channel} through ${origin} is ${JSON.stringify(got)}, not ${JSON.stringify(want)}, after ${waitMs} ms`);
      }
      await sleep(20);
    }
  }
}
