// The PubNub JavaScript SDK's subscribe long-poll against presenced:
// presence events (join, leave, timeout, state-change, interval) delivered
// to a client subscribed withPresence: true.
//
//   subscribe({channels, channelGroups, withPresence: true})
//       GET /v2/subscribe/{sk}/{chs and chs-pnpres}/0?uuid=&heartbeat=&state=&channel-group=&tt=&tr=
//       (a handshake without tt, then long-polls with the cursor of each answer)
//   unsubscribe({channels})   GET .../channel/{chs}/leave
//
// The server run.sh starts keeps presence short so that a timeout takes
// seconds: -min-timeout 2s -default-timeout 6s -tick 100ms, and
// -announce-max 2 -deltas -interval 1s for interval events.
//
// The watcher, client A subscribed with presence, talks to the watch node
// (PRESENCED_WATCH_ADDR) and every other client to PRESENCED_ADDR: against
// two nodes of one presence, A sees through node 2 what the others do
// through node 1, and here now agrees on both nodes. Against one server both
// are the same.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fork } from 'node:child_process';
import {
  addr, client, hereNowEverywhere, keys, signedClient, uniq, waitMs, watcher,
} from '../lib/harness.mjs';

const opts = { timeout: 6 * waitMs };

// Events collects the presence events a client receives and lets a test wait
// for them.
class Events {
  constructor(pn) {
    this.list = [];
    this.waiters = [];
    pn.addListener({
      presence: (ev) => {
        this.list.push(ev);
        this.waiters = this.waiters.filter((w) => !w());
      },
    });
  }

  // until resolves with the events so far once pred holds for them, and
  // rejects if it does not within ms.
  until(what, pred, ms = waitMs) {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== check);
        reject(new Error(`no ${what} within ${ms} ms; got ${JSON.stringify(this.list.map(short))}`));
      }, ms);
      const check = () => {
        if (!pred(this.list)) return false;
        clearTimeout(timer);
        resolve(this.list);
        return true;
      };
      if (!check()) this.waiters.push(check);
    });
  }
}

function short(ev) {
  const s = { action: ev.action, uuid: ev.uuid, occupancy: ev.occupancy, channel: ev.channel, subscription: ev.subscription };
  for (const k of ['state', 'join', 'leave', 'timeout', 'hereNowRefresh']) {
    if (ev[k] !== undefined) s[k] = ev[k];
  }
  return s;
}

// connected resolves at pn's next PNConnectedCategory status.
function connected(pn) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      pn.removeListener(listener);
      reject(new Error(`not connected within ${waitMs} ms`));
    }, waitMs);
    const listener = {
      status(s) {
        if (s.category !== 'PNConnectedCategory') return;
        clearTimeout(timer);
        pn.removeListener(listener);
        resolve();
      },
    };
    pn.addListener(listener);
  });
}

// subscribe subscribes pn and waits until it is connected.
async function subscribe(pn, params) {
  const up = connected(pn);
  pn.subscribe(params);
  await up;
}

// isSubsequence reports whether want appears in got in order, not
// necessarily contiguously.
function isSubsequence(want, got) {
  let i = 0;
  for (const g of got) if (i < want.length && g === want[i]) i++;
  return i === want.length;
}

// childClient starts a PubNub client in a process of its own (see
// lib/child-client.mjs); call() sends it an operation and resolves with its
// answer, kill() makes it go silent.
async function childClient(config) {
  const proc = fork(new URL('../lib/child-client.mjs', import.meta.url), [JSON.stringify(config)]);
  const replies = [];
  const pending = [];
  proc.on('message', (m) => (pending.length ? pending.shift()(m) : replies.push(m)));
  const call = (m) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`child: no answer to ${JSON.stringify(m)} within ${waitMs} ms`)), waitMs);
      const done = (r) => {
        clearTimeout(timer);
        if (r.error) reject(new Error(`child: ${r.error}`));
        else resolve(r);
      };
      if (replies.length) done(replies.shift());
      else pending.push(done);
      if (m) proc.send(m);
    });
  await call(); // ready
  return { call, kill: () => proc.kill('SIGKILL') };
}

