// The one client library of the livecart pages: a room socket that connects, keeps a view of the room,
// notices a dead link, and resumes from its offset after any drop, forever. No DOM in here (see dom.js).
// The algorithm is docs/protocol.md §11; the close codes are §8 (close_codes.js, generated from
// livecart/errors.py).

import { RESYNC, TERMINAL_CLOSE_CODES } from "./close_codes.js";

export { RESYNC, TERMINAL_CLOSE_CODES };

const BACKOFF_BASE_MS = 500;
const BACKOFF_CAP_MS = 10_000; // an overlay on air should come back within seconds of the node
const PING_EVERY_MS = 4_000; // browsers cannot send websocket pings: ping at application level
const DEAD_AFTER_MS = 10_000; // nothing at all (not even a pong) for this long: the link is dead
const FAILED_OPENS_BEFORE_CHECK = 3; // a refused upgrade looks like 1006: ask HTTP why (§11 rule 7)
const REQUEST_TIMEOUT_MS = 10_000;
const KEEP_EVENTS = 200;
const KEEP_CUES = 200; // as many as GET …/cues lists
/** Server frames that answer a message this client sent (matched by `req`). */
const REPLY_TYPES = new Set(["pong", "claim_result", "comment_result", "ack_result", "vote_result", "show_result",
  "error", "bag_claim_result", "bag_entry"]); // (bag_entry follows a comment_result: it reaches onReply)
const KEEP_SHOWS = 200; // the console's review queue (staff sockets)

/** The room as this client knows it: plain data, changed only by `apply(frame)`. */
export class RoomState {
  constructor() {
    this.epoch = null;
    this.last = null; // offset of the last event applied
    this.counters = {};
    this.deals = new Map();
    this.pinned = null;
    this.highlight = null;
    this.announcement = null;
    this.bag = null; // the room's current lucky bag (a BAG map), or null
    this.won = null; // the newest `won` frame of this socket's user (lucky bags), or null
    this.goals = null; // the room's goals (armed and fired), docs/protocol.md "Goals"
    this.currency = null; // the room's ISO 4217 code: what every amount of it is in
    this.events = []; // newest last, at most KEEP_EVENTS
    this.cues = []; // host and assistant sockets only; oldest first, replaced by id
    this.stats = null; // the newest live `stats` (sockets opened with stats: true), or null
    this.poll = null; // the room's current POLL map (open, or the last one closed), or null
    this.wall = null; // {shows: [...]}: the approved buyer shows on the wall, or null
    this.shows = new Map(); // staff sockets: buyer shows posted or reviewed since the page opened, by id
    this.showPrompt = null; // a viewer's own socket: "share a show?" after their paid order
    this.invites = null; // the invite board (staff sockets; overlays when shown there), or null
  }

  /** Apply one server frame. Returns "hole" when an event is missing (the caller resumes), "ignored"
   *  for a frame type this version does not know. */
  apply(frame) {
    switch (frame.type) {
      case "snapshot":
        this.epoch = frame.epoch;
        this.last = frame.offset;
        this.counters = { ...frame.counters };
        this.deals = new Map(frame.deals.map((d) => [d.id, d]));
        this.events = [...(frame.recent || [])].slice(-KEEP_EVENTS);
        this.applyStage(frame);
        return "reset";
      case "recovered":
        // The events up to frame.offset are still on their way: `last` moves with them, not here.
        this.counters = { ...frame.counters };
        for (const deal of frame.deals || []) this.deals.set(deal.id, deal);
        this.applyStage(frame);
        return "state";
      case "batch":
        for (const event of frame.events) {
          if (event.offset <= this.last) continue;
          if (event.offset !== this.last + 1) return "hole";
          this.events.push(event);
          this.last = event.offset;
        }
        if (this.events.length > KEEP_EVENTS) this.events.splice(0, this.events.length - KEEP_EVENTS);
        if (frame.counters) Object.assign(this.counters, frame.counters);
        for (const deal of frame.deals || []) this.deals.set(deal.id, deal);
        for (const cue of frame.cues || []) this.addCue(cue);
        this.applyStage(frame);
        return "state";
      case "cue": // made, or made again with acked_at set: replace by id
        this.addCue(frame.cue);
        return "state";
      case "ack_result":
        if (frame.ok && frame.cue) this.addCue(frame.cue);
        return "state";
      case "stats":
        this.stats = frame.stats;
        return "stats";
      case "won": // this user won a lucky bag: only their own sockets get it
        this.won = frame;
        return "state";
      case "show": // staff: a show was posted or reviewed
        this.shows.set(frame.show.id, frame.show);
        if (this.shows.size > KEEP_SHOWS) this.shows.delete(this.shows.keys().next().value);
        return "shows";
      case "show_prompt": // this viewer paid: offer them a show
        this.showPrompt = frame;
        return "prompt";
      case "invites":
        this.applyInvites(frame.invites);
        return "invites";
      default:
        // The contract lets the server add frame types: an older page ignores what it does not know.
        return "ignored";
    }
  }

