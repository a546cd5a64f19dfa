// The OBS overlay: a read-only subscriber. It shows the last state it had through every drop and
// restart, and resumes silently; nothing on it is clickable and nothing here can send to the room.
//
// Query: room, token, lang=zh|en, widgets=deal,pinned,orders,highlight,goal,comments,announcement,bag,poll,
// wall, position=bottom-left|bottom-right (the deal column), scale (0.5-2), theme=dark|light. The
// goal bars are the room's goals (made in the console); a group buy's deal card shows its price tiers.
// Money is in the room's currency (the state and each DEAL map say which): no option may relabel it.

import { RoomConnection } from "../lib/livecart.js";
import { countdown, everyFrame, fill, flash, h, money, safeImageUrl, setText } from "../lib/dom.js";
import { renderGoalBars, renderTiers } from "../lib/goal_view.js";
import { translator } from "../lib/i18n.js";
import { bagWords } from "../lib/lucky_bag.js";
import { BagWidget } from "./bag_widget.js";
import { ShowWall, playTranslator, renderPoll, tickPoll } from "../lib/interactions.js";
import { pageParams } from "../lib/page.js";
import { loadInviters, renderInviters } from "./inviters.js";

const ALL_WIDGETS = ["deal", "pinned", "orders", "highlight", "goal", "comments", "announcement", "bag", "poll",
  "wall"];
const TICKER_MS = 6000;
const COMMENTS_SHOWN = 5;
const GOALS_EVERY_MS = 500; // a reached goal leaves the screen on its own: re-drawn this often

function readOptions(query) {
  const widgets = new Set((query.get("widgets") || ALL_WIDGETS.join(",")).split(",").map((w) => w.trim()));
  const scale = Math.min(2, Math.max(0.5, Number(query.get("scale")) || 1));
  return {
    widgets,
    scale,
    position: query.get("position") === "bottom-right" ? "bottom-right" : "bottom-left",
    theme: query.get("theme") === "light" ? "light" : "dark",
  };
}

function applyLayout(options, lang) {
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  const stage = document.getElementById("stage");
  stage.classList.add(`theme-${options.theme}`, `position-${options.position}`);
  stage.style.setProperty("--scale", String(options.scale));
  for (const name of ALL_WIDGETS) {
    const node = document.getElementById(name);
    if (!options.widgets.has(name)) node.remove();
  }
}

/** The view: the only code that touches the overlay's DOM. */
class OverlayView {
  constructor(t, options, conn) {
    this.t = t;
    this.options = options;
    this.conn = conn;
    this.shownDeal = null; // {id, state}: to animate a start and a sell-out once
    this.deal = null;
    this.bag = new BagWidget(document.getElementById("bag"), bagWords(options.lang));
    this.poll = null;
    this.wall = this.widget("wall") ? new ShowWall(this.widget("wall"), t) : null;
    this.goalsDrawnAt = 0;
  }

  widget(name) {
    return document.getElementById(name);
  }

  render(state) {
    this.renderDeal(state.featuredDeal());
    this.renderPinned(state.pinned);
    this.renderHighlight(state.highlight);
    this.renderAnnouncement(state.announcement);
    this.renderGoals(state);
    this.renderComments(state.events);
    this.bag.render(state.bag, this.conn.now());
    this.poll = state.poll;
    if (this.widget("poll")) renderPoll(this.widget("poll"), state.poll, this.conn.now(), this.t);
    if (this.wall) this.wall.render(state.wall);
    renderInviters(this.widget("inviters"), state.invites, this.t);
  }

  renderDeal(deal) {
    const node = this.widget("deal");
    this.deal = deal;
    if (!node) return;
    if (!deal) {
      node.hidden = true;
      this.shownDeal = null;
      return;
    }
    const t = this.t;
    const isNew = !this.shownDeal || this.shownDeal.id !== deal.id;
    if (isNew) {
      const image = safeImageUrl(deal.product.image_url);
      fill(node,
        h("div", { class: "deal-tag" }, t("flashDeal")),
        h("div", { class: "deal-body" },
          image ? h("img", { class: "deal-image", src: image, alt: "" }) : h("div", { class: "deal-image" }),
          h("div", { class: "deal-text" },
            h("div", { class: "deal-name" }, deal.product.name),
            h("div", { class: "deal-prices" },
              h("span", { class: "deal-price" }, money(deal.deal_price, deal.currency)),
              h("s", { class: "list-price" }, money(deal.price, deal.currency))),
            h("div", { class: "deal-clock" }, h("span", { class: "clock-label" }), " ",
              h("span", { class: "clock" })))),
        h("div", { class: "deal-tiers", hidden: true }),
        h("div", { class: "stock" },
          h("div", { class: "stock-bar" }, h("div", { class: "stock-fill" })),
          h("div", { class: "stock-text" })),
        h("div", { class: "sold-out-stamp" }, t("soldOut")));
      node.hidden = false;
      flash(node, "enter");
    }
    const soldOutNow = deal.state === "sold_out" && (isNew || this.shownDeal.state !== "sold_out");
    if (soldOutNow) flash(node, "selling-out");
    node.dataset.state = deal.state;
    node.dataset.left = String(deal.left);
    node.dataset.deal = deal.id;
    const share = deal.stock > 0 ? deal.left / deal.stock : 0;
    node.querySelector(".stock-fill").style.width = `${(share * 100).toFixed(1)}%`;
    setText(node.querySelector(".stock-text"),
      deal.state === "sold_out" ? t("soldOut") : t("onlyLeft", { n: deal.left }));
    setText(node.querySelector(".deal-price"), money(deal.deal_price, deal.currency)); // a group buy's tier
    renderTiers(node.querySelector(".deal-tiers"), deal, t);
    this.shownDeal = { id: deal.id, state: deal.state };
    this.tick();
  }

