// The assistant console: runs the deals, watches the numbers and the chat, talks to the overlay and the
// host. Every action is a plain HTTP call with the page's token; the room socket keeps the view live.
// Keyboard: every control is a native button or input (Tab / Enter / Space); "/" jumps to the filter.
// Cues: the panel lists the room's recent cues (manual and rule cues, newest first) with their kind and
// whether they are done; an assistant may mark one done too, and every host screen then drops it.
// Live numbers: the socket asks for `stats` frames (last minute: viewers, comments, orders, GMV, claims).

import { RoomConnection } from "../lib/livecart.js";
import { countdown, cueText, everyFrame, fill, h, money, setText } from "../lib/dom.js";
import { translator } from "../lib/i18n.js";
import { api, newIdempotencyKey, pageParams, roomPath } from "../lib/page.js";

const PRICE_FLOOR = 0.1; // server's price_floor: below this share of list price, ask before creating
const FEED_MAX = 200;
const WRITE_ATTEMPTS = 3; // a write tried again (same Idempotency-Key) while the node is away or busy
const CUES_SHOWN = 100;
const REASONS = ["sold_out", "limit_reached", "not_live", "ended", "invalid_qty"];
const $ = (id) => document.getElementById(id);

function translatePage(t) {
  for (const node of document.querySelectorAll("[data-t]")) setText(node, t(node.dataset.t));
  for (const node of document.querySelectorAll("[data-t-placeholder]")) {
    node.placeholder = t(node.dataset.tPlaceholder);
  }
}

function toast(text, kind = "ok") {
  const node = $("toast");
  node.className = kind;
  setText(node, text);
}

function refusal(t, reply) {
  const body = reply.body || {};
  return `${t("errorPrefix")}: ${body.detail || body.error || reply.status}`;
}

/** Read and check the new-deal form; returns [body, error]. The server checks again (400 bad_field).
 * The clock offset turns a local start time into the server's clock (start_at is server time). */
export function dealFromForm(form, clockOffsetMs = 0) {
  const v = Object.fromEntries(new FormData(form).entries());
  const num = (name) => Number(v[name]);
  const int = (name) => (Number.isInteger(num(name)) ? num(name) : NaN);
  if (!v.product_id.trim() || !v.product_name.trim()) return [null, "product id and name are required"];
  if (!(num("price") > 0) || !(num("deal_price") > 0)) return [null, "prices must be above 0"];
  if (num("deal_price") >= num("price")) return [null, "the deal price must be below the list price"];
  if (!(int("stock") >= 1)) return [null, "stock must be a whole number of at least 1"];
  if (!(int("limit_per_user") >= 1)) return [null, "limit per user must be at least 1"];
  if (!(int("duration_s") >= 60 && int("duration_s") <= 1200)) return [null, "duration must be 60-1200 s"];
  const body = {
    product: { id: v.product_id.trim(), name: v.product_name.trim() },
    price: num("price"), deal_price: num("deal_price"), stock: int("stock"),
    limit_per_user: int("limit_per_user"), duration_s: int("duration_s"), start_at: null,
  };
  if (v.image_url.trim()) body.product.image_url = v.image_url.trim();
  if (v.keyword.trim()) body.keyword = v.keyword.trim();
  if (v.countdown_s !== "" && v.start_at !== "") return [null, "give a start delay or a start time, not both"];
  if (v.countdown_s !== "") {
    if (!(int("countdown_s") >= 10 && int("countdown_s") <= 300)) return [null, "start in 10-300 s, or empty"];
    delete body.start_at;
    body.countdown_s = int("countdown_s");
  }
  if (v.start_at !== "") {
    const local = new Date(v.start_at).getTime();
    if (!Number.isFinite(local)) return [null, "the start time is not a date"];
    body.start_at = Math.round(local + clockOffsetMs);
  }
  return [body, null];
}

function askConfirm(text) {
  const dialog = $("confirm-dialog");
  setText($("confirm-text"), text);
  return new Promise((resolve) => {
    dialog.addEventListener("close", () => resolve(dialog.returnValue === "yes"), { once: true });
    dialog.returnValue = "";
    dialog.showModal();
  });
}