  /** The invite board from a frame or GET …/invites: the highest `seq` wins (two nodes' messages, or a
   * listing read before a frame, may arrive out of order). */
  applyInvites(board) {
    if (board && (!this.invites || board.seq >= this.invites.seq)) this.invites = { ...this.invites, ...board };
  }

  applyStage(frame) {
    for (const name of ["pinned", "highlight", "announcement", "bag", "currency", "poll", "wall", "goals"]) {
      if (name in frame) this[name] = frame[name];
    }
  }

  /** Add a cue or replace the one with its id. An ack happens once, so a copy without `acked_at`
   * (a GET …/cues answer read before the ack) never replaces an acked one. */
  addCue(cue) {
    if (!cue || typeof cue.id !== "string") return;
    const at = this.cues.findIndex((c) => c.id === cue.id);
    if (at >= 0) {
      if (this.cues[at].acked_at && !cue.acked_at) return;
      this.cues[at] = { ...this.cues[at], ...cue };
      return;
    }
    this.cues.push(cue);
    if (this.cues.length > KEEP_CUES) this.cues.shift();
  }

  /** Cues listed by GET …/cues (oldest first), merged by id. */
  mergeCues(cues) {
    for (const cue of cues || []) this.addCue(cue);
  }

  /** The deal a stage should show: live first, then the newest sold-out or scheduled one. */
  featuredDeal() {
    const rank = { live: 0, sold_out: 1, scheduled: 2 };
    let best = null;
    for (const deal of this.deals.values()) {
      if (!(deal.state in rank)) continue;
      if (!best || rank[deal.state] < rank[best.state]
          || (rank[deal.state] === rank[best.state] && deal.created_at > best.created_at)) best = deal;
    }
    return best;
  }
}

/**
 * A room socket that never gives up (except on a terminal close code).
 *
 *   const conn = new RoomConnection({ room, token, onChange, onStatus, onEvent });
 *   conn.start();
 *
 * onChange(state, why)   after every frame that changed the view ("reset" | "state")
 * onEvent(event)         each new room event, once, in offset order (not for snapshot history)
 * onStatus(status, info) "connecting" | "live" | "retrying" | "stopped" (info: {code, reason})
 * onReply(frame)         a reply nobody waits for (an `error` without a pending `req`, ...)
 *
 * Host and assistant pages pass `cues: true` (after every first frame, GET …/cues fills in the cues
 * made while the socket was away; onChange(state, "cues") follows) and `stats: true` (the socket
 * asks for live `stats` frames, kept in state.stats; onChange(state, "stats")).
 */
