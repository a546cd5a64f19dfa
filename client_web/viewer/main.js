// The viewer demo: what a brand could copy into its own live page. One deal card with a countdown and a
// claim button (a group buy's price tiers under it), the claim's answer, the room's goal bars, comments,
// and stock that moves as other viewers claim.

import { RoomConnection } from "../lib/livecart.js";
import { countdown, everyFrame, fill, flash, h, money, safeImageUrl, setText } from "../lib/dom.js";
import { renderGoalBars, renderTiers } from "../lib/goal_view.js";
import { translator } from "../lib/i18n.js";
import { bagWords } from "../lib/lucky_bag.js";
import { pageParams, tokenClaims } from "../lib/page.js";
import { checkoutLink, checkoutWord, loadCheckoutTemplate } from "./checkout.js";
import { BagCard } from "./bag_card.js";
import { playTranslator } from "../lib/interactions.js";
import { ViewerPlay } from "./interactions.js";
import { InvitePanel } from "./invites.js";

const COMMENTS_SHOWN = 30;
const $ = (id) => document.getElementById(id);

class ViewerView {
  constructor(t, conn, canAct) {
    this.t = t;
    this.conn = conn;
    this.canAct = canAct;
    this.deal = null;
    this.claiming = false;
    this.checkoutTemplate = null; // the room's checkout link (checkout.js), read once at start
  }

  render(state) {
    this.renderDeal(state.featuredDeal());
    this.renderComments(state.events);
    setText($("online"), `${state.counters.online || 0} ${this.t("online")}`);
    $("announcement").hidden = !state.announcement;
    if (state.announcement) setText($("announcement"), state.announcement.text);
    this.bag?.render(state);
    this.renderGoals(state);
  }

  renderGoals(state) {
    this.goalsDrawnAt = Date.now();
    renderGoalBars($("goals"), state, this.conn.now(), this.t);
  }

  renderDeal(deal) {
    const t = this.t;
    const changed = !this.deal || !deal || this.deal.id !== deal.id;
    this.deal = deal;
    $("deal").hidden = !deal;
    $("no-deal").hidden = Boolean(deal);
    setText($("no-deal"), t("noDeal"));
    if (!deal) return;
    if (changed) {
      $("deal-image").src = safeImageUrl(deal.product.image_url) || "/client/lib/sample-product.svg";
      setText($("deal-name"), deal.product.name);
      setText($("deal-price"), money(deal.deal_price, deal.currency));
      setText($("list-price"), money(deal.price, deal.currency));
      setText($("claim-result"), "");
      flash($("deal"), "enter");
    }
    $("deal").dataset.state = deal.state;
    $("deal").dataset.left = String(deal.left);
    setText($("deal-price"), money(deal.deal_price, deal.currency)); // a group buy's price drops by tier
    renderTiers($("deal-tiers"), deal, t);
    $("stock-fill").style.width = `${deal.stock ? (100 * deal.left) / deal.stock : 0}%`;
    setText($("stock-text"), deal.state === "sold_out" ? t("soldOut") : t("onlyLeft", { n: deal.left }));
    const button = $("claim");
    button.disabled = this.claiming || !this.canAct || deal.state !== "live";
    setText(button, this.claiming ? t("claiming") : deal.state === "live" ? t("claim") : t(deal.state));
    this.tick();
  }

  tick() {
    this.bag?.tick();
    if (Date.now() - (this.goalsDrawnAt || 0) > 500) this.renderGoals(this.conn.state); // reached ones leave
    const deal = this.deal;
    if (!deal) return;
    const now = this.conn.now();
    const [label, at] = deal.state === "scheduled" ? ["startsIn", deal.starts_at] : ["endsIn", deal.ends_at];
    setText($("deal-clock"), deal.state === "live" || deal.state === "scheduled"
      ? `${this.t(label)} ${countdown(at - now)}` : this.t(deal.state));
  }

  renderComments(events) {
    const comments = events.filter((e) => e.type === "comment" && !e.hidden).slice(-COMMENTS_SHOWN);
    const key = `${this.conn.state.epoch}:${comments.length ? comments[comments.length - 1].offset : 0}`;
    const node = $("comments");
    if (node.dataset.key === String(key)) return;
    node.dataset.key = String(key);
    fill(node, comments.map((c) => h("p", { class: "comment", dataset: { offset: c.offset } },
      h("b", {}, c.user.name || c.user.id), " ", c.text)));
    node.scrollTop = node.scrollHeight;
  }

  async claim() {
    if (!this.deal || this.claiming) return;
    this.claiming = true;
    this.renderDeal(this.deal);
    // A fresh key per tap; a retry of the same tap (same key) could never claim twice.
    const key = `tap-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
    const reply = await this.conn.request({ type: "claim", deal: this.deal.id, qty: 1, req: key });
    this.claiming = false;
    const result = $("claim-result");
    if (reply.type === "claim_result" && reply.ok) {
      const minutes = Math.max(1, Math.round((reply.claim.expires_at - this.conn.now()) / 60000));
      result.className = "ok";
      setText(result, this.t("claimed", { m: minutes }));
      this.showCheckout(reply.claim);
    } else {
      result.className = "refused";
      const key = `reason_${reply.reason || reply.error}`;
      const words = this.t(key);
      setText(result, words === key ? reply.detail || reply.error || "" : words);
    }
    this.renderDeal(this.deal);
  }

  showCheckout(claim) {
    const link = $("checkout");
    const href = checkoutLink(this.checkoutTemplate, { claim: claim.id, deal: claim.deal,
      product: this.deal ? this.deal.product.id : "", qty: claim.qty });
    link.hidden = !href;
    if (href) link.href = href;
  }
}

function main() {
  const { room, token, lang, query } = pageParams();
  const t = playTranslator(lang, translator(lang));
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  const canAct = Boolean(tokenClaims(token).sub) && tokenClaims(token).role === "viewer";
  let view = null;
  let play = null; // polls, the show prompt, the shows wall (interactions.js)
  const conn = new RoomConnection({
    room, token,
    onChange: (state) => { view.render(state); play.render(state); },
    onReply: (frame) => { if (frame.type === "bag_entry") view.bag.entered(frame); },
    onStatus: (status) => {
      document.body.dataset.status = status;
      setText($("status"), status === "live" ? t("connected")
        : status === "stopped" ? t("stoppedStatus", { reason: "" }) : t("reconnecting"));
    },
  });
  view = new ViewerView(t, conn, canAct);
  setText($("checkout"), checkoutWord(lang));
  if (canAct) loadCheckoutTemplate(room, token).then((template) => { view.checkoutTemplate = template; });
  view.bag = new BagCard($("bag"), bagWords(lang), conn, canAct ? tokenClaims(token).sub : null);
  play = new ViewerPlay(t, conn, canAct);
  play.bind();
  $("claim").addEventListener("click", () => view.claim());
  $("comment-text").placeholder = canAct ? t("say") : t("watchOnly");
  $("comment-text").disabled = !canAct;
  setText($("comment-send"), t("send"));
  $("comment-send").disabled = !canAct;
  $("comment-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const input = $("comment-text");
    const text = input.value.trim();
    if (!text) return;
    const reply = await conn.request({ type: "comment", text });
    if (reply.type === "comment_result") input.value = "";
  });
  conn.start();
  everyFrame(() => { view.tick(); play.tick(); }, 4);
  new InvitePanel({ t, room, token, canAct, ref: query.get("ref") }).start();
}

main();
