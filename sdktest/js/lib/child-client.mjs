// A PubNub client in a process of its own, driven over IPC by
// test/subscribe.test.mjs, so that a test can kill it without a leave: it
// "goes silent". Usage: fork(child-client.mjs, [JSON configuration]).
// Messages: {op: 'subscribe', channels, groups}, {op: 'setState', channels,
// state, mayFail}, {op: 'unsubscribe', channels}; each is answered with
// {ok: op} or {error}. It sends {ok: 'ready'} once started.
import PubNub from 'pubnub';

const config = JSON.parse(process.argv[2]);
const pn = new PubNub(config);

function connected() {
  return new Promise((resolve) => {
    const listener = {
      status(s) {
        if (s.category !== 'PNConnectedCategory') return;
        pn.removeListener(listener);
        resolve();
      },
    };
    pn.addListener(listener);
  });
}

process.on('message', async (m) => {
  try {
    switch (m.op) {
      case 'subscribe': {
        const up = connected();
        pn.subscribe({ channels: m.channels ?? [], channelGroups: m.groups ?? [] });
        await up;
        break;
      }
      case 'setState':
        await pn.setState({ channels: m.channels, state: m.state }).catch((e) => {
          if (!m.mayFail) throw e;
        });
        break;
      case 'unsubscribe':
        pn.unsubscribe({ channels: m.channels });
        break;
      default:
        throw new Error(`unknown op ${m.op}`);
    }
    process.send({ ok: m.op });
  } catch (e) {
    process.send({ error: String(e?.status ? JSON.stringify(e.status) : e) });
  }
});
process.send({ ok: 'ready' });
