// The host view, for a monitor beside the camera: read from two metres away. The current deal's
// countdown and stock, the cue queue by priority (Space, Enter or a click acknowledges the top cue;
// 1-9 the n-th), viewers online, orders per minute and GMV.
//
// Cues come from the room socket (and GET …/cues after every connect). An ack goes to the server
// (the socket's `ack`, or the HTTP route); every host and assistant page then drops the cue, so a cue
// done in the console or on another host screen leaves this queue too. Live numbers come from the
// socket's `stats` frames (connected with stats=1), and from the counters until the first one.

import { RoomConnection } from "../lib/livecart.js";
import { countdown, cueText, everyFrame, fill, h, money, setText } from "../lib/dom.js";
import { translator } from "../lib/i18n.js";
import { pageParams } from "../lib/page.js";

const PRIORITY = { high: 0, normal: 1, low: 2 };
const RATE_WINDOW_MS = 60_000;
const STATS_FRESH_MS = 5_000; // stats frames come once a second; older ones mean the director is away
const NOTICE_MS = 5_000;
const $ = (id) => document.getElementById(id);

/** Orders per minute from the `orders` counter: counters may be coalesced, so compare samples. */
class OrderRate {
  constructor() { this.samples = []; }

  add(now, orders) {
    if (orders === undefined) return;
    this.samples.push([now, orders]);
    while (this.samples.length > 2 && now - this.samples[1][0] >= RATE_WINDOW_MS) this.samples.shift();
  }

  perMinute(now) {
    if (this.samples.length < 2) return 0;
    const [t0, o0] = this.samples[0];
    const [, o1] = this.samples[this.samples.length - 1];
    const span = Math.max(now - t0, 10_000); // a first burst does not read as thousands per minute
    return Math.round(((o1 - o0) * 60_000) / Math.min(span, RATE_WINDOW_MS));
  }
}

class HostView {
  constructor(t, lang, conn) {
    this.t = t;
    this.lang = lang;
    this.conn = conn;
    this.acking = new Set(); // cue ids sent to the server: hidden here until it answers
    this.gone = new Set(); // cue ids the server no longer knows
    this.rate = new OrderRate();
    this.statsAt = 0; // local ms the newest stats frame arrived
    this.queue = [];
  }

  render(state, why) {
    this.deal = state.featuredDeal();
    this.rate.add(Date.now(), state.counters.orders);
    if (why === "stats") this.statsAt = Date.now();
    this.renderNumbers(state);
    this.renderDeal();
    this.renderCues(state.cues);
  }

  /** The stats frame's numbers while it is fresh: `viewers` counts the platform audience too, and
   * `last_min.orders` is the paid orders of the last 60 s. Otherwise the counters. GMV is the total. */
  liveStats() {
    const stats = this.conn.state.stats;
    return stats && Date.now() - this.statsAt < STATS_FRESH_MS ? stats : null;
  }

  renderNumbers(state) {
    const stats = this.liveStats();
    const online = stats ? stats.viewers : state.counters.online;
    setText($("online"), (online || 0).toLocaleString());
    setText($("gmv"), money(state.counters.gmv, state.currency));
    $("numbers").dataset.source = stats ? "stats" : "counters";
  }

  renderDeal() {
    const deal = this.deal;
    const panel = $("deal-panel");
    panel.dataset.state = deal ? deal.state : "none";
    if (!deal) {
      setText($("deal-name"), this.t("noDeal"));
      setText($("deal-left"), "");
      setText($("deal-clock"), "");
      $("stock-fill").style.width = "0";
      return;
    }
    setText($("deal-name"), deal.product.name);
    setText($("deal-left"), deal.state === "sold_out" ? this.t("soldOut") : `${deal.left} / ${deal.stock}`);
    $("stock-fill").style.width = `${deal.stock ? (100 * deal.left) / deal.stock : 0}%`;
    this.tick();
  }