class Console {
  constructor(t, lang, room, token) {
    this.t = t;
    this.lang = lang;
    this.room = room;
    this.token = token;
    this.conn = null;
    this.filter = "";
    this.cueOrder = "";
    this.dealsSeen = "";
    this.auditTimer = null;
  }

  /** A read, or a write with its own Idempotency-Key, tried again with the same key while the node is
   * unreachable or answers 503: a restock that timed out is never applied twice. */
  async call(method, rest, body) {
    const path = roomPath(this.room, rest);
    if (method === "GET") return api(this.token, method, path, body);
    const key = newIdempotencyKey();
    let reply;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      if (attempt) await new Promise((done) => setTimeout(done, 500 * attempt));
      reply = await api(this.token, method, path, body, key);
      if (reply.status !== 0 && reply.status !== 503) break;
    }
    return reply;
  }

  render(state, why) {
    const t = this.t;
    if (why === "reset") fill($("comment-feed")); // a new epoch starts its offsets again from 1
    const c = state.counters;
    const overlays = c.overlays || 0;
    const presence = $("overlay-presence");
    presence.className = `pill ${overlays > 0 ? "on" : "off"}`;
    presence.dataset.overlays = String(overlays);
    setText(presence, overlays > 0 ? t("overlayOn", { n: overlays }) : t("overlayOff"));
    setText($("counters"), [`${t("viewers")} ${c.online || 0}`, `${t("likes")} ${c.likes || 0}`,
      `${t("comments")} ${c.comments || 0}`, `${t("orders")} ${c.orders || 0}`,
      `${t("gmv")} ${money(c.gmv, state.currency)}`].join(" · "));
    this.renderDeals(state);
    this.refreshAuditOnChange(state);
    this.renderFeed(state.events);
    this.renderHighlight(state.highlight);
    this.renderCues(state.cues);
    this.renderStats(state.stats);
  }

  /** The last minute from the socket's `stats` frames (once a second). */
  renderStats(stats) {
    const node = $("live-stats");
    if (!stats) return;
    const t = this.t;
    const m = stats.last_min || {};
    node.dataset.viewers = String(stats.viewers ?? 0);
    node.dataset.orders = String(m.orders ?? 0);
    setText(node, `${t("lastMin")}: ` + [`${t("viewers")} ${stats.viewers ?? 0}`,
      t("perMin", { what: t("comments") }) + ` ${m.comments ?? 0}`,
      t("perMin", { what: t("orders") }) + ` ${m.orders ?? 0}`,
      `${t("gmv")} ${money(m.gmv, this.conn.state.currency)}`,
      t("perMin", { what: t("claims") }) + ` ${m.claims ?? 0}`,
      `${t("rejections")} ${m.claim_rejections ?? 0}`].join(" · "));
  }

  renderDeals(state) {
    const t = this.t;
    const deals = [...state.deals.values()].sort((a, b) => b.created_at - a.created_at);
    const root = $("deals");
    const seen = new Set();
    for (const deal of deals) {
      seen.add(deal.id);
      let row = root.querySelector(`[data-deal="${CSS.escape(deal.id)}"]`);
      if (!row) {
        row = this.dealRow(deal);
        root.prepend(row);
      }
      row.dataset.state = deal.state;
      const cell = (name, value) => setText(row.querySelector(`.${name}`), value);
      cell("state", t(deal.state));
      cell("left", deal.left);
      cell("held", deal.held);
      cell("sold", deal.sold);
      cell("stock", deal.stock);
      cell("buyers", deal.buyers);
      cell("claims-per-s", deal.claims_per_s ?? "–");
      cell("rejections", REASONS.filter((r) => deal.rejections?.[r])
        .map((r) => `${r} ${deal.rejections[r]}`).join(" · ") || "–");
      const open = ["scheduled", "live", "sold_out"].includes(deal.state);
      row.querySelector(".do-start").disabled = deal.state !== "scheduled";
      row.querySelector(".do-stop").disabled = !open;
      row.querySelector(".do-restock").disabled = !open;
    }
    for (const row of root.querySelectorAll("[data-deal]")) if (!seen.has(row.dataset.deal)) row.remove();
  }

  dealRow(deal) {
    const t = this.t;
    const stat = (name, label) => h("div", { class: "stat" }, h("span", { class: "label" }, t(label)),
      h("span", { class: name }));
    const restockInput = h("input", { type: "number", min: "1", step: "1", value: "10", class: "restock-n",
      "aria-label": t("restock") });
    const row = h("article", { class: "deal", dataset: { deal: deal.id } },
      h("header", {}, h("strong", {}, deal.product.name), " ",
        h("span", { class: "muted" }, `${money(deal.deal_price, deal.currency)} / ${money(deal.price, deal.currency)}`), " ",
        h("span", { class: "state pill" }), " ", h("span", { class: "clock" })),
      h("div", { class: "stats" }, stat("left", "left"), stat("held", "held"), stat("sold", "sold"),
        stat("stock", "stock"), stat("buyers", "buyers"), stat("claims-per-s", "claimsPerS")),
      h("div", { class: "rejections-row" }, h("span", { class: "label" }, t("rejections")), " ",
        h("span", { class: "rejections" })),
      h("div", { class: "row" },
        h("button", { type: "button", class: "do-start", onclick: () => this.control(deal.id, "start") },
          t("start")),
        h("button", { type: "button", class: "do-stop", onclick: () => this.control(deal.id, "stop") },
          t("stop")),
        restockInput,
        h("button", { type: "button", class: "do-restock",
          onclick: () => this.control(deal.id, "restock", { add: Number(restockInput.value) }) }, t("restock")),
        h("button", { type: "button", class: "do-pin", onclick: () => this.pin(deal) }, t("pin"))));
    return row;
  }

  tick() {
    if (!this.conn) return;
    const now = this.conn.now();
    for (const row of document.querySelectorAll("#deals [data-deal]")) {
      const deal = this.conn.state.deals.get(row.dataset.deal);
      if (!deal) continue;
      const at = deal.state === "scheduled" ? deal.starts_at : deal.ends_at;
      const open = ["scheduled", "live", "sold_out"].includes(deal.state);
      setText(row.querySelector(".clock"), open ? countdown(at - now) : "");
    }
  }

  async createDeal(form) {
    const t = this.t;
    const [body, error] = dealFromForm(form, this.conn.clockOffsetMs);
    setText($("deal-form-error"), error || "");
    if (!body) return;
    if (body.deal_price < body.price * PRICE_FLOOR) {
      const currency = this.conn.state.currency;
      const sure = await askConfirm(t("confirmRisky", { deal: money(body.deal_price, currency),
                                                        price: money(body.price, currency) }));
      if (!sure) return;
      body.confirm = true;
    }
    const reply = await this.call("POST", "/deals", body);
    if (reply.status === 201) {
      toast(t("created"));
      form.reset();
    } else {
      setText($("deal-form-error"), refusal(t, reply));
    }
  }

  async control(dealId, op, body) {
    const reply = await this.call("POST", `/deals/${encodeURIComponent(dealId)}/${op}`, body);
    if (reply.status !== 200) toast(refusal(this.t, reply), "error");
  }

  async pin(deal) {
    const reply = await this.call("POST", "/pin", { product: { id: deal.product.id, name: deal.product.name,
      image_url: deal.product.image_url || undefined, price: deal.deal_price, deal_id: deal.id } });
    if (reply.status !== 200) toast(refusal(this.t, reply), "error");
  }

  renderFeed(events) {
    const feed = $("comment-feed");
    const newest = feed.firstElementChild ? Number(feed.firstElementChild.dataset.offset) : 0;
    for (const event of events) {
      if (event.type !== "comment" || event.offset <= newest) continue;
      feed.prepend(this.commentItem(event));
    }
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  }

  commentItem(event) {
    const name = event.user.name || event.user.id;
    const item = h("li", { class: "comment", dataset: { offset: event.offset } },
      h("b", { class: "comment-name" }, name), " ", h("span", { class: "comment-text" }, event.text), " ",
      h("button", { type: "button", class: "do-highlight",
        onclick: () => this.highlight({ text: event.text, name, offset: event.offset }) },
      this.t("pinToOverlay")));
    item.hidden = !this.matches(item);
    return item;
  }

  matches(item) {
    return !this.filter || item.textContent.toLowerCase().includes(this.filter);
  }

  applyFilter(value) {
    this.filter = value.trim().toLowerCase();
    for (const item of $("comment-feed").children) item.hidden = !this.matches(item);
  }

  async highlight(comment) {
    const reply = await this.call(comment ? "POST" : "DELETE", "/highlight", comment || undefined);
    toast(reply.status === 200 ? this.t("highlightShown") : refusal(this.t, reply),
      reply.status === 200 ? "ok" : "error");
  }

  renderHighlight(comment) {
    const node = $("highlight-now");
    const key = comment ? String(comment.at) : "";
    if (node.dataset.key === key) return; // keep the button under the pointer
    node.dataset.key = key;
    if (!comment) { fill(node); return; }
    fill(node, h("div", { class: "highlight" }, h("b", {}, comment.name), " ", comment.text, " ",
      h("button", { type: "button", onclick: () => this.highlight(null) }, this.t("unpinComment"))));
  }

  async announce(text) {
    const reply = text ? await this.call("POST", "/announcement", { text })
      : await this.call("DELETE", "/announcement");
    toast(reply.status === 200 ? this.t("announcing") : refusal(this.t, reply),
      reply.status === 200 ? "ok" : "error");
  }

  async sendCue(text, priority) {
    const reply = await this.call("POST", "/cues", { text, priority });
    if (reply.status === 201) {
      this.conn.state.addCue(reply.body.cue); // the socket's cue frame may come after the answer
      this.renderCues(this.conn.state.cues);
      toast(this.t("cueSent"));
      return true;
    }
    toast(refusal(this.t, reply), "error");
    return false;
  }

  async ackCue(id) {
    const result = await this.conn.ack(id);
    if (!result.ok) toast(`${this.t("errorPrefix")}: ${result.error}`, "error");
    this.renderCues(this.conn.state.cues);
  }

  /** Newest first. Rows are kept and updated in place (a button under the pointer keeps its click);
   * they are only moved when a new cue arrives. */
  renderCues(cues) {
    const list = $("cue-list");
    const shown = [...cues].sort((a, b) => b.created_at - a.created_at).slice(0, CUES_SHOWN);
    const now = this.conn.now();
    const rows = new Map([...list.children].map((li) => [li.dataset.cue, li]));
    for (const cue of shown) {
      let row = rows.get(cue.id);
      if (!row) {
        row = this.cueRow(cue);
        rows.set(cue.id, row);
      }
      const acked = Boolean(cue.acked_at);
      const stale = !acked && Boolean(cue.expires_at) && cue.expires_at <= now;
      const state = acked ? "acked" : stale ? "stale" : "open";
      if (row.dataset.state === state) continue;
      row.dataset.state = state;
      setText(row.querySelector(".cue-state"), acked
        ? this.t("ackedBy", { by: cue.acked_by || "?" }) : stale ? this.t("expired") : "");
      row.querySelector(".do-ack").hidden = state !== "open";
    }
    const order = shown.map((c) => c.id).join(",");
    if (order === this.cueOrder) return;
    this.cueOrder = order;
    const keep = new Set(shown.map((c) => c.id));
    for (const [id, row] of rows) if (!keep.has(id)) row.remove();
    list.append(...shown.map((c) => rows.get(c.id)));
  }

  cueRow(cue) {
    return h("li", { class: `cue cue-${cue.priority}`, dataset: { cue: cue.id, kind: cue.kind || "manual" } },
      h("span", { class: "pill" }, this.t(cue.priority)), " ",
      h("span", { class: "cue-kind muted" }, cue.kind || "manual"), " ",
      h("span", { class: "cue-time muted" },
        new Date(Number(cue.created_at)).toLocaleTimeString(document.documentElement.lang)), " ",
      h("span", { class: "cue-text" }, cueText(cue, this.lang)), " ",
      h("span", { class: "cue-state" }), " ",
      h("button", { type: "button", class: "do-ack", onclick: () => this.ackCue(cue.id) }, this.t("ack")));
  }

  /** The ledger changes with the deals: re-read it (at most once a second) when they change. */
  refreshAuditOnChange(state) {
    const seen = [...state.deals.values()].map((d) => `${d.id}:${d.state}:${d.claims}:${d.stock}:${d.sold}`)
      .join(",");
    if (seen === this.dealsSeen || this.auditTimer) return;
    this.dealsSeen = seen;
    this.auditTimer = setTimeout(() => { this.auditTimer = null; this.loadAudit(); }, 1000);
  }

  async loadAudit() {
    const reply = await this.call("GET", "/audit");
    if (reply.status !== 200) { toast(refusal(this.t, reply), "error"); return; }
    fill($("audit"), reply.body.entries.map((e) => h("li", {},
      h("span", { class: "muted" }, new Date(Number(e.at)).toLocaleTimeString(document.documentElement.lang)), " ",
      h("b", {}, e.op), " ", e.deal || "", " ", e.by || e.user || "", e.qty ? ` ×${e.qty}` : "",
      e.add ? ` +${e.add}` : "")));
  }

  async copyPageUrl(role, lang) {
    const reply = await this.call("POST", "/tokens", { role });
    if (reply.status !== 201) { toast(refusal(this.t, reply), "error"); return; }
    const url = `${location.origin}${reply.body.path}&lang=${lang}`;
    const field = $("copied-url");
    field.hidden = false;
    field.value = url;
    field.dataset.role = role;
    try {
      await navigator.clipboard.writeText(url);
    } catch {
      field.select(); // no clipboard permission (plain http on a LAN): the URL is selected to copy by hand
    }
    toast(this.t("copied", { what: role === "overlay" ? "OBS" : "host" }));
  }
}