for (const eventEngine of [true, false]) {
  const mode = eventEngine ? 'event engine' : 'legacy subscription manager';
  test(`presence events in order: join with state, state-change, leave, join, timeout (${mode})`, opts, async () => {
    const room = uniq('room');
    // A heartbeats on its own, with a timeout of 10 s every 4 s: the event
    // engine's long-polls carry no heartbeat parameter, so each is a
    // heartbeat with the server's default timeout (6 s), which a quiet spell
    // of a few seconds, say between B's last join and B's timeout, would
    // outlast, and the occupancies below count A. The SDK sets the interval
    // to half the presence timeout less a second whatever heartbeatInterval
    // says, so the timeout is what makes it 4 s (with 20 s it was 9 s, and A
    // sometimes timed out before B).
    const a = watcher(uniq('a'), { enableEventEngine: eventEngine, presenceTimeout: 10 });
    const events = new Events(a);
    await subscribe(a, { channels: [room], withPresence: true });
    // A is present once connected; whether A sees its own join depends on
    // which came first, so only B's events are checked.

    const bid = uniq('b');
    const b = await childClient({
      subscribeKey: keys.subKey,
      publishKey: keys.pubKey,
      userId: bid,
      origin: addr,
      ssl: false,
      // 4 s, heartbeats every 1 s: the timeout comes a few seconds after B goes silent.
      presenceTimeout: 4,
      enableEventEngine: eventEngine,
    });
    const ofB = (l) => l.filter((e) => e.uuid === bid);
    // Here now is compared for B only: A's own presence rests on its
    // long-polls, each a heartbeat with the server's default timeout.
    const ofBOnly = { only: [bid] };
    const n = (l, action) => ofB(l).filter((e) => e.action === action).length;
    try {
      if (eventEngine) {
        // The event engine keeps the state set before subscribing and sends it
        // with the handshake (the set state call itself fails: B is not present yet).
        await b.call({ op: 'setState', channels: [room], state: { mood: 'happy' }, mayFail: true });
        await b.call({ op: 'subscribe', channels: [room] });
      } else {
        // The legacy subscription manager keeps state only for channels it
        // has subscribed to: subscribe, then set the state.
        await b.call({ op: 'subscribe', channels: [room] });
        await b.call({ op: 'setState', channels: [room], state: { mood: 'happy' } });
      }
      await events.until('join with state', (l) => n(l, 'state-change') >= 1 || (n(l, 'join') >= 1 && ofB(l)[0].state));
      await hereNowEverywhere(room, [{ uuid: bid, state: { mood: 'happy' } }], ofBOnly);
      await b.call({ op: 'setState', channels: [room], state: { mood: 'busy' } });
      await events.until('state-change to busy', (l) => ofB(l).some((e) => e.action === 'state-change' && e.state?.mood === 'busy'));
      await hereNowEverywhere(room, [{ uuid: bid, state: { mood: 'busy' } }], ofBOnly);
      await b.call({ op: 'unsubscribe', channels: [room] });
      await events.until('leave', (l) => n(l, 'leave') >= 1);
      await hereNowEverywhere(room, [], ofBOnly);
      await b.call({ op: 'subscribe', channels: [room] });
      await events.until('second join', (l) => n(l, 'join') >= 2);
    } finally {
      b.kill();
    }
    const silent = Date.now();
    await events.until('timeout', (l) => n(l, 'timeout') >= 1, 3 * waitMs);
    const silence = (Date.now() - silent) / 1000;
    assert.ok(silence < 15, `timeout after ${silence} s of silence`);
    await hereNowEverywhere(room, [], ofBOnly);

    const got = ofB(events.list);
    const seq = got.map((e) => `${e.action}:${e.occupancy}`);
    assert.ok(isSubsequence(['join:2', 'state-change:2', 'leave:1', 'join:2', 'timeout:1'], seq), `sequence ${seq}`);
    assert.equal(seq.at(-1), 'timeout:1', `ends with the timeout: ${seq}`);
    const first = (action, pred = () => true) => got.find((e) => e.action === action && pred(e));
    if (eventEngine) assert.deepEqual(first('join').state, { mood: 'happy' }, 'the join carries the state it came with');
    assert.ok(first('state-change', (e) => e.state?.mood === 'happy'), 'a state-change carries the first state');
    const busy = got.findIndex((e) => e.action === 'state-change' && e.state?.mood === 'busy');
    const leave = got.findIndex((e) => e.action === 'leave');
    assert.ok(busy >= 0 && busy < leave, `state-change to busy before the leave: ${seq}`);
    assert.deepEqual(got[leave].state, { mood: 'busy' }, 'the leave carries the state the member had');
    for (const e of got) {
      assert.equal(e.channel, room);
      assert.equal(e.subscription, `${room}-pnpres`);
      assert.equal(typeof e.timetoken, 'string');
      assert.equal(e.timetoken.length, 17, `timetoken ${e.timetoken}`);
      assert.equal(typeof e.timestamp, 'number');
    }
  });
}

