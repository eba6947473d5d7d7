// presenced console. Plain JavaScript, no build step, nothing fetched but
// this server's own endpoints. Everything the server sends about members
// (uuids, channel names, state) is shown with textContent, never as HTML.
'use strict';

(() => {
  const $ = (id) => document.getElementById(id);
  const PAGE = 50;          // channels and members per page
  const TAIL_ROWS = 300;    // events shown
  const PAUSED_MAX = 2000;  // events held while paused
  const nf = new Intl.NumberFormat();

  // What the page shows; kept in the URL's hash so that a reload or a link
  // shows the same.
  const view = {
    subKey: '', filter: '', channel: '',
    cursors: [null],        // channels: the "after" cursor of each page so far
    next: null,             // channels: the next page's cursor, null on the last
    offset: 0,              // members: the first shown
  };
  const live = {
    es: null, timeLeft: false, uuidsKnown: true, historyMS: 600000,
    points: [], lastTT: new Map(),   // sub key -> last timetoken seen (BigInt)
    tail: [], paused: false, held: [], heldDropped: 0,
    members: null, membersAt: 0,
  };

  // el builds an element: el('td', {class: 'x'}, 'text', child, ...).
  function el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') e.className = v;
      else if (k === 'title') e.title = v;
      else if (k.startsWith('data-')) e.setAttribute(k, v);
      else e[k] = v;
    }
    for (const c of children) {
      if (c === null || c === undefined) continue;
      e.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return e;
  }

  // ---- the URL's hash ----
  function readHash() {
    const h = new URLSearchParams(location.hash.slice(1));
    view.subKey = h.get('sub_key') || '';
    view.channel = h.get('channel') || '';
    view.filter = h.get('filter') || '';
  }
  function writeHash() {
    const h = new URLSearchParams();
    if (view.subKey) h.set('sub_key', view.subKey);
    if (view.channel) h.set('channel', view.channel);
    if (view.filter) h.set('filter', view.filter);
    const s = '#' + h.toString();
    if (location.hash !== s) history.replaceState(null, '', s);
  }

  // ---- the stream ----
  function connect() {
    if (live.es) live.es.close();
    writeHash();
    if (!view.subKey) return;
    const q = new URLSearchParams({ sub_key: view.subKey, limit: PAGE, member_limit: PAGE });
    if (view.filter) q.set('filter', view.filter);
    const after = view.cursors[view.cursors.length - 1];
    if (after) q.set('after', after);
    if (view.channel) { q.set('channel', view.channel); q.set('offset', view.offset); }
    const tt = live.lastTT.get(view.subKey);
    if (tt !== undefined) q.set('since', tt.toString());
    setStatus('connecting', 'connecting');
    const es = new EventSource('api/stream?' + q.toString());
    live.es = es;
    const on = (name, fn) => es.addEventListener(name, (m) => { if (live.es === es) fn(JSON.parse(m.data)); });
    es.onopen = () => { if (live.es === es) { setStatus('live', 'live'); banner(''); } };
    es.onerror = () => {
      if (live.es !== es) return;
      setStatus('error', es.readyState === EventSource.CLOSED ? 'disconnected' : 'reconnecting');
      if (es.readyState === EventSource.CLOSED) setTimeout(() => { if (live.es === es) connect(); }, 3000);
    };
    on('hello', onHello);
    on('series', (m) => { live.points = m.points; drawCharts(); });
    on('sample', onSample);
    on('events', onEvents);
    on('channels', renderChannels);
    on('members', renderMembers);
    on('failure', (m) => banner('The server could not read presence: ' + m.error));
    on('bye', () => { setStatus('error', 'server shutting down'); es.close(); });
  }

  function setStatus(state, text) {
    $('status').dataset.state = state;
    $('status-text').textContent = text;
  }
  function banner(text) {
    $('banner').hidden = !text;
    $('banner').textContent = text;
  }

  function onHello(m) {
    live.timeLeft = m.time_left;
    live.uuidsKnown = m.uuids_known;
    live.historyMS = m.history_ms;
  }

  function onSample(m) {
    const sk = $('subkeys');
    sk.replaceChildren(...m.sub_keys.map((s) => el('option', { value: s.sub_key }, nf.format(s.members) + ' members')));
    const p = m.point;
    $('total-channels').textContent = p ? nf.format(p.channels) : '0';
    $('total-members').textContent = p ? nf.format(p.members) : '0';
    $('total-uuids').textContent = p && p.uuids !== null ? nf.format(p.uuids) : (live.uuidsKnown ? '0' : '–');
    $('total-eps').textContent = p ? formatRate(p.events_per_s) : '0';
    if (m.missed > 0) banner(nf.format(m.missed) + ' events came faster than the console could read them; the tail and the events per second leave them out.');
    if (p && (live.points.length === 0 || live.points[live.points.length - 1].t_ms < p.t_ms)) {
      live.points.push(p);
      const oldest = p.t_ms - live.historyMS;
      while (live.points.length && live.points[0].t_ms < oldest) live.points.shift();
    }
    drawCharts();
  }

  function formatRate(r) {
    return r >= 100 ? nf.format(Math.round(r)) : r.toFixed(1);
  }

  // ---- channels ----
  function renderChannels(m) {
    const body = $('channels').tBodies[0];
    const top = m.channels.length ? m.channels[0].occupancy : 1;
    body.replaceChildren(...m.channels.map((c) => {
      const tr = el('tr', { 'data-channel': c.channel, class: c.channel === view.channel ? 'selected' : '' },
        el('td', { class: 'channel', title: c.channel }, c.channel),
        el('td', { class: 'num' }, el('div', { class: 'occ' },
          el('div', { class: 'barline' }, barSpan(c.occupancy / Math.max(top, 1))),
          el('span', { class: 'occupancy' }, nf.format(c.occupancy)))));
      tr.addEventListener('click', () => selectChannel(c.channel));
      return tr;
    }));
    if (!m.channels.length) {
      body.append(el('tr', {}, el('td', { colSpan: 2, class: 'empty' }, view.filter ? 'No channel matches.' : 'No channel has members.')));
    }
    view.next = m.next;
    const first = (view.cursors.length - 1) * PAGE;
    $('channels-range').textContent = m.channels.length
      ? `${nf.format(first + 1)}–${nf.format(first + m.channels.length)} of ${nf.format(m.matched)}` +
        (view.filter ? ' matching' : '') + ` · ${nf.format(m.members)} members`
      : '';
    $('channels-prev').disabled = view.cursors.length <= 1;
    $('channels-next').disabled = !m.next;
  }
  function barSpan(frac) {
    const s = el('span');
    s.style.width = Math.max(2, Math.round(frac * 100)) + '%';
    return s;
  }

  function selectChannel(name) {
    view.channel = name;
    view.offset = 0;
    live.members = null;
    $('members-title').textContent = name;
    connect();
  }

  // ---- members ----
  function renderMembers(m) {
    live.members = m;
    live.membersAt = performance.now();
    $('members-empty').hidden = true;
    $('members').hidden = false;
    $('members-pager').hidden = false;
    $('members-title').textContent = `${m.channel} · ${nf.format(m.occupancy)} ${m.occupancy === 1 ? 'member' : 'members'}`;
    const body = $('members').tBodies[0];
    body.replaceChildren(...m.members.map((u) => el('tr', { 'data-uuid': u.uuid },
      el('td', { class: 'uuid', title: u.uuid }, u.uuid),
      el('td', { class: 'state', title: u.state ? JSON.stringify(u.state) : '' }, u.state ? JSON.stringify(u.state) : ''),
      el('td', { class: 'num left', 'data-left': u.time_left_ms ?? '' }, live.timeLeft ? '' : '–'))));
    if (!m.members.length) {
      body.append(el('tr', {}, el('td', { colSpan: 3, class: 'empty' }, m.occupancy ? 'No member on this page.' : 'Nobody is on this channel now.')));
    }
    $('members-range').textContent = m.members.length
      ? `${nf.format(m.offset + 1)}–${nf.format(m.offset + m.members.length)} of ${nf.format(m.occupancy)}` : '';
    $('members-prev').disabled = m.offset === 0;
    $('members-next').disabled = m.offset + m.members.length >= m.occupancy;
    tickCountdowns();
  }

  // The time left counts down between two reads of the members.
  function tickCountdowns() {
    if (!live.members || !live.timeLeft) return;
    const spent = performance.now() - live.membersAt;
    for (const td of $('members').querySelectorAll('td.left')) {
      if (td.dataset.left === '') continue;
      const left = Number(td.dataset.left) - spent;
      td.textContent = left <= 0 ? 'expiring' : formatLeft(left);
      td.classList.toggle('soon', left < 10000);
    }
  }
  function formatLeft(ms) {
    if (ms < 60000) return (ms / 1000).toFixed(1) + ' s';
    const s = Math.floor(ms / 1000);
    if (s < 3600) return `${Math.floor(s / 60)}m ${String(s % 60).padStart(2, '0')}s`;
    return `${Math.floor(s / 3600)}h ${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
  }

  // ---- the tail ----
  function onEvents(m) {
    let last = live.lastTT.get(view.subKey);
    const fresh = [];
    for (const ev of m.events) {
      const tt = BigInt(ev.tt);
      if (last !== undefined && tt <= last) continue; // seen before a reconnect
      last = tt;
      fresh.push(ev);
    }
    if (last !== undefined) live.lastTT.set(view.subKey, last);
    if (m.skipped > 0) fresh.push({ skipped: m.skipped });
    if (!fresh.length) return;
    if (live.paused) {
      live.held.push(...fresh);
      if (live.held.length > PAUSED_MAX) {
        live.heldDropped += live.held.length - PAUSED_MAX;
        live.held.splice(0, live.held.length - PAUSED_MAX);
      }
      updatePause();
      return;
    }
    addToTail(fresh, true);
  }

  function addToTail(evs, animate) {
    live.tail.push(...evs);
    if (live.tail.length > TAIL_ROWS) live.tail.splice(0, live.tail.length - TAIL_ROWS);
    const body = $('tail').tBodies[0];
    for (const ev of evs) {
      if (!shown(ev)) continue;
      const row = tailRow(ev);
      if (animate) row.classList.add('fresh');
      body.prepend(row);
    }
    while (body.rows.length > TAIL_ROWS) body.deleteRow(body.rows.length - 1);
  }

  function shown(ev) {
    return !$('only-channel').checked || !view.channel || ev.skipped || ev.channel === view.channel;
  }

  function renderTail() {
    const body = $('tail').tBodies[0];
    body.replaceChildren();
    for (const ev of live.tail) if (shown(ev)) body.prepend(tailRow(ev));
  }

  function tailRow(ev) {
    if (ev.skipped) {
      return el('tr', { class: 'gap' }, el('td', { colSpan: 7 }, `${nf.format(ev.skipped)} events came too fast to show`));
    }
    const t = new Date(ev.t_ms);
    const time = t.toLocaleTimeString(undefined, { hour12: false }) + '.' + String(t.getMilliseconds()).padStart(3, '0');
    const ch = el('td', { class: 'channel', title: ev.channel }, ev.channel);
    ch.addEventListener('click', () => selectChannel(ev.channel));
    const row = el('tr', { 'data-action': ev.action, 'data-uuid': ev.uuid || '' },
      el('td', {}, time),
      el('td', {}, ev.tt),
      el('td', {}, el('span', { class: 'action ' + ev.action }, ev.action)),
      ch,
      el('td', { class: 'uuid', title: ev.uuid || '' }, ev.uuid || ''),
      el('td', { class: 'num' }, nf.format(ev.occupancy)),
      el('td', { class: 'state', title: eventData(ev) }, eventData(ev)));
    if (ev.gap) {
      const gap = el('tr', { class: 'gap' }, el('td', { colSpan: 7 }, `${nf.format(ev.gap)} events missed before the next one`));
      const frag = document.createDocumentFragment();
      frag.append(row, gap); // newest first: the gap sits below its event
      return frag;
    }
    return row;
  }

  function eventData(ev) {
    if (ev.action === 'interval') {
      if (ev.here_now_refresh) return 'too many changes to list';
      const parts = [];
      if (ev.join) parts.push('join ' + ev.join.join(', '));
      if (ev.leave) parts.push('leave ' + ev.leave.join(', '));
      if (ev.timeout) parts.push('timeout ' + ev.timeout.join(', '));
      if (ev.more) parts.push(`and ${nf.format(ev.more)} more`);
      return parts.join('; ');
    }
    if (ev.state_bytes) return `state of ${nf.format(ev.state_bytes)} bytes`;
    return ev.state ? JSON.stringify(ev.state) : '';
  }

  function updatePause() {
    const b = $('pause');
    b.setAttribute('aria-pressed', String(live.paused));
    const n = live.held.length + live.heldDropped;
    b.textContent = live.paused ? (n ? `Resume (${nf.format(n)} new)` : 'Resume') : 'Pause';
  }

  // ---- the uuid lookup ----
  async function lookup(uuid) {
    const box = $('lookup-result');
    box.hidden = false;
    box.replaceChildren(el('span', { class: 'dim' }, 'looking up ' + uuid + '…'));
    try {
      const r = await fetch('api/uuid?' + new URLSearchParams({ sub_key: view.subKey, uuid }), { cache: 'no-store' });
      const m = await r.json();
      if (!r.ok) { box.replaceChildren(el('span', {}, m.error)); return; }
      if (!m.total) { box.replaceChildren(el('span', { class: 'uuid-where' }, uuid), ' is on no channel.'); return; }
      const list = el('ul');
      for (const c of m.channels) {
        const a = el('a', { href: '#' }, c.channel);
        a.addEventListener('click', (e) => { e.preventDefault(); selectChannel(c.channel); });
        list.append(el('li', {}, a, ' ', el('span', { class: 'state' }, JSON.stringify(c.state))));
      }
      box.replaceChildren(el('span', { class: 'uuid-where' }, uuid), ` is on ${nf.format(m.total)} channel${m.total === 1 ? '' : 's'}` +
        (m.total > m.channels.length ? ` (the first ${m.channels.length} shown)` : '') + ':', list);
    } catch (e) {
      box.replaceChildren(el('span', {}, 'lookup failed: ' + e));
    }
  }

  // ---- charts ----
  function drawCharts() {
    const pts = live.points;
    drawChart($('chart-members'), pts.map((p) => [p.t_ms, p.members]), 'members', $('chart-members-now'), (v) => nf.format(Math.round(v)));
    drawChart($('chart-events'), pts.map((p) => [p.t_ms, p.events_per_s]), 'events', $('chart-events-now'), formatRate);
  }

  function drawChart(canvas, data, kind, label, fmt) {
    const css = getComputedStyle(document.documentElement);
    const stroke = css.getPropertyValue(kind === 'members' ? '--accent' : '--events').trim();
    const fill = css.getPropertyValue(kind === 'members' ? '--chart-fill' : '--events-fill').trim();
    const grid = css.getPropertyValue('--line').trim();
    const ink = css.getPropertyValue('--dim').trim();
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (canvas.width !== Math.round(w * dpr) || canvas.height !== Math.round(h * dpr)) {
      canvas.width = Math.round(w * dpr);
      canvas.height = Math.round(h * dpr);
    }
    const g = canvas.getContext('2d');
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    canvas.dataset.points = String(data.length);
    const now = data.length ? data[data.length - 1][0] : Date.now();
    // The time axis covers what there is to show: at least a minute, at
    // most the history the server keeps.
    const span = Math.min(live.historyMS, Math.max(60000, data.length ? now - data[0][0] : 0));
    const top = niceMax(Math.max(1, ...data.map((d) => d[1])));
    const padL = 44, padB = 16, padT = 6;
    const x = (t) => padL + (w - padL - 4) * (1 - (now - t) / span);
    const y = (v) => padT + (h - padT - padB) * (1 - v / top);
    g.font = '11px system-ui, sans-serif';
    g.fillStyle = ink;
    g.strokeStyle = grid;
    g.lineWidth = 1;
    for (const f of [0, 0.5, 1]) {
      const yy = Math.round(y(top * f)) + 0.5;
      g.beginPath(); g.moveTo(padL, yy); g.lineTo(w - 4, yy); g.stroke();
      g.textAlign = 'right'; g.textBaseline = 'middle';
      g.fillText(fmt(top * f), padL - 6, yy);
    }
    g.textAlign = 'left'; g.textBaseline = 'bottom';
    g.fillText(span >= 120000 ? `-${Math.round(span / 60000)} min` : `-${Math.round(span / 1000)} s`, padL, h);
    g.textAlign = 'right';
    g.fillText('now', w - 4, h);
    label.textContent = data.length ? '· now ' + fmt(data[data.length - 1][1]) : '';
    if (data.length < 1) return;
    g.beginPath();
    data.forEach(([t, v], i) => (i ? g.lineTo(x(t), y(v)) : g.moveTo(x(t), y(v))));
    g.strokeStyle = stroke;
    g.lineWidth = 1.6;
    g.stroke();
    g.lineTo(x(data[data.length - 1][0]), y(0));
    g.lineTo(x(data[0][0]), y(0));
    g.closePath();
    g.fillStyle = fill;
    g.fill();
  }

  function niceMax(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  // ---- wiring ----
  async function start() {
    readHash();
    $('filter').value = view.filter;
    $('subkey').value = view.subKey;
    if (view.channel) $('members-title').textContent = view.channel;
    if (!view.subKey) {
      try {
        const r = await fetch('api/subkeys?limit=100', { cache: 'no-store' });
        const m = await r.json();
        if (m.sub_keys.length) view.subKey = m.sub_keys[0].sub_key;
        $('subkeys').replaceChildren(...m.sub_keys.map((s) => el('option', { value: s.sub_key })));
      } catch (e) {
        banner('Could not list the sub keys: ' + e);
      }
      $('subkey').value = view.subKey;
      if (!view.subKey) {
        setStatus('connecting', 'no sub key yet');
        banner('No sub key holds presence yet: type one above, or wait for a heartbeat and reload.');
      }
    }
    connect();
  }

  $('subkey').addEventListener('change', () => {
    const v = $('subkey').value.trim();
    if (!v || v === view.subKey) return;
    Object.assign(view, { subKey: v, channel: '', filter: '', cursors: [null], next: null, offset: 0 });
    $('filter').value = '';
    live.tail = []; live.points = []; live.members = null;
    $('tail').tBodies[0].replaceChildren();
    resetMembers();
    banner('');
    connect();
  });
  let filterTimer = 0;
  $('filter').addEventListener('input', () => {
    clearTimeout(filterTimer);
    filterTimer = setTimeout(() => {
      view.filter = $('filter').value;
      view.cursors = [null];
      connect();
    }, 300);
  });
  $('channels-next').addEventListener('click', () => { if (view.next) { view.cursors.push(view.next); connect(); } });
  $('channels-prev').addEventListener('click', () => { if (view.cursors.length > 1) { view.cursors.pop(); connect(); } });
  $('members-next').addEventListener('click', () => { view.offset += PAGE; connect(); });
  $('members-prev').addEventListener('click', () => { view.offset = Math.max(0, view.offset - PAGE); connect(); });
  $('pause').addEventListener('click', () => {
    live.paused = !live.paused;
    if (!live.paused) {
      const held = live.held;
      live.held = [];
      if (live.heldDropped) held.unshift({ skipped: live.heldDropped });
      live.heldDropped = 0;
      addToTail(held, false);
    }
    updatePause();
  });
  $('only-channel').addEventListener('change', renderTail);
  $('lookup').addEventListener('submit', (e) => {
    e.preventDefault();
    const u = $('lookup-uuid').value.trim();
    if (u && view.subKey) lookup(u);
  });
  window.addEventListener('resize', drawCharts);
  setInterval(tickCountdowns, 250);

  function resetMembers() {
    $('members-title').textContent = 'Members';
    $('members-empty').hidden = false;
    $('members').hidden = true;
    $('members-pager').hidden = true;
    $('lookup-result').hidden = true;
  }

  start();
})();
