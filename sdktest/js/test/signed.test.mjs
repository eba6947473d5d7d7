// The PubNub JavaScript SDK with a secretKey against a keyset that presenced
// serves signed: the SDK adds timestamp and a v2 signature to every request,
// and the server refuses requests without a valid one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertRejects, client, keys, manualPresenceClient, nextStatus, occupants, signedClient, uniq, waitMs,
} from '../lib/harness.mjs';

const opts = { timeout: 3 * waitMs };

test('signed requests: presence, state and channel groups', opts, async () => {
  const [ch1, ch2] = [uniq('signed'), uniq('signed')];
  const g = uniq('signed-group');
  const judy = signedClient(uniq('judy'));

  await judy.setState({ channels: [ch1], state: { [ch1]: { signed: true, text: "a b&c=d+e/f?g'h" } }, withHeartbeat: true });
  const hn = await judy.hereNow({ channels: [ch1], includeUUIDs: true, includeState: true });
  assert.deepEqual(occupants(hn, ch1), [{ uuid: judy.userId, state: { signed: true, text: "a b&c=d+e/f?g'h" } }]);
  assert.equal((await judy.hereNow({ channels: [ch1], includeUUIDs: false })).totalOccupancy, 1);
  assert.ok((await judy.hereNow({})).channels[ch1]);
  assert.deepEqual((await judy.whereNow({})).channels, [ch1]);

  assert.deepEqual((await judy.setState({ channels: [ch1], state: { n: 2 } })).state, { n: 2 });
  assert.deepEqual((await judy.getState({ channels: [ch1] })).channels, { [ch1]: { n: 2 } });

  await judy.channelGroups.addChannels({ channelGroup: g, channels: [ch2] });
  assert.deepEqual((await judy.channelGroups.listChannels({ channelGroup: g })).channels, [ch2]);
  assert.ok((await judy.channelGroups.listGroups()).groups.includes(g));
  await judy.channelGroups.removeChannels({ channelGroup: g, channels: [ch2] });
  await judy.channelGroups.addChannels({ channelGroup: g, channels: [ch2] });

  const ken = manualPresenceClient(uniq('ken'), {}, signedClient);
  const beat = nextStatus(ken, 'PNHeartbeatOperation');
  ken.presence({ connected: true, channels: [ch1], channelGroups: [g] });
  assert.equal((await beat).statusCode, 200);
  assert.deepEqual((await judy.whereNow({ uuid: ken.userId })).channels, [ch1, ch2].sort());
  const left = nextStatus(ken, 'PNUnsubscribeOperation');
  ken.presence({ connected: false, channels: [ch1], channelGroups: [g] });
  assert.equal((await left).statusCode, 200);
  assert.deepEqual((await judy.whereNow({ uuid: ken.userId })).channels, []);

  await judy.channelGroups.deleteGroup({ channelGroup: g });
  assert.ok(!(await judy.channelGroups.listGroups()).groups.includes(g));
});

test('unsigned or badly signed requests are refused', opts, async () => {
  const ch = uniq('signed');
  const unsigned = client(uniq('mallory'), { subscribeKey: keys.signedSubKey, publishKey: keys.signedPubKey });
  const wrongSecret = signedClient(uniq('mallory'), { secretKey: 'sec-c-wrong' });
  const wrongPubKey = signedClient(uniq('mallory'), { publishKey: 'pub-c-wrong' });
  for (const pn of [unsigned, wrongSecret, wrongPubKey]) {
    await assertRejects(pn.setState({ channels: [ch], state: {}, withHeartbeat: true }), 403, /Signature does not match/);
    await assertRejects(pn.hereNow({ channels: [ch] }), 403, /Signature does not match/);
    await assertRejects(pn.whereNow({}), 403, /Signature does not match/);
    await assertRejects(pn.channelGroups.listGroups(), 403, /Signature does not match/);
  }
  // Nothing of the refused calls was applied.
  const judy = signedClient(uniq('judy'));
  assert.equal((await judy.hereNow({ channels: [ch] })).totalOccupancy, 0);
});