test('interval events with deltas past announce max 2', opts, async () => {
  const hall = uniq('hall');
  const a = watcher(uniq('a'));
  const events = new Events(a);
  await subscribe(a, { channels: [hall], withPresence: true });
  const [b, c] = [client(uniq('b')), client(uniq('c'))];
  await subscribe(b, { channels: [hall] });
  // B's join takes the channel to 2, the most that is announced.
  await events.until("B's join", (l) => l.some((e) => e.action === 'join' && e.uuid === b.userId && e.occupancy === 2));
  await subscribe(c, { channels: [hall] });
  // C's takes it to 3: it comes in an interval event, as a delta.
  const withC = (l) => l.some((e) => e.action === 'interval' && (e.join ?? []).includes(c.userId));
  await events.until('an interval event listing C as joined', withC);
  const iv = events.list.find((e) => e.action === 'interval' && (e.join ?? []).includes(c.userId));
  assert.equal(iv.occupancy, 3);
  assert.equal(iv.channel, hall);
  assert.equal(iv.subscription, `${hall}-pnpres`);
  assert.equal(iv.hereNowRefresh, false);
  assert.equal(typeof iv.timetoken, 'string');
  assert.ok(!events.list.some((e) => e.action === 'join' && e.uuid === c.userId), 'C is not announced');

  // C leaves: an interval event lists it as left, with the occupancy back at 2.
  c.unsubscribe({ channels: [hall] });
  await events.until('an interval event listing C as left', (l) =>
    l.some((e) => e.action === 'interval' && (e.leave ?? []).includes(c.userId) && e.occupancy === 2));
});

test('presence events through a channel group', opts, async () => {
  const g = uniq('group');
  const [x, y] = [uniq('x'), uniq('y')];
  const a = watcher(uniq('a'));
  await a.channelGroups.addChannels({ channelGroup: g, channels: [x, y] });
  const events = new Events(a);
  await subscribe(a, { channelGroups: [g], withPresence: true });

  const b = client(uniq('b'));
  await subscribe(b, { channels: [x] });
  await events.until("B's join", (l) => l.some((e) => e.uuid === b.userId && e.action === 'join'));
  b.unsubscribe({ channels: [x] });
  await events.until("B's leave", (l) => l.some((e) => e.uuid === b.userId && e.action === 'leave'));
  for (const e of events.list) {
    assert.equal(e.subscription, `${g}-pnpres`);
    assert.ok(e.channel === x || e.channel === y, `channel ${e.channel}`);
  }
  const ofB = events.list.filter((e) => e.uuid === b.userId);
  // A is on x and y through the group (the subscription's implicit heartbeat).
  assert.deepEqual(ofB.map((e) => `${e.action}:${e.channel}:${e.occupancy}`), [`join:${x}:2`, `leave:${x}:1`]);
});

test('signed keyset: the handshake and the long-polls are signed', opts, async () => {
  const room = uniq('signed-room');
  const a = watcher(uniq('a'), {}, signedClient);
  const events = new Events(a);
  await subscribe(a, { channels: [room], withPresence: true });
  const b = signedClient(uniq('b'));
  await subscribe(b, { channels: [room] });
  await events.until("B's join", (l) => l.some((e) => e.action === 'join' && e.uuid === b.userId && e.occupancy === 2));
  b.unsubscribe({ channels: [room] });
  await events.until("B's leave", (l) => l.some((e) => e.action === 'leave' && e.uuid === b.userId && e.occupancy === 1));
});

test('an unsigned subscribe to the signed keyset is refused', opts, async () => {
  const pn = client(uniq('mallory'), { subscribeKey: keys.signedSubKey, publishKey: keys.signedPubKey });
  const refused = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no refusal within ${waitMs} ms`)), waitMs);
    pn.addListener({
      status(s) {
        if (s.category === 'PNConnectedCategory') {
          clearTimeout(timer);
          reject(new Error('connected without a signature'));
        } else if (s.error && s.operation !== 'PNHeartbeatOperation') {
          // The subscription's own failure, not that of the SDK's heartbeat.
          clearTimeout(timer);
          resolve(s);
        }
      },
    });
  });
  pn.subscribe({ channels: [uniq('signed-room')], withPresence: true });
  const s = await refused;
  // The event engine reports {category: PNConnectionErrorCategory, error:
  // PNAccessDeniedCategory}: the handshake got the server's 403.
  assert.ok([s.category, s.error].includes('PNAccessDeniedCategory'), JSON.stringify(s));
  pn.unsubscribeAll();
});
