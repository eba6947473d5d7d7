// The PubNub JavaScript SDK across a restart of presenced with -state-file:
// a watcher subscribed with presence, and members subscribed (event engine,
// heartbeats every few seconds), while the server stops on SIGTERM and
// starts again on the same port and state file.
//
// The test starts its own presenced from PRESENCED_BIN (sdktest/run.sh sets
// it) and skips without it.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import PubNub from 'pubnub';
import { uniq, waitMs } from '../lib/harness.mjs';
import { bin, startPresenced } from '../lib/server.mjs';

const dir = mkdtempSync(join(tmpdir(), 'presenced-restart-'));
const stateFile = join(dir, 'state');
const clients = [];
let server;
after(async () => {
  for (const pn of clients) pn.destroy();
  if (server) await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

// Short presence, so that a member that stopped would time out within the
// test; expiry ticks every 100 ms.
const flags = ['-state-file', stateFile, '-state-interval', '0', '-min-timeout', '2s', '-tick', '100ms', '-log-format', 'text'];
const subKey = 'sub-c-restart';

function client(addr, userId) {
  const pn = new PubNub({
    subscribeKey: subKey,
    publishKey: 'pub-c-restart',
    userId,
    origin: addr,
    ssl: false,
    // Heartbeats every 4 s, the SDK's timeout / 2 - 1.
    presenceTimeout: 10,
    transactionalRequestTimeout: waitMs / 1000,
  });
  clients.push(pn);
  return pn;
}

// until resolves once pred holds for list, re-checked every 50 ms.
async function until(what, pred, ms = waitMs) {
  const end = Date.now() + ms;
  while (!pred()) {
    if (Date.now() > end) throw new Error(`no ${what} within ${ms} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

function connected(pn) {
  return new Promise((resolve) => {
    const l = {
      status(s) {
        if (s.category === 'PNConnectedCategory') {
          pn.removeListener(l);
          resolve();
        }
      },
    };
    pn.addListener(l);
  });
}

test('a restart keeps presence: the watcher resumes, no join storm, members stay', { skip: !bin && 'PRESENCED_BIN is not set', timeout: 12 * waitMs }, async () => {
  server = await startPresenced(['-addr', '127.0.0.1:0', ...flags]);
  const addr = server.addr;
  const room = uniq('room');

  const watcher = client(addr, uniq('watcher'));
  const events = [];
  const statuses = [];
  watcher.addListener({
    presence: (e) => events.push(e),
    status: (s) => statuses.push(s.category),
  });
  let up = connected(watcher);
  watcher.subscribe({ channels: [room], withPresence: true });
  await up;

  const members = [];
  for (const name of ['ann', 'ben', 'cat']) {
    const m = client(addr, uniq(name));
    up = connected(m);
    m.subscribe({ channels: [room] });
    await up;
    members.push(m);
  }
  await members[0].setState({ channels: [room], state: { mood: 'happy' } });
  const ids = members.map((m) => m.userId);
  await until('the members\' joins', () => ids.every((id) => events.some((e) => e.action === 'join' && e.uuid === id)));

  // The restart: SIGTERM, then a new process on the same port and file.
  const stopped = Date.now();
  assert.equal(await server.stop(), 0, 'exits 0 on SIGTERM');
  assert.match(server.log(), /msg="state saved" file=\S+ members=4 /, 'the watcher and the three members are saved');
  const before = events.length;
  server = await startPresenced(['-addr', addr, ...flags]);
  assert.match(server.log(), /msg="restored state" file=\S+ members=4 uuids=4 channels=1 groups=0 overdue=0/);
  const down = Date.now() - stopped;

  // The watcher's subscription resumes: it sees a newcomer's join, through
  // the long-poll it holds on the new process.
  const late = client(addr, uniq('dan'));
  up = connected(late);
  late.subscribe({ channels: [room] });
  await up;
  await until('the newcomer\'s join after the restart', () => events.slice(before).some((e) => e.action === 'join' && e.uuid === late.userId), 3 * waitMs);

  // Two heartbeat periods (4 s each) pass: every member has heartbeated on
  // the new process. None of them joined again, left or timed out.
  await new Promise((r) => setTimeout(r, 9_000));
  const after = events.slice(before);
  const storm = after.filter((e) => [...ids, watcher.userId].includes(e.uuid) && ['join', 'leave', 'timeout'].includes(e.action));
  assert.deepEqual(storm.map((e) => `${e.action} ${e.uuid}`), [], 'no join storm');
  const joins = after.filter((e) => e.action === 'join').map((e) => e.uuid);
  assert.deepEqual(joins, [late.userId], 'the one join after the restart is the newcomer\'s');

  const now = await late.hereNow({ channels: [room], includeUUIDs: true, includeState: true });
  const present = now.channels[room].occupants.map((o) => o.uuid).sort();
  assert.deepEqual(present, [...ids, watcher.userId, late.userId].sort(), 'the members stay');
  const ann = now.channels[room].occupants.find((o) => o.uuid === ids[0]);
  assert.deepEqual(ann.state, { mood: 'happy' }, 'with their state');
  assert.ok(down < 5_000, `the server was down ${down} ms`);
});