  tick() {
    const stats = this.liveStats();
    setText($("orders-per-min"), String(stats ? stats.last_min?.orders ?? 0 : this.rate.perMinute(Date.now())));
    if (!stats && $("numbers").dataset.source === "stats") this.renderNumbers(this.conn.state);
    this.renderCues(this.conn.state.cues); // stale cues leave on their own
    const deal = this.deal;
    if (!deal) return;
    const now = this.conn.now();
    const at = deal.state === "scheduled" ? deal.starts_at : deal.ends_at;
    const open = deal.state === "live" || deal.state === "scheduled" || deal.state === "sold_out";
    setText($("deal-clock"), open ? `${deal.state === "scheduled" ? this.t("startsIn") + " " : ""}`
      + countdown(at - now) : this.t(deal.state));
  }

  /** Cues still to do: not acked (here, in the console or on another host screen), not being acked
   * from this screen, not stale. Highest priority first, then oldest first. */
  renderCues(cues) {
    const now = this.conn.now();
    this.queue = cues.filter((c) => !c.acked_at && !this.acking.has(c.id) && !this.gone.has(c.id)
      && !(c.expires_at && c.expires_at <= now))
      .sort((a, b) => (PRIORITY[a.priority] ?? 1) - (PRIORITY[b.priority] ?? 1) || a.created_at - b.created_at);
    const list = $("cues");
    // Rebuild only when the queue changed: a button replaced under the pointer would lose its click.
    const key = this.queue.map((c) => c.id).join(",") || "-";
    if (list.dataset.key === key) return;
    list.dataset.key = key;
    if (!this.queue.length) {
      fill(list, h("li", { class: "empty" }, this.t("noCues")));
      return;
    }
    fill(list, this.queue.map((cue, i) => h("li", { class: `cue cue-${cue.priority}`,
      dataset: { cue: cue.id, kind: cue.kind || "manual" } },
      h("span", { class: "cue-key" }, i < 9 ? String(i + 1) : ""),
      h("span", { class: "cue-text" }, cueText(cue, this.lang)),
      h("button", { type: "button", class: "ack", onclick: () => this.ack(cue.id) }, this.t("ack")))));
  }

  /** Hide the cue at once (the next Space acks the next cue, not this one again), tell the server,
   * and bring it back if the server could not be told. */
  async ack(id) {
    if (!id || this.acking.has(id)) return;
    this.acking.add(id);
    this.renderCues(this.conn.state.cues);
    const result = await this.conn.ack(id);
    this.acking.delete(id);
    if (!result.ok && result.error !== "no_such_cue") {
      setText($("notice"), this.t("ackFailed", { error: result.error }));
      clearTimeout(this.noticeTimer);
      this.noticeTimer = setTimeout(() => setText($("notice"), ""), NOTICE_MS);
    } else if (!result.ok) {
      this.gone.add(id); // no longer on the server (past its retention): nothing left to do
    }
    this.renderCues(this.conn.state.cues);
  }

  onKey(event) {
    // A held key repeats: one press acks one cue, never the whole queue. Ctrl+1 and the like are the
    // browser's.
    if (event.repeat || event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.target.tagName === "BUTTON" && (event.key === " " || event.key === "Enter")) return;
    if (event.key === " " || event.key === "Enter") {
      event.preventDefault();
      this.ack(this.queue[0]?.id);
    } else if (/^[1-9]$/.test(event.key)) {
      this.ack(this.queue[Number(event.key) - 1]?.id);
    }
  }
}

function main() {
  const { room, token, lang } = pageParams();
  const t = translator(lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  for (const node of document.querySelectorAll("[data-t]")) setText(node, t(node.dataset.t));
  let view = null;
  const conn = new RoomConnection({
    room, token, cues: true, stats: true,
    onChange: (state, why) => view.render(state, why),
    onStatus: (status, info) => {
      document.body.dataset.status = status;
      setText($("status"), status === "live" ? "" : status === "stopped"
        ? t("stoppedStatus", { reason: info.reason || "" }) : t("reconnecting"));
    },
  });
  view = new HostView(t, lang, conn);
  document.addEventListener("keydown", (e) => view.onKey(e));
  conn.start();
  everyFrame(() => view.tick(), 4);
}

main();
