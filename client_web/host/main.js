// The host view, for a monitor beside the camera: read from two metres away. The current deal's
// countdown and stock, the cue queue by priority (Space, Enter or a click acknowledges the top cue;
// 1-9 the n-th), viewers online, orders per minute and GMV.
//
// Acknowledging is local to this screen (kept in localStorage) until the server has a cue-ack route.

import { RoomConnection } from "../lib/livecart.js";
import { countdown, everyFrame, fill, h, money, setText } from "../lib/dom.js";
import { translator } from "../lib/i18n.js";
import { pageParams } from "../lib/page.js";

const PRIORITY = { high: 0, normal: 1, low: 2 };
const RATE_WINDOW_MS = 60_000;
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
  constructor(t, room, conn) {
    this.t = t;
    this.conn = conn;
    this.ackKey = `livecart:acked:${room}`;
    this.acked = new Set(JSON.parse(localStorage.getItem(this.ackKey) || "[]"));
    this.rate = new OrderRate();
    this.queue = [];
  }

  render(state) {
    this.deal = state.featuredDeal();
    this.rate.add(Date.now(), state.counters.orders);
    setText($("online"), (state.counters.online || 0).toLocaleString());
    setText($("gmv"), money(state.counters.gmv));
    this.renderDeal();
    this.renderCues(state.cues);
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
    setText($("orders-per-min"), String(this.rate.perMinute(Date.now())));
    const deal = this.deal;
    if (!deal) return;
    const now = this.conn.now();
    const at = deal.state === "scheduled" ? deal.starts_at : deal.ends_at;
    const open = deal.state === "live" || deal.state === "scheduled" || deal.state === "sold_out";
    setText($("deal-clock"), open ? `${deal.state === "scheduled" ? this.t("startsIn") + " " : ""}`
      + countdown(at - now) : this.t(deal.state));
  }

  renderCues(cues) {
    this.queue = cues.filter((c) => !this.acked.has(c.id))
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
    fill(list, this.queue.map((cue, i) => h("li", { class: `cue cue-${cue.priority}`, dataset: { cue: cue.id } },
      h("span", { class: "cue-key" }, String(i + 1)),
      h("span", { class: "cue-text" }, cue.text),
      h("button", { type: "button", class: "ack", onclick: () => this.ack(cue.id) }, this.t("ack")))));
  }

  ack(id) {
    if (!id) return;
    this.acked.add(id);
    localStorage.setItem(this.ackKey, JSON.stringify([...this.acked].slice(-500)));
    this.renderCues(this.conn.state.cues);
  }

  onKey(event) {
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
    room, token,
    onChange: (state) => view.render(state),
    onStatus: (status, info) => {
      document.body.dataset.status = status;
      setText($("status"), status === "live" ? "" : status === "stopped"
        ? t("stoppedStatus", { reason: info.reason || "" }) : t("reconnecting"));
    },
  });
  view = new HostView(t, room, conn);
  document.addEventListener("keydown", (e) => view.onKey(e));
  conn.start();
  everyFrame(() => view.tick(), 4);
}

main();
