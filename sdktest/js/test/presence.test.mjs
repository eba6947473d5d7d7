// The PubNub JavaScript SDK against presenced: heartbeats, here now, where
// now, state and leave, on the unsigned keyset.
//
// Which SDK call issues which request (read from the SDK's source):
//   setState({channels, state, withHeartbeat: true})  GET .../channel/{chs}/heartbeat?heartbeat=20&state=<state as given>
//   presence({connected: true, channels})             GET .../heartbeat, repeated every heartbeatInterval
//                                                     (manual presence mode, enableEventEngine: false)
//   presence({connected: false, channels})            GET .../channel/{chs}/leave
//   setState({channels, state})                       GET .../channel/{chs}/uuid/{uuid}/data?state=
//   getState({channels, channelGroups})               GET .../channel/{chs}/uuid/{uuid}
//   hereNow({channels, includeUUIDs, includeState})   GET /v2/presence/sub-key/{sk}[/channel/{chs}]?disable_uuids=1&state=1&limit=
//   whereNow({uuid})                                  GET /v2/presence/sub-key/{sk}/uuid/{uuid}
// SDK 12 has no public call for a bare heartbeat: the two above are its ways
// to send one without subscribing (test/subscribe.test.mjs covers subscribing).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertRejects, client, manualPresenceClient, nextStatus, occupants, uniq, waitMs,
} from '../lib/harness.mjs';

const opts = { timeout: 3 * waitMs };

// withHeartbeat sends `state` as given. The heartbeat endpoint reads it keyed,
// {channel or group: state}, when a key names a channel or group of the call,
// and otherwise as the state of every channel and group the call names
// (unkeyed, as the SDK's documentation shows it). This helper passes it keyed;
// the tests of the unkeyed form call setState themselves. {}, sent when there
// is no state, changes none.
async function heartbeat(pn, channels, state = undefined) {
  const params = { channels, withHeartbeat: true, state: state ?? {} };
  return pn.setState(params);
}

test('a heartbeat with state joins the uuid with its state', opts, async () => {
  const ch = uniq('hb');
  const alice = client(uniq('alice'));
  assert.deepEqual(await heartbeat(alice, [ch], { [ch]: { mood: 'happy', n: 1 } }), {});

  const hn = await alice.hereNow({ channels: [ch], includeUUIDs: true, includeState: true });
  assert.equal(hn.totalOccupancy, 1);
  assert.equal(hn.totalChannels, 1);
  assert.deepEqual(occupants(hn, ch), [{ uuid: alice.userId, state: { mood: 'happy', n: 1 } }]);

  // A second heartbeat refreshes: still one member, state kept.
  await heartbeat(alice, [ch]);
  const again = await alice.hereNow({ channels: [ch], includeState: true });
  assert.deepEqual(occupants(again, ch), [{ uuid: alice.userId, state: { mood: 'happy', n: 1 } }]);
});

test('setState with withHeartbeat and unkeyed state, one channel: here now shows the state', opts, async () => {
  const ch = uniq('unkeyed');
  const pat = client(uniq('pat'));
  const observer = client(uniq('observer'));
  assert.deepEqual(await pat.setState({ channels: [ch], state: { role: 'b', n: 1 }, withHeartbeat: true }), {});

  const hn = await observer.hereNow({ channels: [ch], includeUUIDs: true, includeState: true });
  assert.equal(hn.totalOccupancy, 1);
  assert.deepEqual(occupants(hn, ch), [{ uuid: pat.userId, state: { role: 'b', n: 1 } }]);
  const st = await observer.getState({ uuid: pat.userId, channels: [ch] });
  assert.deepEqual(st.channels, { [ch]: { role: 'b', n: 1 } });

  // A new unkeyed state replaces it; a state-less refresh keeps it.
  await pat.setState({ channels: [ch], state: { role: 'c' }, withHeartbeat: true });
  await heartbeat(pat, [ch]);
  const again = await observer.hereNow({ channels: [ch], includeState: true });
  assert.deepEqual(occupants(again, ch), [{ uuid: pat.userId, state: { role: 'c' } }]);
});