export class RoomConnection {
  constructor({ room, token, onChange = () => {}, onEvent = () => {}, onStatus = () => {},
                onReply = () => {}, baseUrl = location.origin, cues = false, stats = false }) {
    this.room = room;
    this.token = token;
    this.state = new RoomState();
    this.onChange = onChange;
    this.onEvent = onEvent;
    this.onStatus = onStatus;
    this.onReply = onReply;
    this.baseUrl = baseUrl;
    this.wantCues = cues;
    this.wantStats = stats;
    this.clockOffsetMs = 0; // server time - local time
    this.ws = null;
    this.attempt = 0;
    this.failedOpens = 0;
    this.lastHeard = 0;
    this.stopped = false;
    this.pending = new Map(); // req -> {resolve, timer}
    this.seq = 0;
    this.timers = { ping: null, retry: null };
  }

  /** Server time now, in ms: use it for every countdown. */
  now() {
    return Date.now() + this.clockOffsetMs;
  }

  start() {
    this.stopped = false;
    this.connect();
    this.timers.ping = setInterval(() => this.ping(), PING_EVERY_MS);
  }

  stop(code = 1000, reason = "") {
    this.stopped = true;
    clearInterval(this.timers.ping);
    clearTimeout(this.timers.retry);
    this.drop();
    this.onStatus("stopped", { code, reason });
  }

  connect() {
    const q = new URLSearchParams({ token: this.token, format: "json" });
    if (this.state.epoch !== null && this.state.last !== null) {
      q.set("since", String(this.state.last));
      q.set("epoch", this.state.epoch);
    }
    if (this.wantStats) q.set("stats", "1");
    const url = `${this.baseUrl.replace(/^http/, "ws")}/ws/rooms/${encodeURIComponent(this.room)}?${q}`;
    this.onStatus("connecting", {});
    const ws = new WebSocket(url);
    this.ws = ws;
    this.lastHeard = Date.now();
    let opened = false;
    ws.onopen = () => { opened = true; this.failedOpens = 0; this.ping(); };
    ws.onmessage = (message) => this.receive(message.data);
    ws.onclose = (event) => { if (this.ws === ws) this.closed(event.code, event.reason, opened); };
  }

  /** Forget the current socket without waiting for its close handshake (it may be dead). */
  drop() {
    const ws = this.ws;
    this.ws = null;
    if (ws) {
      ws.onopen = ws.onmessage = ws.onclose = null;
      try { ws.close(); } catch { /* already closing */ }
    }
  }

  closed(code, reason, opened) {
    this.drop();
    if (this.stopped) return;
    if (TERMINAL_CLOSE_CODES.has(code)) {
      this.stop(code, reason || TERMINAL_CLOSE_CODES.get(code));
      return;
    }
    if (code === RESYNC) { this.state.epoch = null; this.state.last = null; }
    if (!opened && ++this.failedOpens >= FAILED_OPENS_BEFORE_CHECK) this.checkToken();
    const delay = Math.random() * Math.min(BACKOFF_CAP_MS, BACKOFF_BASE_MS * 2 ** this.attempt++);
    this.onStatus("retrying", { code, reason, delay });
    clearTimeout(this.timers.retry);
    this.timers.retry = setTimeout(() => this.connect(), delay);
  }

  /** A refused upgrade only shows as 1006; the same token over HTTP says whether it is the token. */
  async checkToken() {
    this.failedOpens = 0;
    try {
      const response = await fetch(`${this.baseUrl}/api/rooms/${encodeURIComponent(this.room)}/state`,
                                   { headers: { Authorization: `Bearer ${this.token}` } });
      if (response.status === 401 || response.status === 403) {
        const body = await response.json();
        this.stop(4001, body.detail || "token refused");
      }
    } catch { /* the node is down: keep retrying */ }
  }

  ping() {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return;
    if (Date.now() - this.lastHeard > DEAD_AFTER_MS) {
      this.closed(1006, "no answer to pings", true); // resume at once instead of waiting on TCP
      return;
    }
    this.send({ type: "ping", req: `ping:${Date.now()}` });
  }

  send(message) {
    if (!this.ws || this.ws.readyState !== WebSocket.OPEN) return false;
    this.ws.send(JSON.stringify(message));
    return true;
  }