  /** Countdowns move every frame, on the server's clock. */
  tick() {
    this.bag.tick(this.conn.now());
    if (this.widget("poll")) tickPoll(this.widget("poll"), this.poll, this.conn.now(), this.t);
    if (performance.now() - this.goalsDrawnAt > GOALS_EVERY_MS) this.renderGoals(this.conn.state);
    const node = this.widget("deal");
    const deal = this.deal;
    if (!node || !deal || node.hidden) return;
    const now = this.conn.now();
    const label = node.querySelector(".clock-label");
    const clock = node.querySelector(".clock");
    if (deal.state === "scheduled") {
      setText(label, this.t("startsIn"));
      setText(clock, countdown(deal.starts_at - now));
    } else {
      setText(label, this.t("endsIn"));
      setText(clock, countdown(deal.ends_at - now));
    }
  }

  renderPinned(card) {
    const node = this.widget("pinned");
    if (!node) return;
    node.hidden = !card;
    if (!card) return;
    const key = JSON.stringify(card);
    if (node.dataset.key === key) return;
    node.dataset.key = key;
    const image = safeImageUrl(card.image_url || "");
    fill(node,
      h("div", { class: "pinned-tag" }, this.t("pinned")),
      image ? h("img", { class: "pinned-image", src: image, alt: "" }) : null,
      h("div", { class: "pinned-name" }, card.name),
      card.price != null
        ? h("div", { class: "pinned-price" }, money(card.price, this.conn.state.currency))
        : null);
    flash(node, "enter");
  }

  renderHighlight(comment) {
    const node = this.widget("highlight");
    if (!node) return;
    node.hidden = !comment;
    if (!comment) return;
    const key = `${comment.at}`;
    if (node.dataset.key === key) return;
    node.dataset.key = key;
    fill(node, h("div", { class: "highlight-name" }, comment.name || ""),
      h("div", { class: "highlight-text" }, comment.text));
    flash(node, "enter");
  }

  renderAnnouncement(announcement) {
    const node = this.widget("announcement");
    if (!node) return;
    node.hidden = !announcement;
    if (announcement) setText(node, announcement.text);
  }

  /** The room's goals as progress bars (lib/goal_view.js): armed ones, and one just reached. */
  renderGoals(state) {
    this.goalsDrawnAt = performance.now();
    renderGoalBars(this.widget("goal"), state, this.conn.now(), this.t);
  }

  renderComments(events) {
    const node = this.widget("comments");
    if (!node) return;
    // A hidden comment (blocked words, a muted author) is never shown: it arrives without its text.
    const comments = events.filter((e) => e.type === "comment" && !e.hidden).slice(-COMMENTS_SHOWN);
    node.hidden = comments.length === 0;
    const key = `${this.conn.state.epoch}:${comments.map((c) => c.offset).join(",")}`;
    if (node.dataset.key === key) return;
    node.dataset.key = key;
    fill(node, comments.map((c) => h("div", { class: "comment", dataset: { offset: c.offset } },
      h("span", { class: "comment-name" }, c.user.name || c.user.id), " ",
      h("span", { class: "comment-text" }, c.text))));
  }

  /** "Lin just bought 2": one toast per paid order, gone after a few seconds. The overlay sees orders
   * as the server shows them to the public (audience.py): `ticker` is true once per paid order, with
   * the buyer's display name, product and quantity, and nothing else about the order. */
  showOrder(event) {
    const node = this.widget("orders");
    if (!node || event.type !== "order" || !event.ticker) return;
    node.hidden = false;
    const toast = h("div", { class: "order enter" },
      this.t("justBought", { name: event.user.name, qty: event.qty }));
    node.append(toast);
    while (node.children.length > 3) node.firstChild.remove();
    setTimeout(() => toast.remove(), TICKER_MS);
  }
}

function main() {
  const { room, token, lang, query } = pageParams();
  const t = playTranslator(lang, translator(lang));
  const options = { ...readOptions(query), lang };
  applyLayout(options, lang);
  let view = null;
  const conn = new RoomConnection({
    room, token,
    onChange: (state) => view.render(state),
    onEvent: (event) => view.showOrder(event),
    // Silent on air: the status is only an attribute, for tests and for someone inspecting the source.
    onStatus: (status) => { document.body.dataset.status = status; },
  });
  view = new OverlayView(t, options, conn);
  conn.start();
  loadInviters(room, token, conn.state, (state) => view.render(state));
  everyFrame(() => view.tick());
}

main();