test('setState with withHeartbeat and unkeyed state, several channels: here now shows it on each', opts, async () => {
  const chs = [uniq('unkeyed'), uniq('unkeyed'), uniq('unkeyed')];
  const quinn = client(uniq('quinn'));
  const observer = client(uniq('observer'));
  const state = { role: 'b', profile: { name: 'Quinn' } };
  assert.deepEqual(await quinn.setState({ channels: chs, state, withHeartbeat: true }), {});

  const hn = await observer.hereNow({ channels: chs, includeUUIDs: true, includeState: true });
  assert.equal(hn.totalOccupancy, 3);
  for (const ch of chs) {
    assert.deepEqual(occupants(hn, ch), [{ uuid: quinn.userId, state }], ch);
  }
  assert.deepEqual((await observer.whereNow({ uuid: quinn.userId })).channels, [...chs].sort());
});

test("the SDK's own heartbeat loop joins, presence({connected: false}) leaves", opts, async () => {
  const [ch1, ch2] = [uniq('loop'), uniq('loop')];
  const bob = manualPresenceClient(uniq('bob'));
  const observer = client(uniq('observer'));

  const beat = nextStatus(bob, 'PNHeartbeatOperation');
  bob.presence({ connected: true, channels: [ch1, ch2] });
  const status = await beat;
  assert.equal(status.error, false);
  assert.equal(status.statusCode, 200);

  const hn = await observer.hereNow({ channels: [ch1, ch2] });
  assert.equal(hn.totalOccupancy, 2);
  assert.deepEqual(occupants(hn, ch1), [{ uuid: bob.userId, state: null }]);
  assert.deepEqual((await observer.whereNow({ uuid: bob.userId })).channels, [ch1, ch2].sort());

  const left = nextStatus(bob, 'PNUnsubscribeOperation');
  bob.presence({ connected: false, channels: [ch1] });
  assert.equal((await left).statusCode, 200);

  const after = await observer.hereNow({ channels: [ch1, ch2] });
  assert.equal(after.channels[ch1], undefined, 'empty channels are left out');
  assert.deepEqual(occupants(after, ch2), [{ uuid: bob.userId, state: null }]);
  assert.deepEqual((await observer.whereNow({ uuid: bob.userId })).channels, [ch2]);
});

test('leaving a channel one is not on succeeds and changes nothing', opts, async () => {
  const ch = uniq('noleave');
  const carol = manualPresenceClient(uniq('carol'));
  const left = nextStatus(carol, 'PNUnsubscribeOperation');
  carol.presence({ connected: false, channels: [ch] });
  const status = await left;
  assert.equal(status.error, false);
  assert.deepEqual((await carol.whereNow({})).channels, []);
});

test('here now with and without uuids and state', opts, async () => {
  const [ch, other] = [uniq('hn'), uniq('hn')];
  const alice = client(uniq('alice'));
  const bob = client(uniq('bob'));
  await heartbeat(alice, [ch], { [ch]: { role: 'host' } });
  await heartbeat(bob, [ch, other]);

  const full = await alice.hereNow({ channels: [ch], includeUUIDs: true, includeState: true });
  assert.equal(full.totalOccupancy, 2);
  assert.deepEqual(occupants(full, ch), [
    { uuid: alice.userId, state: { role: 'host' } },
    { uuid: bob.userId, state: null },
  ].sort((a, b) => a.uuid.localeCompare(b.uuid)));

  const noState = await alice.hereNow({ channels: [ch], includeUUIDs: true, includeState: false });
  assert.deepEqual(occupants(noState, ch).map((o) => o.state), [null, null]);
  assert.deepEqual(occupants(noState, ch).map((o) => o.uuid), [alice.userId, bob.userId].sort());

  const counts = await alice.hereNow({ channels: [ch], includeUUIDs: false });
  assert.equal(counts.totalOccupancy, 2);
  assert.equal(counts.channels[ch].occupancy, 2);
  assert.deepEqual(counts.channels[ch].occupants, []);

  const paged = await alice.hereNow({ channels: [ch], limit: 1 });
  assert.equal(paged.channels[ch].occupancy, 2);
  assert.equal(paged.channels[ch].occupants.length, 1);

  const several = await alice.hereNow({ channels: [ch, other], includeState: true });
  assert.equal(several.totalChannels, 2);
  assert.equal(several.totalOccupancy, 3);
  assert.deepEqual(occupants(several, other), [{ uuid: bob.userId, state: null }]);

  const severalCounts = await alice.hereNow({ channels: [ch, other], includeUUIDs: false });
  assert.equal(severalCounts.totalOccupancy, 3);
  assert.deepEqual(severalCounts.channels[other].occupants, []);

  // Global here now covers every channel of the sub key, other tests' too.
  const global = await alice.hereNow({});
  assert.ok(global.totalChannels >= 2);
  assert.equal(global.channels[ch].occupancy, 2);
  assert.equal(global.channels[other].occupancy, 1);
});

