// market_sim dashboard: plain JavaScript over the /v1 REST routes and the WebSocket stream (docs/api.md).
// The token lives in sessionStorage, goes out as `Authorization: Bearer` and as the stream's first message.
"use strict";
(() => {
  const TOKEN_KEY = "market_sim.token";
  const CANDLE_S = 2;           // price chart bucket, simulated seconds
  const TAPE_ROWS = 200;
  const $ = (id) => document.getElementById(id);
  const S = {
    token: window.MARKET_SIM_TOKEN || sessionStorage.getItem(TOKEN_KEY) || "", me: null, sim: null, simId: "", symbol: "", venue: "",
    ws: null, wsGen: 0, retry: 0, book: null, trades: [], orders: new Map(), fills: [], tab: "market", sub: "orders",
    side: "buy", candles: new Map(), volumes: new Map(), chart: null, series: null, markers: null, dirty: {}, scenarios: [],
    selectedTx: null, selectedRun: null, blobs: [],
  };

  // ---------------------------------------------------------------- formatting
  const esc = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));
  const inst = () => (S.sim && S.sim.instruments[S.symbol]) || { tick_size: "1", lot_size: "1" };
  const decimals = (s) => { const i = String(s).indexOf("."); return i < 0 ? 0 : String(s).length - i - 1; };
  const px = (ticks) => ticks == null ? "—" : (ticks * Number(inst().tick_size)).toFixed(decimals(inst().tick_size));
  const toTicks = (price) => Math.round(Number(price) / Number(inst().tick_size));
  const int = (n) => n == null ? "—" : Number(n).toLocaleString("en-US");
  const round2 = (v) => Math.round(v * 100) / 100 || 0;  // || 0: no "-0.00"
  const money = (v) => v == null ? "—" : round2(v).toLocaleString("en-US", { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  function clock(ns) {
    if (ns == null) return "--:--:--.---";
    const ms = Math.floor(ns / 1e6), h = Math.floor(ms / 3600000), m = Math.floor(ms / 60000) % 60, s = Math.floor(ms / 1000) % 60;
    return `${String(h).padStart(2, "0")}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}.${String(ms % 1000).padStart(3, "0")}`;
  }
  const short = (s, n = 14) => { s = String(s ?? ""); return s.length > n ? s.slice(0, n - 1) + "…" : s; };

  // ---------------------------------------------------------------- REST
  async function api(path, opts = {}) {
    const headers = { Authorization: `Bearer ${S.token}`, ...(opts.body ? { "Content-Type": "application/json" } : {}) };
    const r = await fetch(path, { method: opts.method || "GET", headers, body: opts.body ? JSON.stringify(opts.body) : undefined });
    if (r.status === 401) { showLogin("the token was refused"); throw new Error("unauthorized"); }
    let data = null;
    const type = r.headers.get("content-type") || "";
    if (opts.raw) data = r.ok ? await r.blob() : await r.json().catch(() => null);
    else if (type.includes("json")) data = await r.json();
    else data = await r.text();
    if (!r.ok) {
      const msg = data && data.error ? data.error.message : `HTTP ${r.status}`;
      const err = new Error(msg); err.status = r.status; throw err;
    }
    return data;
  }
  // A route that may not exist for this simulation (no consensus, no chain...): null on 404/400.
  async function maybe(path) {
    try { return { data: await api(path) }; } catch (e) {
      if (e.status === 404 || e.status === 400 || e.status === 409) return { na: e.message };
      throw e;
    }
  }

  // ---------------------------------------------------------------- tables
  const isTime = (col) => col === "ts" || col === "sim_time" || /_ns$/.test(col || "") && col !== "duration_ns";
  const scalar = (x) => x == null || typeof x !== "object";
  function cell(v, col) {
    if (v == null) return ["", "—"];
    if (typeof v === "number" && isTime(col)) return ["n", clock(v)];
    if (typeof v === "number") return ["n", Number.isInteger(v) ? int(v) : Number(v.toPrecision(6)).toLocaleString("en-US", { maximumFractionDigits: 6 })];
    if (Array.isArray(v) && v.every((x) => typeof x === "string")) {
      const j = v.map((x) => (/^0x[0-9a-fA-F]{16,}$/.test(x) ? x.slice(0, 8) + "…" : x)).join(", ");
      return ["", esc(j.length > 80 ? j.slice(0, 79) + "…" : j)];
    }
    if (typeof v === "object" && !Array.isArray(v) && Object.values(v).every(scalar)) {
      const j = Object.entries(v).map(([k, x]) => `${k} ${typeof x === "number" ? int(x) : x}`).join(" · ");
      return ["", esc(j.length > 120 ? j.slice(0, 119) + "…" : j)];
    }
    if (typeof v === "boolean") return ["", v ? "yes" : "no"];
    if (typeof v === "object") { const j = JSON.stringify(v); return ["", esc(j.length > 120 ? j.slice(0, 119) + "…" : j)]; }
    const s = String(v);
    if (/^0x[0-9a-fA-F]{16,}$/.test(s)) return ["hash", `<span title="${esc(s)}">${esc(s.slice(0, 10) + "…" + s.slice(-6))}</span>`];
    return ["", esc(s)];
  }
  function table(rows, { cols = null, max = 200, click = null, key = null, sel = null } = {}) {
    if (!rows || !rows.length) return `<p class="empty">nothing yet</p>`;
    cols = cols || [...new Set(rows.slice(0, 50).flatMap((r) => Object.keys(r)))].slice(0, 14);
    const head = cols.map((c) => `<th class="${typeof rows[0][c] === "number" ? "n" : ""}">${esc(c)}</th>`).join("");
    const body = rows.slice(0, max).map((r, i) => {
      const k = key ? r[key] : i;
      const tds = cols.map((c) => { const [cls, v] = cell(r[c], c); return `<td class="${cls}" title="${esc(typeof r[c] === "object" && r[c] ? JSON.stringify(r[c]) : r[c] ?? "")}">${v}</td>`; }).join("");
      return `<tr class="${click ? "click" : ""} ${sel != null && k === sel ? "sel" : ""}" data-k="${esc(k)}">${tds}</tr>`;
    }).join("");
    return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  }
  function kv(obj) {
    const rows = Object.entries(obj).filter(([, v]) => !nested(v));
    return `<table class="kvt"><tbody>${rows.map(([k, v]) => { const [cls, s] = cell(v, k); return `<tr><td>${esc(k)}</td><td class="${cls}">${s}</td></tr>`; }).join("")}</tbody></table>`;
  }
  // A field shown as its own section rather than a cell: a list of objects, or an object with many fields.
  const nested = (v) => (Array.isArray(v) && v.length && typeof v[0] === "object" && v[0]) ||
    (v && typeof v === "object" && !Array.isArray(v) && (Object.values(v).some((y) => y && typeof y === "object") || Object.keys(v).length > 6));
  // Any JSON value as tables: an object's scalar fields as key/value rows, its lists and maps as sub-tables.
  function anyView(v) {
    if (Array.isArray(v)) return table(v.map((x) => (typeof x === "object" && x ? x : { value: x })));
    if (!v || typeof v !== "object") return `<p class="empty">${esc(v)}</p>`;
    let out = kv(v);
    for (const [k, x] of Object.entries(v)) {
      if (!nested(x)) continue;
      if (Array.isArray(x)) out += `<div class="section">${esc(k)}</div>` + table(x);
      else if (Object.values(x).every(scalar)) out += `<div class="section">${esc(k)}</div>` + kv(x);
      else out += `<div class="section">${esc(k)}</div>` + table(Object.entries(x).map(([n, y]) => (y && typeof y === "object" ? { name: n, ...y } : { name: n, value: y })));
    }
    return out;
  }
  const na = (msg) => `<p class="na">not available for this simulation${msg ? ` (${esc(msg)})` : ""}</p>`;
  const listOf = (d) => (Array.isArray(d) ? d : d && typeof d === "object" ? (Object.values(d).find(Array.isArray) || [d]) : []);

  // ---------------------------------------------------------------- login
  function showLogin(msg) {
    $("login").hidden = false; $("login-error").textContent = msg || ""; $("login-token").focus();
  }
  $("login-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    S.token = $("login-token").value.trim();
    try {
      await start();
      sessionStorage.setItem(TOKEN_KEY, S.token);
      $("login").hidden = true; $("login-token").value = "";
    } catch (err) { $("login-error").textContent = err.message === "unauthorized" ? "the token was refused" : err.message; }
  });
  $("btn-token").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); closeStream(); showLogin(""); });

  async function start() {
    S.me = await api("/v1/me");
    $("who").textContent = S.me.account ? `${S.me.role} · ${S.me.account}` : S.me.role;
    $("admin-controls").hidden = S.me.role !== "admin";
    $("f-account-wrap").hidden = S.me.role !== "admin";
    if (S.me.role === "admin") {
      const sc = await api("/v1/scenarios");
      $("new-scenario").innerHTML = sc.map((x) => `<option ${x.name === "random-market" ? "selected" : ""}>${esc(x.name)}</option>`).join("");
    }
    updateEntryState();
    await refreshSims(true);
    document.title = `market_sim · server ok, ${S.simCount} simulations`;  // a desktop window's title says so too
    if (S.tab === "runs") loadRuns();
  }

  // ---------------------------------------------------------------- simulations
  async function refreshSims(pick) {
    const sims = await api("/v1/sims");
    S.simCount = sims.length;
    const sel = $("sim-select");
    const cur = S.simId;
    sel.innerHTML = (sims.length ? "" : `<option value="">no simulation</option>`) +
      sims.map((s) => `<option value="${esc(s.id)}">${esc(s.id)} · ${esc(s.scenario)} · ${esc(s.state)}</option>`).join("");
    let want = cur && sims.some((s) => s.id === cur) ? cur : "";
    if (!want && pick && sims.length) want = (sims.slice().reverse().find((s) => s.state === "running") || sims[sims.length - 1]).id;
    if (want) { sel.value = want; if (want !== cur) await selectSim(want); else updateSim(sims.find((s) => s.id === want)); }
    else if (!sims.length) { S.simId = ""; S.sim = null; updateSim(null); noSim("pnl"); }
  }
  function updateSim(info) {
    S.sim = info;
    const st = $("sim-state");
    st.textContent = info ? info.state : "no sim";
    st.className = "badge " + (info ? info.state : "");
    const opt = info && [...$("sim-select").options].find((o) => o.value === info.id);
    if (opt) opt.textContent = `${info.id} · ${info.scenario} · ${info.state}`;  // the picker agrees with the badge
    $("sim-clock").textContent = clock(info ? info.now_ns : null);
    $("sim-events").textContent = info ? int(info.events) : "0";
  }
  async function selectSim(id) {
    S.simId = id;
    const info = await api(`/v1/sims/${encodeURIComponent(id)}`);
    updateSim(info);
    const syms = Object.values(info.venues).flat();
    $("symbol-select").innerHTML = [...new Set(syms)].map((s) => `<option>${esc(s)}</option>`).join("");
    S.symbol = syms.includes(S.symbol) ? S.symbol : syms[0] || "";
    $("symbol-select").value = S.symbol;
    S.orders.clear(); S.fills = []; S.selectedTx = null; S.txShown = null; S.chainBlocks = null; S.setEvents = [];
    await selectSymbol(S.symbol);
    openStream();
    refreshOwn(); refreshPnl(); refreshTab();
  }
  $("sim-select").addEventListener("change", (e) => e.target.value && selectSim(e.target.value));
  $("symbol-select").addEventListener("change", async (e) => {
    const old = S.symbol;
    await selectSymbol(e.target.value);
    if (S.ws && S.ws.readyState === 1) {
      if (old) { send({ op: "unsubscribe", channel: "book", symbol: old }); send({ op: "unsubscribe", channel: "trades", symbol: old }); }
      S.bookPending = true; S.bookError = null;
      send({ op: "subscribe", channel: "book", symbol: S.symbol }); send({ op: "subscribe", channel: "trades", symbol: S.symbol });
    }
  });
  async function selectSymbol(sym) {
    S.symbol = sym; S.book = null; S.trades = []; S.candles = new Map(); S.volumes = new Map();
    for (const [v, list] of Object.entries(S.sim ? S.sim.venues : {})) if (list.includes(sym)) { S.venue = v; break; }
    $("f-price").placeholder = (0).toFixed(decimals(inst().tick_size));
    if (S.series) S.series.setData([]);
    if (!sym) return;
    const hist = await api(`/v1/sims/${S.simId}/trades?symbol=${encodeURIComponent(sym)}&limit=1000`);
    for (const t of hist) addTrade(t, false);  // oldest first: the tape ends newest first
    setCandles();
    mark("tape", "chart", "markers", "stats");
  }
  async function control(what) {
    if (!S.simId) return;
    try { updateSim(await api(`/v1/sims/${S.simId}/${what}`, { method: "POST" })); } catch (e) { flash(e.message, true); }
  }
  $("btn-pause").addEventListener("click", () => control("pause"));
  $("btn-resume").addEventListener("click", () => control("resume"));
  $("btn-stop").addEventListener("click", () => control("stop"));
  $("btn-start").addEventListener("click", async () => {
    try {
      const s = await api("/v1/sims", { method: "POST", body: { scenario: $("new-scenario").value, realtime: 10, save: true } });
      S.simId = ""; await refreshSims(false); $("sim-select").value = s.id; await selectSim(s.id);
    } catch (e) { flash(e.message, true); }
  });

  // ---------------------------------------------------------------- stream
  function send(msg) { if (S.ws && S.ws.readyState === 1) S.ws.send(JSON.stringify(msg)); }
  function closeStream() { S.wsGen++; if (S.ws) { try { S.ws.close(); } catch (_) { /* closed */ } } S.ws = null; setConn("off", "stream: off"); }
  function setConn(cls, text) { const c = $("conn"); c.className = "conn " + cls; c.textContent = text; }
  function openStream() {
    closeStream();
    if (!S.simId) return;
    const gen = S.wsGen, simId = S.simId;
    const ws = new WebSocket(`${location.protocol === "https:" ? "wss" : "ws"}://${location.host}/v1/sims/${encodeURIComponent(simId)}/stream?batch=1`);
    S.ws = ws;
    setConn("off", "stream: …");
    ws.onopen = () => ws.send(JSON.stringify({ op: "auth", token: S.token }));
    ws.onmessage = (ev) => {
      if (gen !== S.wsGen) return;
      const data = JSON.parse(ev.data);
      for (const m of Array.isArray(data) ? data : [data]) onMessage(m);
    };
    ws.onclose = (ev) => {
      if (gen !== S.wsGen) return;
      S.ws = null;
      if (ev.code === 4001) { setConn("bad", "stream: refused"); return; }
      if (ev.code === 1000) {  // the server closed it: the simulation ended, or the server let go of this client
        api(`/v1/sims/${encodeURIComponent(simId)}`).then((info) => {
          if (gen !== S.wsGen) return;
          if (info.state === "running" || info.state === "paused") openStream();
          else { setConn("off", "stream: ended"); updateSim(info); }
        }).catch(() => setConn("off", "stream: ended"));
        return;
      }
      setConn("bad", "stream: retry");
      const wait = Math.min(5000, 250 * 2 ** S.retry++);
      setTimeout(() => { if (gen === S.wsGen && S.simId === simId) openStream(); }, wait);
    };
  }
  function onMessage(m) {
    switch (m.type) {
      case "hello": {
        S.retry = 0; S.connects = (S.connects || 0) + 1; setConn("on", "stream: live"); S.bookPending = true;
        $("conn").title = `stream connections: ${S.connects}`;
        send({ op: "subscribe", channel: "book", symbol: S.symbol });
        send({ op: "subscribe", channel: "trades", symbol: S.symbol });
        const acct = ordersAccount();
        if (acct) send({ op: "subscribe", channel: "orders", account: acct });
        if (S.sim && S.sim.settlement) { send({ op: "subscribe", channel: "settlement" }); send({ op: "subscribe", channel: "blocks" }); }
        break;
      }
      case "book_snapshot":
        if (m.symbol !== S.symbol) return;
        S.book = { seq: m.seq, bids: new Map(m.bids), asks: new Map(m.asks), changed: new Map() };
        S.bookPending = false; S.bookError = null;
        mark("ladder", "depth");
        break;
      case "book_delta": {
        const b = S.book;
        if (!b || m.symbol !== S.symbol || m.seq <= b.seq) return;
        if (m.seq !== b.seq + 1) { S.book = null; send({ op: "resync", symbol: S.symbol }); return; }  // a gap
        b.seq = m.seq;
        const side = m.side === "buy" ? b.bids : b.asks;
        if (m.quantity) side.set(m.price, m.quantity); else side.delete(m.price);
        b.changed.set(`${m.side}:${m.price}`, performance.now());
        if (m.ts) S.now = m.ts;
        mark("ladder", "depth", "clock");
        break;
      }
      case "trade":
        if (m.symbol !== S.symbol) return;
        addTrade(m, true); S.now = m.ts;
        mark("tape", "chart", "clock", "stats");
        break;
      case "order": {
        S.orders.set(m.order.order_id, m.order);
        if (m.event === "fill") { scheduleFills(); if (m.order.symbol === S.symbol) mark("markers"); }
        mark("own", "ladder");
        break;
      }
      case "settlement": {
        const { type, sim, ...row } = m;
        S.setEvents = [row, ...(S.setEvents || [])].slice(0, 200);
        mark("setEvents");
        break;
      }
      case "block": {
        const { type, sim, ts, ...row } = m;
        const top = S.chainBlocks && S.chainBlocks[0];
        if (!top || row.number > top.number) S.chainBlocks = [row, ...(S.chainBlocks || [])].slice(0, 100);
        if (S.tab === "chain") mark("chainBlocks");
        break;
      }
      case "error":
        if (S.bookPending && !S.book) { S.bookPending = false; S.bookError = m.message; mark("ladder", "depth"); }  // e.g. an AMM venue
        else if (m.code !== "not_found") flash(`stream: ${m.message}`, true);
        break;
      default: break;
    }
  }

  // ---------------------------------------------------------------- rendering loop (one frame per change burst)
  function mark(...keys) { for (const k of keys) S.dirty[k] = true; if (!S.raf) S.raf = requestAnimationFrame(render); }
  function render() {
    S.raf = 0;
    const d = S.dirty; S.dirty = {};
    if (d.ladder) renderLadder();
    if (d.depth) renderDepth();
    if (d.tape) renderTape();
    if (d.chart) renderChart();
    if (d.markers) renderMarkers();
    if (d.own) renderOwn();
    if (d.clock) $("sim-clock").textContent = clock(S.now);
    if (d.stats) renderStats();
    if (d.setEvents && S.tab === "settlement") $("set-events").innerHTML = table(S.setEvents, { max: 200 });
    if (d.chainBlocks) $("chain-blocks").innerHTML = table(S.chainBlocks || [], { max: 100 });
  }

  // ---- ladder: a fixed number of rows per side, so nothing moves when levels come and go
  function ladderRows() { return Math.max(4, Math.floor(($("ladder").clientHeight - 24) / 18 / 2)); }
  function renderLadder() {
    const el = $("ladder"), b = S.book, n = ladderRows();
    $("book-seq").textContent = b ? `seq ${int(b.seq)}` : "seq —";
    if (!b) { el.innerHTML = `<p class="empty">${S.bookError ? `no order book: ${esc(S.bookError)}` : S.simId ? "waiting for the book…" : noSimText()}</p>`; return; }
    const asks = [...b.asks.entries()].sort((x, y) => x[0] - y[0]).slice(0, n);
    const bids = [...b.bids.entries()].sort((x, y) => y[0] - x[0]).slice(0, n);
    const mine = new Map();
    for (const o of S.orders.values()) if (o.status === "open" && o.symbol === S.symbol && o.price != null) {
      const k = `${o.side}:${o.price}`; mine.set(k, (mine.get(k) || 0) + (o.open || 0));
    }
    let cum = 0; const askCum = asks.map(([, q]) => (cum += q)); const maxA = cum; cum = 0;
    const bidCum = bids.map(([, q]) => (cum += q)); const maxAll = Math.max(maxA, cum, 1);
    const now = performance.now();
    const row = (side, p, q, c) => {
      const k = `${side}:${p}`, my = mine.get(k), t = b.changed.get(k);
      return `<div class="row ${side === "sell" ? "ask" : "bid"}${t && now - t < 400 ? " flash" : ""}" data-price="${p}">` +
        `<div class="bar" style="width:${(100 * c / maxAll).toFixed(1)}%"></div>` +
        `<span class="mine">${my ? int(my) : ""}</span><span class="sz">${int(q)}</span><span class="px">${px(p)}</span><span>${int(c)}</span></div>`;
    };
    const blank = `<div class="row blank"></div>`;
    let html = "";
    for (let i = n - 1; i >= 0; i--) html += i < asks.length ? row("sell", asks[i][0], asks[i][1], askCum[i]) : blank;
    const ba = asks[0], bb = bids[0];
    const spread = ba && bb ? `spread ${px(ba[0] - bb[0])} · mid ${px((ba[0] + bb[0]) / 2)}` : "one-sided book";
    html += `<div class="spread num">${spread}</div>`;
    for (let i = 0; i < n; i++) html += i < bids.length ? row("buy", bids[i][0], bids[i][1], bidCum[i]) : blank;
    el.innerHTML = html;
  }
  $("ladder").addEventListener("click", (e) => {
    const r = e.target.closest(".row[data-price]");
    if (!r) return;
    $("f-price").value = px(Number(r.dataset.price));
    $("f-type").value = "limit";
  });

  // ---- depth chart: cumulative size by price, drawn on a canvas
  function renderDepth() {
    const c = $("depth"), b = S.book, dpr = window.devicePixelRatio || 1;
    const w = c.clientWidth, h = c.clientHeight;
    if (c.width !== Math.round(w * dpr) || c.height !== Math.round(h * dpr)) { c.width = Math.round(w * dpr); c.height = Math.round(h * dpr); }
    const g = c.getContext("2d");
    g.setTransform(dpr, 0, 0, dpr, 0, 0);
    g.clearRect(0, 0, w, h);
    if (!b || (!b.bids.size && !b.asks.size)) return;
    const bids = [...b.bids.entries()].sort((x, y) => y[0] - x[0]).slice(0, 40);
    const asks = [...b.asks.entries()].sort((x, y) => x[0] - y[0]).slice(0, 40);
    const cumul = (lv) => { let s = 0; return lv.map(([p, q]) => [p, (s += q)]); };
    const cb = cumul(bids), ca = cumul(asks);
    const lo = cb.length ? cb[cb.length - 1][0] : ca[0][0], hi = ca.length ? ca[ca.length - 1][0] : cb[0][0];
    const maxQ = Math.max(cb.length ? cb[cb.length - 1][1] : 0, ca.length ? ca[ca.length - 1][1] : 0, 1);
    const padL = 6, padR = 52, padT = 8, padB = 18;
    const X = (p) => padL + (hi === lo ? 0.5 : (p - lo) / (hi - lo)) * (w - padL - padR);
    const Y = (q) => h - padB - (q / maxQ) * (h - padT - padB);
    const area = (pts, stroke, fill) => {
      if (!pts.length) return;
      g.beginPath(); g.moveTo(X(pts[0][0]), Y(0));
      for (const [p, q] of pts) { g.lineTo(X(p), Y(q)); }
      g.lineTo(X(pts[pts.length - 1][0]), Y(0)); g.closePath();
      g.fillStyle = fill; g.fill(); g.strokeStyle = stroke; g.lineWidth = 1.5; g.stroke();
    };
    const steps = (pts) => { const out = []; let prev = 0; for (const [p, q] of pts) { out.push([p, prev], [p, q]); prev = q; } return out; };
    g.strokeStyle = "#222a36"; g.lineWidth = 1;
    for (let i = 1; i <= 3; i++) { const y = Y(maxQ * i / 4); g.beginPath(); g.moveTo(padL, y); g.lineTo(w - padR, y); g.stroke(); }
    area(steps(cb), "#26a69a", "rgba(38,166,154,.18)");
    area(steps(ca), "#ef5350", "rgba(239,83,80,.18)");
    g.fillStyle = "#7a8696"; g.font = "10px " + getComputedStyle(document.body).getPropertyValue("--mono");
    g.textAlign = "left";
    for (let i = 1; i <= 4; i++) g.fillText(int(Math.round(maxQ * i / 4)), w - padR + 4, Y(maxQ * i / 4) + 3);
    g.textAlign = "left"; g.fillText(px(lo), padL, h - 4);
    g.textAlign = "right"; g.fillText(px(hi), w - padR, h - 4);
    if (bids.length && asks.length) { g.textAlign = "center"; g.fillText(px((bids[0][0] + asks[0][0]) / 2), (X(bids[0][0]) + X(asks[0][0])) / 2, h - 4); }
    $("depth-legend").textContent = `bids ${int(cb.length ? cb[cb.length - 1][1] : 0)} · asks ${int(ca.length ? ca[ca.length - 1][1] : 0)} lots (40 levels)`;
  }

  // ---- trades: tape and candles
  function addTrade(t, live) {
    S.trades.unshift(t);
    if (S.trades.length > TAPE_ROWS) S.trades.length = TAPE_ROWS;
    const bucket = Math.floor(t.ts / 1e9 / CANDLE_S) * CANDLE_S, p = t.price * Number(inst().tick_size);
    S.volumes.set(bucket, (S.volumes.get(bucket) || 0) + t.quantity);
    const c = S.candles.get(bucket);
    const bar = c ? { time: bucket, open: c.open, high: Math.max(c.high, p), low: Math.min(c.low, p), close: p }
      : { time: bucket, open: p, high: p, low: p, close: p };
    S.candles.set(bucket, bar);
    if (live && S.series) {
      try { S.series.update(bar); S.volume.update(volBar(bucket)); } catch (_) { setCandles(); }
    }
    const acct = ordersAccount();
    if (acct && (t.buyer === acct || t.seller === acct)) mark("markers");
  }
  function renderTape() {
    const acct = ordersAccount();
    $("tape-count").textContent = S.trades.length ? `last ${S.trades.length}` : "";
    const n = Math.max(1, Math.floor($("tape").clientHeight / 18));
    $("tape").innerHTML = S.trades.slice(0, n).map((t) => {
      const mine = acct && (t.buyer === acct || t.seller === acct);
      return `<div class="row ${t.aggressor === "buy" ? "buy" : "sell"}${mine ? " mine" : ""}"><span>${clock(t.ts)}</span>` +
        `<span>${px(t.price)}</span><span>${int(t.quantity)}</span><span class="who" title="${esc(t.buyer)} → ${esc(t.seller)}">${esc(short(t.buyer))} → ${esc(short(t.seller))}</span></div>`;
    }).join("") || `<p class="empty">no trades yet</p>`;
  }
  function renderStats() {
    const t = S.trades[0];
    $("stat-last").textContent = t ? px(t.price) : "—";
    let v = 0, n = 0;
    for (const x of S.trades) { v += x.quantity; n += x.quantity * x.price; }
    $("stat-volume").textContent = int(v);
    $("stat-vwap").textContent = v ? px(n / v) : "—";
    const c = [...S.candles.values()].pop();
    $("chart-legend").textContent = c ? `${S.symbol}  O ${c.open.toFixed(decimals(inst().tick_size))}  H ${c.high.toFixed(decimals(inst().tick_size))}  L ${c.low.toFixed(decimals(inst().tick_size))}  C ${c.close.toFixed(decimals(inst().tick_size))}` : S.symbol;
  }
  function initChart() {
    const L = window.LightweightCharts, el = $("chart");
    if (!L) { el.innerHTML = `<p class="notice">charts unavailable: lightweight-charts is not installed on the server (run npm ci / make setup)</p>`; return; }
    S.chart = L.createChart(el, {
      width: el.clientWidth, height: el.clientHeight,
      layout: { background: { type: "solid", color: "#11151c" }, textColor: "#7a8696", fontFamily: getComputedStyle(document.body).getPropertyValue("--mono"), fontSize: 10, attributionLogo: false },
      grid: { vertLines: { color: "#1a2029" }, horzLines: { color: "#1a2029" } },
      rightPriceScale: { borderColor: "#222a36" },
      timeScale: { borderColor: "#222a36", timeVisible: true, barSpacing: 9, rightOffset: 6, secondsVisible: true, tickMarkFormatter: (t) => clock(t * 1e9).slice(0, 8) },
      localization: { timeFormatter: (t) => clock(t * 1e9).slice(0, 8) },
      crosshair: { mode: 0 },
    });
    S.series = S.chart.addSeries(L.CandlestickSeries, {
      upColor: "#26a69a", downColor: "#ef5350", borderVisible: false, wickUpColor: "#26a69a", wickDownColor: "#ef5350",
      priceFormat: { type: "price", precision: 2, minMove: 0.01 },
    });
    S.volume = S.chart.addSeries(L.HistogramSeries, { priceScaleId: "vol", priceFormat: { type: "volume" }, lastValueVisible: false, priceLineVisible: false });
    S.chart.priceScale("vol").applyOptions({ scaleMargins: { top: 0.82, bottom: 0 }, visible: false });
    S.series.priceScale().applyOptions({ scaleMargins: { top: 0.06, bottom: 0.22 } });
    S.markers = L.createSeriesMarkers ? L.createSeriesMarkers(S.series, []) : null;
    new ResizeObserver(() => { if (el.clientWidth && el.clientHeight) S.chart.resize(el.clientWidth, el.clientHeight); }).observe(el);
  }
  function volBar(t) {
    const c = S.candles.get(t);
    return { time: t, value: S.volumes.get(t) || 0, color: c && c.close < c.open ? "rgba(239,83,80,.35)" : "rgba(38,166,154,.35)" };
  }
  function setCandles() {
    if (!S.series) return;
    S.series.setData([...S.candles.values()]);
    S.volume.setData([...S.candles.keys()].map(volBar));
    S.chart.timeScale().scrollToRealTime();
  }
  function renderChart() {
    if (!S.series) return;
    const d = decimals(inst().tick_size);
    S.series.applyOptions({ priceFormat: { type: "price", precision: d, minMove: Number(inst().tick_size) } });
    if (S.candles.size && !S.series.data().length) setCandles();
  }
  function renderMarkers() {
    if (!S.markers) return;
    const acct = ordersAccount(), ms = [];
    const buckets = new Set(S.candles.keys());
    for (const f of S.fills) if (f.symbol === S.symbol) {
      const t = Math.floor(f.ts / 1e9 / CANDLE_S) * CANDLE_S;
      if (buckets.has(t)) ms.push({ time: t, position: f.side === "buy" ? "belowBar" : "aboveBar", color: f.side === "buy" ? "#26a69a" : "#ef5350",
        shape: f.side === "buy" ? "arrowUp" : "arrowDown", text: `${f.side === "buy" ? "B" : "S"} ${f.quantity}@${px(f.price)}` });
    }
    if (!acct) { S.markers.setMarkers([]); return; }
    ms.sort((a, b) => a.time - b.time);
    S.markers.setMarkers(ms.slice(-100));
  }

  // ---------------------------------------------------------------- trading
  function ordersAccount() {
    if (!S.me) return null;
    if (S.me.role === "trader") return S.me.account;
    if (S.me.role === "admin") return $("f-account").value.trim() || null;
    return null;
  }
  function updateEntryState() {
    const ro = !S.me || S.me.role === "read";
    for (const el of $("order-form").querySelectorAll("input,select,button")) el.disabled = ro;
    $("entry-account").textContent = ro ? "read-only token: cannot trade" : `account ${ordersAccount() || "?"}`;
  }
  $("f-account").addEventListener("change", () => { updateEntryState(); S.orders.clear(); S.fills = []; refreshOwn(); if (S.ws) openStream(); });
  for (const b of document.querySelectorAll(".seg-btn")) b.addEventListener("click", () => setSide(b.dataset.side));
  function setSide(side) {
    S.side = side;
    for (const b of document.querySelectorAll(".seg-btn")) b.classList.toggle("active", b.dataset.side === side);
    const s = $("f-submit"); s.className = `submit ${side}`; s.textContent = side === "buy" ? "Buy" : "Sell";
  }
  $("f-type").addEventListener("change", () => { $("f-price").disabled = $("f-type").value === "market"; if ($("f-type").value === "market") $("f-tif").value = "ioc"; });
  function flash(text, bad) { const r = $("f-result"); r.textContent = text; r.className = "result " + (bad ? "bad" : "ok"); r.title = text; }
  $("order-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (!S.simId) { flash("no simulation selected", true); return; }
    const type = $("f-type").value, qty = Number($("f-qty").value);
    const body = { symbol: S.symbol, venue: S.venue || undefined, side: S.side, quantity: qty, order_type: type, tif: $("f-tif").value };
    if (type === "limit") {
      if ($("f-price").value.trim() === "" || !isFinite(Number($("f-price").value))) { flash("price: a number is needed for a limit order", true); return; }
      body.price = toTicks($("f-price").value);
    }
    if (S.me.role === "admin") body.account = ordersAccount();
    try {
      const o = await api(`/v1/sims/${S.simId}/orders`, { method: "POST", body });
      S.orders.set(o.order_id, o);
      flash(`#${o.order_id} ${o.side} ${o.quantity} ${o.symbol}${o.price != null ? " @ " + px(o.price) : ""}: ${o.status}${o.reason ? " (" + o.reason + ")" : ""}${o.filled ? `, filled ${o.filled}` : ""}`, o.status === "rejected");
      mark("own", "ladder"); scheduleFills();
    } catch (err) { flash(err.message, true); }
  });
  for (const b of document.querySelectorAll(".subtab")) b.addEventListener("click", () => {
    S.sub = b.dataset.sub;
    for (const x of document.querySelectorAll(".subtab")) x.classList.toggle("active", x === b);
    renderOwn();
  });
  async function refreshOwn() {
    const acct = ordersAccount();
    if (!S.simId || !acct) { renderOwn(); return; }
    try {
      const q = S.me.role === "admin" ? `?account=${encodeURIComponent(acct)}` : "";
      const [orders, fills] = await Promise.all([api(`/v1/sims/${S.simId}/orders${q}`), api(`/v1/sims/${S.simId}/fills${q}`)]);
      for (const o of orders) S.orders.set(o.order_id, o);
      S.fills = fills;
    } catch (_) { /* shown by the next action */ }
    mark("own", "markers", "ladder");
  }
  function scheduleFills() { clearTimeout(S.fillTimer); S.fillTimer = setTimeout(refreshOwn, 150); }
  function renderOwn() {
    const el = $("own-orders"), all = [...S.orders.values()].sort((a, b) => b.order_id - a.order_id);
    const open = all.filter((o) => o.status === "open" || o.status === "pending");
    $("n-open").textContent = open.length; $("n-fills").textContent = S.fills.length;
    if (!ordersAccount()) { el.innerHTML = `<p class="empty">${S.me && S.me.role === "read" ? "a trader token shows its orders here" : "name an account"}</p>`; return; }
    if (S.sub === "fills") {
      const rows = S.fills.slice().reverse().map((f) => ({ time: clock(f.ts), side: f.side, symbol: f.symbol, qty: f.quantity, price: px(f.price), liq: f.liquidity, order: f.order_id, fee: f.fee }));
      el.innerHTML = table(rows); colorSides(el); return;
    }
    const list = S.sub === "orders" ? open : all;
    if (!list.length) { el.innerHTML = `<p class="empty">${S.sub === "orders" ? "no open orders" : "no orders yet"}</p>`; return; }
    el.innerHTML = `<table><thead><tr><th class="n">id</th><th>side</th><th>sym</th><th class="n">price</th><th class="n">filled/qty</th><th>status</th><th></th></tr></thead><tbody>` +
      list.slice(0, 200).map((o) => `<tr data-oid="${o.order_id}"><td class="n">${o.order_id}</td><td class="${o.side}">${o.side}</td><td title="${esc(o.symbol)}">${esc(short(o.symbol, 9))}</td>` +
        `<td class="n">${o.price != null ? px(o.price) : "mkt"}</td><td class="n">${int(o.filled)}/${int(o.quantity)}</td>` +
        `<td title="${esc(o.reason || "")}">${esc(o.status)}</td><td>${o.status === "open" ? `<button class="x cancel" data-oid="${o.order_id}" title="cancel order ${o.order_id}">cancel</button>` : ""}</td></tr>`).join("") + `</tbody></table>`;
  }
  function colorSides(el) { for (const td of el.querySelectorAll("td")) if (td.textContent === "buy" || td.textContent === "sell") td.classList.add(td.textContent); }
  $("own-orders").addEventListener("click", async (e) => {
    const b = e.target.closest("button.cancel");
    if (!b) return;
    try { const o = await api(`/v1/sims/${S.simId}/orders/${b.dataset.oid}`, { method: "DELETE" }); S.orders.set(o.order_id, o); flash(`#${o.order_id} ${o.status}`); mark("own", "ladder"); }
    catch (err) { flash(err.message, true); }
  });

  // ---------------------------------------------------------------- PnL
  // GET /v1/sims/{id}/pnl: one row per agent (or account) and quote currency; optional columns shown when present.
  async function refreshPnl() {
    if (!S.simId) { $("pnl").innerHTML = `<p class="empty">no simulation</p>`; return; }
    const r = await maybe(simPath("/pnl")).catch((e) => ({ na: e.message }));
    if (r.na) { $("pnl").innerHTML = na(r.na); return; }
    const rows = listOf(r.data).slice().sort((a, b) => (b.pnl_value ?? 0) - (a.pnl_value ?? 0));
    if (!rows.length) { $("pnl").innerHTML = `<p class="empty">no agents</p>`; return; }
    const acct = ordersAccount(), has = (k) => rows.some((x) => x[k] != null);
    const cols = [["agent", "agent"], ["group", "group"], ["currency", "ccy"]];
    const nums = [["pnl_value", "pnl"], ["realized_value", "realized"], ["unrealized_value", "unrealized"], ["fills", "fills"]].filter(([k]) => has(k));
    const head = cols.map(([, t]) => `<th>${t}</th>`).join("") + nums.map(([, t]) => `<th class="n">${t}</th>`).join("") + (has("positions") ? "<th>position (lots)</th>" : "");
    const body = rows.map((x) => {
      const who = x.agent ?? x.account ?? "";
      const cls = round2(x.pnl_value ?? 0) > 0 ? "pos" : round2(x.pnl_value ?? 0) < 0 ? "neg" : "";
      const pos = x.positions ? Object.entries(x.positions).filter(([, q]) => q).map(([sy, q]) => `${sy} ${q > 0 ? "+" : ""}${int(q)}`).join(" ") || "flat" : null;
      return `<tr${who === acct ? ' class="sel"' : ""}><td title="${esc(who)}">${esc(short(who, 20))}</td><td>${esc(x.group ?? "")}</td><td>${esc(x.currency ?? "")}</td>` +
        nums.map(([k], i) => `<td class="n${i === 0 ? " " + cls : ""}">${k === "fills" ? int(x[k]) : money(x[k])}</td>`).join("") +
        (pos != null ? `<td title="${esc(pos)}">${esc(short(pos, 24))}</td>` : "") + "</tr>";
    }).join("");
    $("pnl").innerHTML = `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  }

  // ---------------------------------------------------------------- tabs: consensus, settlement, chain, runs
  for (const b of document.querySelectorAll(".tab")) b.addEventListener("click", () => {
    S.tab = b.dataset.tab;
    for (const x of document.querySelectorAll(".tab")) x.classList.toggle("active", x === b);
    for (const v of document.querySelectorAll(".view")) v.hidden = v.id !== `view-${S.tab}`;
    if (S.tab === "market") mark("ladder", "depth", "tape");
    refreshTab();
  });
  async function refreshTab() {
    try {
      if (S.tab === "consensus") await loadConsensus();
      else if (S.tab === "settlement") await loadSettlement();
      else if (S.tab === "chain") await loadChain();
      else if (S.tab === "runs" && !S.runsLoaded) await loadRuns();
    } catch (e) { if (e.message !== "unauthorized") console.warn(e); }
  }
  const simPath = (p) => `/v1/sims/${encodeURIComponent(S.simId)}${p}`;
  function noSimText() {  // what an empty server means, and how to get a simulation
    return S.me && S.me.role === "admin" ? "no simulation: pick a scenario above and press “start”"
      : "no simulation on this server yet (an admin token starts one)";
  }
  function noSim(...ids) { for (const id of ids) $(id).innerHTML = `<p class="empty">no simulation selected</p>`; }
  async function loadConsensus() {
    if (!S.simId) return noSim("cons-summary", "cons-rounds", "cons-certs");
    const [sum, rounds, certs] = await Promise.all([maybe(simPath("/consensus")), maybe(simPath("/consensus/rounds?limit=100")), maybe(simPath("/consensus/certificates?limit=100"))]);
    $("cons-summary").innerHTML = sum.na ? na(sum.na) : anyView(sum.data);
    const validators = !sum.na && sum.data && Array.isArray(sum.data.validators) ? sum.data.validators : [];
    $("cons-rounds").innerHTML = rounds.na ? na(rounds.na) : voteMatrix(listOf(rounds.data).slice().reverse(), validators);
    const certRows = certs.na ? [] : listOf(certs.data).slice().reverse().map((c) => {
      if (!Array.isArray(c.signers)) return c;
      const names = new Map(validators.map((v) => [v.address, v.name]));
      return { ...c, signers: c.signers.map((a) => names.get(a) || a) };
    });
    $("cons-certs").innerHTML = certs.na ? na(certs.na) : table(certRows);
  }
  // Who voted what: one row per (height, round), one column per validator; ✓ approve, ✗ reject, ⚠ two
  // different digests of one kind from one validator in one round (equivocation).
  function voteMatrix(groups, validators) {
    if (!groups.length) return `<p class="empty">no votes yet</p>`;
    if (!groups[0] || !Array.isArray(groups[0].votes)) return table(groups);
    const names = validators.length ? validators.map((v) => v.name) : [...new Set(groups.flatMap((g) => g.votes.map((v) => v.voter)))];
    const abbr = (k) => ({ prevote: "pv", precommit: "pc", certificate: "sig", election: "el" }[k] || String(k).slice(0, 4));
    const head = `<th class="n">height</th><th class="n">round</th>` + names.map((n) => `<th>${esc(short(n, 12))}</th>`).join("");
    const body = groups.slice(0, 200).map((g) => {
      const by = new Map();
      for (const v of g.votes) { if (!by.has(v.voter)) by.set(v.voter, []); by.get(v.voter).push(v); }
      const cells = names.map((n) => {
        const vs = by.get(n) || [];
        if (!vs.length) return `<td class="vote none">·</td>`;
        const kinds = new Map();
        for (const v of vs) { if (!kinds.has(v.kind)) kinds.set(v.kind, new Set()); kinds.get(v.kind).add(v.digest); }
        const equiv = [...kinds.values()].some((d) => d.size > 1);
        const txt = [...kinds.keys()].map((k) => { const ok = vs.filter((v) => v.kind === k).every((v) => v.approve); return `${abbr(k)}${ok ? "✓" : "✗"}`; }).join(" ");
        const title = vs.map((v) => `${v.kind} ${v.approve ? "approve" : "reject"} ${v.digest ? String(v.digest).slice(0, 10) : ""}${v.reason ? " (" + v.reason + ")" : ""}${v.to ? " → " + v.to.length + " peers" : ""}`).join("\n");
        const bad = vs.some((v) => !v.approve);
        return `<td class="vote${equiv ? " equiv" : bad ? " no" : " yes"}" title="${esc(title)}">${esc(txt)}${equiv ? " ⚠" : ""}</td>`;
      }).join("");
      return `<tr><td class="n">${int(g.height)}</td><td class="n">${g.round == null ? "—" : int(g.round)}</td>${cells}</tr>`;
    }).join("");
    return `<table><thead><tr>${head}</tr></thead><tbody>${body}</tbody></table>`;
  }
  // A batch's lifecycle at a glance: one dot per stage reached (cut, certified, submitted, included, final).
  const STAGES = ["cut", "certified", "submitted", "included", "final"];
  function batchStage(b) {
    if (!STAGES.some((k) => `${k}_ns` in b)) return b;
    const reached = STAGES.filter((k) => b[`${k}_ns`] != null);
    const last = b.expired_ns != null ? "expired" : reached.length ? reached[reached.length - 1] : "open";
    const { sequence, trades, ...rest } = b;
    return { sequence, trades, lifecycle: STAGES.map((k) => (b[`${k}_ns`] != null ? "●" : "○")).join("") + " " + last, ...rest };
  }
  async function loadSettlement() {
    if (!S.simId) return noSim("set-summary", "set-batches", "set-trades", "set-events");
    const [sum, batches, trades] = await Promise.all([maybe(simPath("/settlement")), maybe(simPath("/settlement/batches?limit=200")), maybe(simPath("/settlement/trades?limit=200"))]);
    $("set-summary").innerHTML = sum.na ? na(sum.na) : anyView(sum.data);
    $("set-batches").innerHTML = batches.na ? na(batches.na) : table(listOf(batches.data).slice().reverse().map(batchStage));
    $("set-trades").innerHTML = trades.na ? na(trades.na) : table(listOf(trades.data).slice().reverse());
    $("set-events").innerHTML = sum.na ? na(sum.na) : table(S.setEvents || []);
  }
  async function loadChain() {
    if (!S.simId) return noSim("chain-blocks", "chain-txs", "chain-tx", "chain-misc");
    const [blocks, txs, contracts, pools, bridge] = await Promise.all([maybe(simPath("/chain/blocks?limit=100")), maybe(simPath("/chain/transactions?limit=100")),
      maybe(simPath("/chain/contracts")), maybe(simPath("/amm/pools")), maybe(simPath("/bridge/transfers"))]);
    if (!blocks.na) S.chainBlocks = listOf(blocks.data).slice().reverse();
    $("chain-blocks").innerHTML = blocks.na ? na(blocks.na) : table(S.chainBlocks);
    S.txRows = txs.na ? [] : listOf(txs.data).slice().reverse();
    const key = S.txRows.length && ("hash" in S.txRows[0] ? "hash" : "tx_hash" in S.txRows[0] ? "tx_hash" : null);
    S.txKey = key;
    $("chain-txs").innerHTML = txs.na ? na(txs.na) : table(S.txRows, { click: !!key, key: key || null, sel: S.selectedTx });
    if (!S.selectedTx) $("chain-tx").innerHTML = `<p class="empty">${txs.na ? "" : "pick a transaction"}</p>`;
    else if (!S.txShown) await showTx(S.selectedTx);
    const part = (title, r) => `<div class="section">${title}</div>` + (r.na ? na(r.na) : anyView(r.data));
    $("chain-misc").innerHTML = part("contracts", contracts) + part("AMM pools", pools) + part("bridge transfers", bridge);
  }
  $("chain-txs").addEventListener("click", async (e) => {
    const tr = e.target.closest("tr.click");
    if (!tr) return;
    S.selectedTx = tr.dataset.k; S.txShown = null;
    for (const x of $("chain-txs").querySelectorAll("tr")) x.classList.toggle("sel", x === tr);
    await showTx(S.selectedTx);
  });
  async function showTx(hash) {
    const r = await maybe(simPath(`/chain/transactions/${encodeURIComponent(hash)}`));
    if (hash !== S.selectedTx) return;  // another one was picked meanwhile
    S.txShown = hash;
    if (r.na) { $("chain-tx").innerHTML = na(r.na); return; }
    const { events, ...rest } = r.data || {};
    const evRows = Array.isArray(events) ? events.map((e) => ({ log_index: e.log_index, contract: e.contract, event: e.event || "(undecoded)",
      args: e.args ? Object.entries(e.args).map(([k, v]) => `${k}=${typeof v === "object" ? JSON.stringify(v) : v}`).join(", ") : (e.data || "") })) : null;
    $("chain-tx").innerHTML = anyView(rest) + (evRows ? `<div class="section">decoded events (${evRows.length})</div>` + table(evRows) : "");
  }

  // ---- runs browser: the run index, a run's headline figures, plots, reports and tables
  async function loadRuns() {
    S.runsLoaded = true;
    const runs = await api("/v1/runs?limit=200");
    const rows = runs.map((r) => ({ run_id: r.run_id, scenario: r.scenario, seed: r.seed, status: r.status, trades: r.trades, finished: (r.finished_at || "").replace("T", " ").slice(0, 19) }));
    $("runs-list").innerHTML = rows.length ? table(rows, { click: true, key: "run_id", sel: S.selectedRun }) : `<p class="empty">no stored runs (market-sim run … writes them)</p>`;
  }
  $("runs-refresh").addEventListener("click", () => loadRuns());
  $("runs-list").addEventListener("click", (e) => {
    const tr = e.target.closest("tr.click");
    if (!tr) return;
    for (const x of $("runs-list").querySelectorAll("tr")) x.classList.toggle("sel", x === tr);
    openRun(tr.dataset.k);
  });
  async function openRun(id) {
    S.selectedRun = id;
    for (const u of S.blobs) URL.revokeObjectURL(u);
    S.blobs = [];
    const r = await api(`/v1/runs/${encodeURIComponent(id)}`);
    $("run-title").textContent = r.run_id;
    const m = r.metrics && typeof r.metrics.market === "object" ? r.metrics.market : (r.metrics || {});
    const figs = r.headline.map((h) => [h.label, h.value, h.path]);
    const market = [["simulated (s)", m.duration_ns != null ? m.duration_ns / 1e9 : null], ["agents", m.agents], ["orders", m.orders],
      ["trades", m.trades], ["volume (lots)", m.volume], ["kernel events", (r.metrics || {}).events ?? m.events],
      ["events / s", (r.metrics || {}).events_per_second ?? m.events_per_second], ["wall time (s)", (r.metrics || {}).wall_seconds ?? m.wall_seconds]];
    for (const [k, v] of market) if (v != null) figs.push([k, v, k]);
    const fmt = (v) => typeof v === "number" ? (Number.isInteger(v) ? int(v) : Number(v.toPrecision(5)).toLocaleString("en-US")) : v;
    const head = figs.map(([k, v, p]) => `<div class="cell"><div class="k" title="${esc(p)}">${esc(k)}</div><div class="v">${esc(fmt(v))}</div></div>`).join("");
    const symRows = Object.entries(m.symbols || {}).map(([s, x]) => ({ symbol: s, ...x }));
    const groups = Object.entries(m.pnl_by_group || {}).map(([g, v]) => ({ group: g, pnl: v }));
    const meta = { scenario: r.scenario, seed: r.seed, status: r.status, started: r.started_at, finished: r.finished_at, overrides: r.overrides.join(" ") || "—", error: r.error };
    $("run-detail").innerHTML = `<div class="section">run</div>${kv(meta)}<div class="section">headline</div><div class="headline" id="run-headline">${head || '<p class="empty">no headline figures</p>'}</div>` +
      (symRows.length ? `<div class="section">instruments</div>${table(symRows)}` : "") +
      (groups.length ? `<div class="section">PnL by agent group (currency units)</div>${table(groups)}` : "") +
      (r.reports.length ? `<div class="section">reports</div><div class="chips">${r.reports.map((f) => `<button class="report" data-f="${esc(f)}">${esc(f)}</button>`).join("")}</div>` : "") +
      `<div class="section">plots</div><div class="plots" id="run-plots">${r.plots.map((p) => `<figure><img alt="${esc(p)}" data-f="${esc(p)}"><figcaption>${esc(p)}</figcaption></figure>`).join("") || '<p class="empty">no plots</p>'}</div>` +
      `<div class="section">tables</div><div class="chips">${r.tables.map((t) => `<button class="tbl" data-t="${esc(t)}">${esc(t)}</button>`).join("")}</div><div id="run-table"></div>`;
    for (const img of $("run-plots").querySelectorAll("img")) {
      api(`/v1/runs/${encodeURIComponent(r.run_id)}/files/${encodeURIComponent(img.dataset.f)}`, { raw: true })
        .then((b) => { const u = URL.createObjectURL(b); S.blobs.push(u); img.src = u; }).catch(() => { img.alt = "could not load"; });
    }
    S.runDetail = r;
  }
  $("run-detail").addEventListener("click", async (e) => {
    const r = S.runDetail;
    const t = e.target.closest("button.tbl"), rep = e.target.closest("button.report");
    if (t) {
      const page = await api(`/v1/runs/${encodeURIComponent(r.run_id)}/tables/${encodeURIComponent(t.dataset.t)}?limit=100`);
      const rows = page.rows.map((row) => Object.fromEntries(page.columns.map((c, i) => [c, row[i]])));
      $("run-table").innerHTML = `<div class="section">${esc(page.table)} · first ${rows.length} of ${int(page.total)} rows</div>` + table(rows, { max: 100 });
    } else if (rep) {
      const blob = await api(`/v1/runs/${encodeURIComponent(r.run_id)}/files/${encodeURIComponent(rep.dataset.f)}`, { raw: true });
      let html = await blob.text();
      if (rep.dataset.f.endsWith(".md")) html = `<pre style="white-space:pre-wrap;font:12px monospace;padding:12px">${esc(html)}</pre>`;
      const u = URL.createObjectURL(new Blob([html], { type: "text/html" })); S.blobs.push(u);
      $("report-name").textContent = `${r.run_id} / ${rep.dataset.f}`;
      $("report-frame").src = u; $("report-modal").hidden = false;
    }
  });
  $("report-close").addEventListener("click", () => { $("report-modal").hidden = true; $("report-frame").src = "about:blank"; });

  // ---------------------------------------------------------------- periodic refresh (REST panels), layout
  setInterval(async () => {
    if (!S.me || document.hidden) return;
    try {
      if (S.simId) { updateSim(await api(`/v1/sims/${encodeURIComponent(S.simId)}`)); if (S.now == null || S.sim.now_ns > S.now) S.now = S.sim.now_ns; }
      if (S.tab === "market") refreshPnl();
      else if (S.tab !== "runs") refreshTab();
    } catch (_) { /* next tick */ }
  }, 2000);
  setInterval(() => { if (S.me && !document.hidden) refreshSims(false).catch(() => {}); }, 5000);
  setInterval(() => { if (S.book && S.book.changed.size) { const now = performance.now(); for (const [k, t] of S.book.changed) if (now - t > 400) S.book.changed.delete(k); mark("ladder"); } }, 500);
  new ResizeObserver(() => mark("ladder", "depth", "tape")).observe($("view-market"));

  // `market-sim desktop` offers its in-process token as window.MARKET_SIM_TOKEN and waits for marketSimReady.
  window.marketSimReady = false;
  initChart();
  setSide("buy");
  if (S.token) {
    start().catch((e) => {
      document.title = `market_sim · refused ${e.status || e.message}`;
      showLogin(e.message === "unauthorized" ? "the stored token was refused" : e.message);
    })
      .finally(() => { window.marketSimReady = true; });
  } else { showLogin(""); window.marketSimReady = true; }
})();
