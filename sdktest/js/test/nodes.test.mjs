// Two presenced nodes of one presence, on one NATS JetStream: PRESENCED_ADDR
// (node 1) and PRESENCED_WATCH_ADDR (node 2). What a client does through one
// node, the REST calls of the other show once it has reached that node;
// every wait for it is bounded by waitMs and none asserts how soon it comes.
// Skipped against one server (PRESENCED_WATCH_ADDR unset or the same).
//
// The subscribe tests (subscribe.test.mjs) cover the events: their watcher
// subscribes through node 2.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  hereNowEverywhere, manualPresenceClient, nextStatus, twoNodes, uniq, waitMs, watcher,
} from '../lib/harness.mjs';

const opts = { timeout: 6 * waitMs, skip: twoNodes ? false : 'one server: PRESENCED_WATCH_ADDR names no other node' };

test('a heartbeat loop through node 1: here now, where now and get state agree through node 2', opts, async () => {
  const [ch1, ch2] = [uniq('nodes'), uniq('nodes')];
  const carol = manualPresenceClient(uniq('carol'));
  const beat = nextStatus(carol, 'PNHeartbeatOperation');
  carol.presence({ connected: true, channels: [ch1, ch2] });
  assert.equal((await beat).statusCode, 200);
  await hereNowEverywhere(ch1, [{ uuid: carol.userId, state: null }]);
  await hereNowEverywhere(ch2, [{ uuid: carol.userId, state: null }]);
  const observer = watcher(uniq('observer'));
  assert.deepEqual((await observer.whereNow({ uuid: carol.userId })).channels, [ch1, ch2].sort());

  // The same uuid sets its state through node 2; node 1 shows it too.
  const carolOn2 = watcher(carol.userId);
  assert.deepEqual((await carolOn2.setState({ channels: [ch1], state: { role: 'host' } })).state, { role: 'host' });
  await hereNowEverywhere(ch1, [{ uuid: carol.userId, state: { role: 'host' } }]);
  assert.deepEqual((await carol.getState({ channels: [ch1] })).channels, { [ch1]: { role: 'host' } });
  assert.deepEqual((await observer.getState({ uuid: carol.userId, channels: [ch1] })).channels, { [ch1]: { role: 'host' } });

  // A leave through node 1 empties the channel on both.
  const left = nextStatus(carol, 'PNUnsubscribeOperation');
  carol.presence({ connected: false, channels: [ch1] });
  assert.equal((await left).statusCode, 200);
  await hereNowEverywhere(ch1, []);
  await hereNowEverywhere(ch2, [{ uuid: carol.userId, state: null }]);
  assert.deepEqual((await observer.whereNow({ uuid: carol.userId })).channels, [ch2]);
});