test('where now lists the channels a uuid is on', opts, async () => {
  const [ch1, ch2] = [uniq('wn'), uniq('wn')];
  const dave = client(uniq('dave'));
  await heartbeat(dave, [ch1, ch2]);
  assert.deepEqual((await dave.whereNow({})).channels, [ch1, ch2].sort());
  assert.deepEqual((await dave.whereNow({ uuid: uniq('nobody') })).channels, []);
});

test('set state and get state', opts, async () => {
  const [ch1, ch2, absent] = [uniq('st'), uniq('st'), uniq('st')];
  const erin = client(uniq('erin'));
  await heartbeat(erin, [ch1, ch2]);

  assert.deepEqual((await erin.getState({ channels: [ch1] })).channels, { [ch1]: {} }, 'no state yet');

  const set = await erin.setState({ channels: [ch1], state: { mood: 'busy', tags: ['a', 'b'] } });
  assert.deepEqual(set.state, { mood: 'busy', tags: ['a', 'b'] });
  assert.deepEqual((await erin.getState({ channels: [ch1] })).channels, { [ch1]: { mood: 'busy', tags: ['a', 'b'] } });

  await erin.setState({ channels: [ch1, ch2], state: { mood: 'away' } });
  // For more than one channel the SDK hands back the server's payload as it
  // is, {"channels": {...}}, one level deeper than for a single channel.
  const both = await erin.getState({ channels: [ch1, ch2] });
  assert.deepEqual(both.channels, { channels: { [ch1]: { mood: 'away' }, [ch2]: { mood: 'away' } } });

  // Another client reads erin's state by uuid.
  const observer = client(uniq('observer'));
  assert.deepEqual((await observer.getState({ uuid: erin.userId, channels: [ch2] })).channels, { [ch2]: { mood: 'away' } });

  const hn = await observer.hereNow({ channels: [ch1], includeState: true });
  assert.deepEqual(occupants(hn, ch1), [{ uuid: erin.userId, state: { mood: 'away' } }]);

  // An empty object clears the state.
  await erin.setState({ channels: [ch2], state: {} });
  assert.deepEqual((await erin.getState({ channels: [ch2] })).channels, { [ch2]: {} });

  await assertRejects(
    erin.setState({ channels: [ch1, absent], state: { mood: 'x' } }),
    400,
    /You must be present in a channel to set state for it/,
  );
  // Nothing of the failed call was applied.
  assert.deepEqual((await erin.getState({ channels: [ch1] })).channels, { [ch1]: { mood: 'away' } });
});

test('state dies with membership', opts, async () => {
  const ch = uniq('gone');
  const frank = manualPresenceClient(uniq('frank'));
  const beat = nextStatus(frank, 'PNHeartbeatOperation');
  frank.presence({ connected: true, channels: [ch] });
  await beat;
  await frank.setState({ channels: [ch], state: { k: 'v' } });

  const left = nextStatus(frank, 'PNUnsubscribeOperation');
  frank.presence({ connected: false, channels: [ch] });
  await left;
  assert.deepEqual((await frank.whereNow({})).channels, []);
  await assertRejects(frank.setState({ channels: [ch], state: { k: 'w' } }), 400, /You must be present/);
});

test('bad input is a 400 with the reason', opts, async () => {
  const pn = client(uniq('grace'));
  await assertRejects(pn.hereNow({ channels: ['has space'] }), 400, /channel/i);
  const bad = uniq('bad');
  await assertRejects(heartbeat(pn, [bad], { [bad]: 5 }), 400, /state/i);
  // Beside the keys naming the heartbeat's channels, a key naming another
  // channel is left alone: the SDK sends the state of every channel it holds
  // state for.
  const other = uniq('other');
  const elsewhere = uniq('elsewhere');
  await heartbeat(pn, [other], { [other]: { a: 1 }, [elsewhere]: { b: 2 } });
  const hn = await pn.hereNow({ channels: [other, elsewhere], includeState: true });
  assert.deepEqual(occupants(hn, other), [{ uuid: pn.userId, state: { a: 1 } }]);
  assert.equal(hn.channels[elsewhere], undefined, 'nobody joined the other channel');
  const stranger = client(uniq('grace'), { subscribeKey: 'sub-c-not-configured' });
  await assertRejects(stranger.hereNow({ channels: [uniq('x')] }), 400, /Invalid Subscribe Key/);
});