  /** Send a message with a `req` and wait for the reply carrying it (claim_result, error, ...). */
  request(message) {
    const req = message.req || `r${Date.now().toString(36)}-${++this.seq}`;
    return new Promise((resolve) => {
      if (!this.send({ ...message, req })) {
        resolve({ type: "error", error: "offline", temporary: true, req });
        return;
      }
      const timer = setTimeout(() => {
        this.pending.delete(req);
        resolve({ type: "error", error: "timeout", temporary: true, req });
      }, REQUEST_TIMEOUT_MS);
      this.pending.set(req, { resolve, timer });
    });
  }

  receive(data) {
    this.lastHeard = Date.now();
    const frame = JSON.parse(data);
    if (typeof frame.now === "number") {
      this.clockOffsetMs = frame.type === "pong" ? this.pongOffset(frame) : frame.now - Date.now();
    }
    if (frame.type === "pong") return;
    if (frame.type === "ack_result") {
      this.state.apply(frame); // the acked cue, before whoever waits for the answer looks at it
      this.onChange(this.state, "state");
    }
    if (REPLY_TYPES.has(frame.type)) {
      this.reply(frame);
      return;
    }
    const before = this.state.last;
    const why = this.state.apply(frame);
    if (why === "hole") {
      this.closed(1006, "missing event", true); // resume from the last event we have
      return;
    }
    if (why === "ignored") return;
    if (frame.type === "snapshot" || frame.type === "recovered") {
      this.attempt = 0;
      this.onStatus("live", { recovered: frame.type === "recovered" });
      if (this.wantCues) this.loadCues();
    }
    if (frame.type === "batch") {
      for (const event of frame.events) if (event.offset > before) this.onEvent(event);
    }
    this.onChange(this.state, why);
  }

  /** GET …/cues: the cues made before this socket joined (or while it was away), merged by id. Cue
   * frames that arrive meanwhile win over the listing where it is older (see RoomState.addCue). */
  async loadCues() {
    const ws = this.ws;
    try {
      const response = await fetch(`${this.baseUrl}/api/rooms/${encodeURIComponent(this.room)}/cues`,
                                   { headers: { Authorization: `Bearer ${this.token}` } });
      if (!response.ok || this.ws !== ws) return;
      const body = await response.json();
      this.state.mergeCues(body.cues);
      this.onChange(this.state, "cues");
    } catch { /* the node went away: the next first frame loads them again */ }
  }

  /** Mark a cue done on the server: the socket's `ack`, or the HTTP route when the socket cannot
   * answer. Resolves to {ok: true, cue} or {ok: false, error}. Every host and assistant socket then
   * gets the acked cue (this one too, in the `ack_result`). */
  async ack(cueId) {
    const reply = await this.request({ type: "ack", cue: cueId });
    if (reply.type === "ack_result") return { ok: Boolean(reply.ok), cue: reply.cue };
    if (reply.error !== "offline" && reply.error !== "timeout") return { ok: false, error: reply.error };
    try {
      const response = await fetch(
        `${this.baseUrl}/api/rooms/${encodeURIComponent(this.room)}/cues/${encodeURIComponent(cueId)}/ack`,
        { method: "POST", headers: { Authorization: `Bearer ${this.token}` } });
      const body = await response.json();
      if (!response.ok) return { ok: false, error: body.error || String(response.status) };
      this.state.addCue(body.cue);
      this.onChange(this.state, "state");
      return { ok: true, cue: body.cue };
    } catch {
      return { ok: false, error: "offline" };
    }
  }

  pongOffset(frame) {
    const sent = Number(String(frame.req || "").split(":")[1]);
    const received = Date.now();
    const half = Number.isFinite(sent) ? (received - sent) / 2 : 0;
    return frame.now + half - received;
  }

  reply(frame) {
    const waiting = frame.req != null ? this.pending.get(frame.req) : undefined;
    if (waiting) {
      clearTimeout(waiting.timer);
      this.pending.delete(frame.req);
      waiting.resolve(frame);
    } else {
      this.onReply(frame);
    }
  }
}
