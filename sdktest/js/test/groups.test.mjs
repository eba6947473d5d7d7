// The PubNub JavaScript SDK's channel group calls against presenced, and
// presence through groups.
//
//   channelGroups.addChannels({channelGroup, channels})     GET /v1/channel-registration/sub-key/{sk}/channel-group/{g}?add=
//   channelGroups.removeChannels({channelGroup, channels})  GET .../channel-group/{g}?remove=
//   channelGroups.listChannels({channelGroup})              GET .../channel-group/{g}
//   channelGroups.listGroups()                              GET .../channel-group
//   channelGroups.deleteGroup({channelGroup})               GET .../channel-group/{g}/remove
import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  assertRejects, client, manualPresenceClient, nextStatus, occupants, uniq, waitMs,
} from '../lib/harness.mjs';

const opts = { timeout: 3 * waitMs };

test('add, list, remove and delete channel groups', opts, async () => {
  const pn = client(uniq('admin'));
  const g = uniq('group');
  const [a, b, c] = [uniq('ch'), uniq('ch'), uniq('ch')];

  assert.deepEqual(await pn.channelGroups.addChannels({ channelGroup: g, channels: [a, b] }), {});
  assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: g })).channels, [a, b].sort());
  assert.ok((await pn.channelGroups.listGroups()).groups.includes(g));

  await pn.channelGroups.addChannels({ channelGroup: g, channels: [c, a] });
  assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: g })).channels, [a, b, c].sort());

  assert.deepEqual(await pn.channelGroups.removeChannels({ channelGroup: g, channels: [a] }), {});
  assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: g })).channels, [b, c].sort());

  assert.deepEqual(await pn.channelGroups.deleteGroup({ channelGroup: g }), {});
  assert.deepEqual((await pn.channelGroups.listChannels({ channelGroup: g })).channels, []);
  assert.ok(!(await pn.channelGroups.listGroups()).groups.includes(g));

  await assertRejects(pn.channelGroups.addChannels({ channelGroup: g, channels: ['bad name'] }), 400, /channel/i);
});

test('presence through a channel group', opts, async () => {
  const admin = client(uniq('admin'));
  const g = uniq('group');
  const [a, b] = [uniq('ch'), uniq('ch')].sort();
  await admin.channelGroups.addChannels({ channelGroup: g, channels: [a, b] });

  // A heartbeat naming only the group joins every channel of the group, with
  // the group's state on each.
  const henry = client(uniq('henry'));
  await henry.setState({ channelGroups: [g], state: { [g]: { team: 'red' } }, withHeartbeat: true });

  const hn = await admin.hereNow({ channelGroups: [g], includeState: true });
  assert.equal(hn.totalChannels, 2);
  assert.equal(hn.totalOccupancy, 2);
  for (const ch of [a, b]) {
    assert.deepEqual(occupants(hn, ch), [{ uuid: henry.userId, state: { team: 'red' } }]);
  }
  assert.deepEqual((await admin.whereNow({ uuid: henry.userId })).channels, [a, b]);

  const state = await henry.getState({ channelGroups: [g] });
  assert.deepEqual(state.channels, { channels: { [a]: { team: 'red' }, [b]: { team: 'red' } } });

  await henry.setState({ channelGroups: [g], state: { team: 'blue' } });
  const hn2 = await admin.hereNow({ channels: [a], channelGroups: [g], includeState: true });
  assert.deepEqual(occupants(hn2, b), [{ uuid: henry.userId, state: { team: 'blue' } }]);

  // The SDK's heartbeat loop and leave work on groups too.
  const ivy = manualPresenceClient(uniq('ivy'));
  const beat = nextStatus(ivy, 'PNHeartbeatOperation');
  ivy.presence({ connected: true, channelGroups: [g] });
  assert.equal((await beat).statusCode, 200);
  assert.equal((await admin.hereNow({ channelGroups: [g] })).totalOccupancy, 4);

  const left = nextStatus(ivy, 'PNUnsubscribeOperation');
  ivy.presence({ connected: false, channelGroups: [g] });
  assert.equal((await left).statusCode, 200);
  assert.deepEqual((await admin.whereNow({ uuid: ivy.userId })).channels, []);
  assert.equal((await admin.hereNow({ channelGroups: [g] })).totalOccupancy, 2);
});