function main() {
  const { room, token, lang } = pageParams();
  const t = translator(lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  translatePage(t);
  setText($("room-name"), room);
  setText($("copy-obs"), t("copyObs"));
  setText($("copy-host"), t("copyHost"));
  const app = new Console(t, lang, room, token);
  app.conn = new RoomConnection({
    room, token, cues: true, stats: true,
    onChange: (state, why) => app.render(state, why),
    onStatus: (status, info) => {
      document.body.dataset.status = status;
      setText($("status"), status === "live" ? t("connected")
        : status === "stopped" ? t("stoppedStatus", { reason: info.reason || "" })
          : status === "connecting" ? t("connecting") : t("reconnecting"));
    },
  });
  $("deal-form").addEventListener("submit", (e) => { e.preventDefault(); app.createDeal(e.target); });
  $("announce-form").addEventListener("submit", (e) => { e.preventDefault(); app.announce($("announce-text").value.trim()); });
  $("announce-clear").addEventListener("click", () => { $("announce-text").value = ""; app.announce(""); });
  $("comment-filter").addEventListener("input", (e) => app.applyFilter(e.target.value));
  $("cue-form").addEventListener("submit", async (e) => {
    e.preventDefault();
    if (await app.sendCue($("cue-text").value.trim(), $("cue-priority").value)) $("cue-text").value = "";
  });
  $("audit-refresh").addEventListener("click", () => app.loadAudit());
  $("copy-obs").addEventListener("click", () => app.copyPageUrl("overlay", lang));
  $("copy-host").addEventListener("click", () => app.copyPageUrl("host", lang));
  document.addEventListener("keydown", (e) => {
    if (e.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
      e.preventDefault();
      $("comment-filter").focus();
    }
  });
  app.conn.start();
  app.loadAudit();
  everyFrame(() => app.tick(), 4);
  setInterval(() => app.renderCues(app.conn.state.cues), 5_000); // cues go stale on their own
}

main();
