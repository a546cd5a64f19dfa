// The console's DOM: one view per part of index.html. Each renders from the room state (lib/livecart.js
// RoomState) and the console model (model.js), and turns its form and buttons into ConsoleApi calls
// (api.js). Text from viewers and product names only ever goes through h/setText (lib/dom.js).
// Rows (deals, cues, highlight) are kept and updated in place where they can be: a button replaced
// under the pointer would lose its click.

import { countdown, cueText, fill, h, money, setText } from "../lib/dom.js";
import { refusal } from "./api.js";
import { BagsPanel } from "./bags.js";
import { goalProgress } from "../lib/goals.js";
import { bagFromFields, bagWords } from "../lib/lucky_bag.js";
import { InvitesPanel } from "./invites.js";
import {
  FEED_MAX, commenterName, cueState, cuesShown, dealActions, dealClockAt, dealFromFields, dealsNewestFirst,
  goalFromFields, goalsNewestFirst, needsConfirm, newComments, rejectionsText,
} from "./model.js";

const AUDIT_DELAY_MS = 1000; // the ledger is re-read at most once a second while the deals change
const $ = (id) => document.getElementById(id);

export function translatePage(t) {
  for (const node of document.querySelectorAll("[data-t]")) setText(node, t(node.dataset.t));
  for (const node of document.querySelectorAll("[data-t-placeholder]")) {
    node.placeholder = t(node.dataset.tPlaceholder);
  }
}

/** The page's one notice line: what an action did ("ok") or why it was refused ("error"). */
export function toast(text, kind = "ok") {
  const node = $("toast");
  node.className = kind;
  setText(node, text);
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

function localTime(ms) {
  return new Date(Number(ms)).toLocaleTimeString(document.documentElement.lang);
}

/** The top bar: connection status, overlay presence, the room's counters, and the buttons that mint
 * overlay and host page URLs. */
class TopBar {
  constructor({ t, lang, api, model }) {
    Object.assign(this, { t, lang, api, model });
  }

  bind() {
    setText($("copy-obs"), this.t("copyObs"));
    setText($("copy-host"), this.t("copyHost"));
    $("copy-obs").addEventListener("click", () => this.copyPageUrl("overlay"));
    $("copy-host").addEventListener("click", () => this.copyPageUrl("host"));
  }

  status(status, info) {
    const t = this.t;
    document.body.dataset.status = status;
    setText($("status"), status === "live" ? t("connected")
      : status === "stopped" ? t("stoppedStatus", { reason: info.reason || "" })
        : status === "connecting" ? t("connecting") : t("reconnecting"));
  }

  render(state) {
    const t = this.t;
    const c = state.counters;
    const overlays = c.overlays || 0;
    const presence = $("overlay-presence");
    presence.className = `pill ${overlays > 0 ? "on" : "off"}`;
    presence.dataset.overlays = String(overlays);
    setText(presence, overlays > 0 ? t("overlayOn", { n: overlays }) : t("overlayOff"));
    // The platform's own viewer count (a bridge's `viewers` events) beside livecart's sockets, once one came.
    const onPlatform = c.platform_viewers ? [`${t("platformViewers")} ${c.platform_viewers}`] : [];
    setText($("counters"), [`${t("viewers")} ${c.online || 0}`, ...onPlatform, `${t("likes")} ${c.likes || 0}`,
      `${t("comments")} ${c.comments || 0}`, `${t("orders")} ${c.orders || 0}`,
      `${t("gmv")} ${money(c.gmv, state.currency)}`].join(" · "));
  }

  async copyPageUrl(role) {
    const reply = await this.api.mintToken(role);
    if (!reply.ok) { toast(refusal(this.t, reply), "error"); return; }
    const { url } = this.model.tokenMinted(role, reply.body, location.origin, this.lang);
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

/** The last minute from the socket's `stats` frames (once a second). */
class LiveStats {
  constructor({ t }) {
    this.t = t;
  }

  render(state) {
    const stats = state.stats;
    const node = $("live-stats");
    if (!stats) return;
    const t = this.t;
    const m = stats.last_min || {};
    node.dataset.viewers = String(stats.viewers ?? 0);
    node.dataset.orders = String(m.orders ?? 0);
    setText(node, `${t("lastMin")}: ` + [`${t("viewers")} ${stats.viewers ?? 0}`,
      t("perMin", { what: t("comments") }) + ` ${m.comments ?? 0}`,
      t("perMin", { what: t("orders") }) + ` ${m.orders ?? 0}`,
      `${t("gmv")} ${money(m.gmv, state.currency)}`,
      t("perMin", { what: t("claims") }) + ` ${m.claims ?? 0}`,
      `${t("rejections")} ${m.claim_rejections ?? 0}`].join(" · "));
  }
}

/** The new-deal form and a row per deal, newest first, with its numbers, clock and controls. */
class DealsPanel {
  constructor({ t, api, conn }) {
    Object.assign(this, { t, api, conn });
  }

  bind() {
    $("deal-form").addEventListener("submit", (e) => { e.preventDefault(); this.create(e.target); });
  }

  render(state) {
    const t = this.t;
    const root = $("deals");
    const seen = new Set();
    for (const deal of dealsNewestFirst(state.deals)) {
      seen.add(deal.id);
      let row = root.querySelector(`[data-deal="${CSS.escape(deal.id)}"]`);
      if (!row) {
        row = this.row(deal);
        root.prepend(row);
      }
      row.dataset.state = deal.state;
      const cell = (name, value) => setText(row.querySelector(`.${name}`), value);
      cell("state", t(deal.state));
      // A group buy's price drops by tier: the tier reached and what the shop owes back are shown beside it.
      cell("prices", `${money(deal.deal_price, deal.currency)} / ${money(deal.price, deal.currency)}`
        + (deal.tiers ? ` · ${t("tier")} ${deal.tier}/${deal.tiers.length - 1}`
          + (deal.rebate ? ` · ${t("rebate")} ${money(deal.rebate, deal.currency)}` : "") : ""));
      cell("left", deal.left);
      cell("held", deal.held);
      cell("sold", deal.sold);
      cell("stock", deal.stock);
      cell("buyers", deal.buyers);
      cell("claims-per-s", deal.claims_per_s ?? "–");
      cell("rejections", rejectionsText(deal));
      const can = dealActions(deal);
      row.querySelector(".do-start").disabled = !can.start;
      row.querySelector(".do-stop").disabled = !can.stop;
      row.querySelector(".do-restock").disabled = !can.restock;
    }
    for (const row of root.querySelectorAll("[data-deal]")) if (!seen.has(row.dataset.deal)) row.remove();
  }

  row(deal) {
    const t = this.t;
    const stat = (name, label) => h("div", { class: "stat" }, h("span", { class: "label" }, t(label)),
      h("span", { class: name }));
    const restockInput = h("input", { type: "number", min: "1", step: "1", value: "10", class: "restock-n",
      "aria-label": t("restock") });
    return h("article", { class: "deal", dataset: { deal: deal.id } },
      h("header", {}, h("strong", {}, deal.product.name), " ",
        h("span", { class: "muted prices" }), " ",
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
  }

  tick() {
    const now = this.conn.now();
    for (const row of document.querySelectorAll("#deals [data-deal]")) {
      const deal = this.conn.state.deals.get(row.dataset.deal);
      if (!deal) continue;
      const at = dealClockAt(deal);
      setText(row.querySelector(".clock"), at === null ? "" : countdown(at - now));
    }
  }

  async create(form) {
    const t = this.t;
    const fields = Object.fromEntries(new FormData(form).entries());
    const [body, error] = dealFromFields(fields, this.conn.clockOffsetMs);
    setText($("deal-form-error"), error || "");
    if (!body) return;
    if (needsConfirm(body)) {
      const currency = this.conn.state.currency;
      const lowest = Math.min(body.deal_price, ...(body.tiers || []).map((tier) => tier.price));
      const sure = await askConfirm(t("confirmRisky", { deal: money(lowest, currency),
                                                        price: money(body.price, currency) }));
      if (!sure) return;
      body.confirm = true;
    }
    const reply = await this.api.createDeal(body);
    if (reply.ok) {
      toast(t("created"));
      form.reset();
    } else {
      setText($("deal-form-error"), refusal(t, reply));
    }
  }

  async control(dealId, op, body) {
    const reply = await this.api.controlDeal(dealId, op, body);
    if (!reply.ok) toast(refusal(this.t, reply), "error");
  }

  async pin(deal) {
    const reply = await this.api.pin(deal);
    if (!reply.ok) toast(refusal(this.t, reply), "error");
  }
}

/** The announcement form, the comment on the overlay now, the filter and the comment feed (newest
 * first, at most FEED_MAX; "/" jumps to the filter). */
class CommentsPanel {
  constructor({ t, api, model }) {
    Object.assign(this, { t, api, model });
  }

  bind() {
    $("announce-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.announce($("announce-text").value.trim());
    });
    $("announce-clear").addEventListener("click", () => { $("announce-text").value = ""; this.announce(""); });
    $("comment-filter").addEventListener("input", (e) => this.applyFilter(e.target.value));
    document.addEventListener("keydown", (e) => {
      if (e.key === "/" && !["INPUT", "TEXTAREA", "SELECT"].includes(document.activeElement.tagName)) {
        e.preventDefault();
        $("comment-filter").focus();
      }
    });
  }

  render(state, why) {
    if (why === "reset") fill($("comment-feed")); // a new epoch starts its offsets again from 1
    this.renderFeed(state.events);
    this.renderHighlight(state.highlight);
  }

  renderFeed(events) {
    const feed = $("comment-feed");
    const newest = feed.firstElementChild ? Number(feed.firstElementChild.dataset.offset) : 0;
    for (const event of newComments(events, newest)) feed.prepend(this.item(event));
    while (feed.children.length > FEED_MAX) feed.lastElementChild.remove();
  }

  item(event) {
    const name = commenterName(event);
    // Staff see hidden comments as written (moderation: "blocked" or "muted"), marked.
    const item = h("li", { class: "comment", dataset: { offset: event.offset, ...(event.hidden ? { hidden: event.hidden } : {}) } },
      h("b", { class: "comment-name" }, name), " ", h("span", { class: "comment-text" }, event.text), " ",
      h("button", { type: "button", class: "do-highlight",
        onclick: () => this.highlight({ text: event.text, name, offset: event.offset }) },
      this.t("pinToOverlay")), " ",
      // Muting is the interactions panel's (interactions.js): it listens for these clicks.
      h("button", { type: "button", class: "do-mute", dataset: { user: event.user.id } }, this.t("mute")));
    item.hidden = !this.model.shows(item.textContent);
    return item;
  }

  applyFilter(value) {
    this.model.setFilter(value);
    for (const item of $("comment-feed").children) item.hidden = !this.model.shows(item.textContent);
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

  async highlight(comment) {
    const reply = await this.api.highlight(comment);
    toast(reply.ok ? this.t("highlightShown") : refusal(this.t, reply), reply.ok ? "ok" : "error");
  }

  async announce(text) {
    const reply = await this.api.announce(text);
    toast(reply.ok ? this.t("announcing") : refusal(this.t, reply), reply.ok ? "ok" : "error");
  }
}

/** The cue form and the room's recent cues (manual and rule cues, newest first) with their kind and
 * whether they are done; marking one done here drops it from every host screen. */
class CuesPanel {
  constructor({ t, lang, api, model, conn }) {
    Object.assign(this, { t, lang, api, model, conn });
    this.order = ""; // the cue ids listed, in order: rows move only when it changes
  }

  bind() {
    $("cue-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      if (await this.send($("cue-text").value.trim(), $("cue-priority").value)) $("cue-text").value = "";
    });
  }

  render(cues) {
    const list = $("cue-list");
    const shown = cuesShown(cues);
    const now = this.conn.now();
    const rows = new Map([...list.children].map((li) => [li.dataset.cue, li]));
    for (const cue of shown) {
      let row = rows.get(cue.id);
      if (!row) {
        row = this.row(cue);
        rows.set(cue.id, row);
      }
      const state = cueState(cue, now);
      if (row.dataset.state === state) continue;
      row.dataset.state = state;
      setText(row.querySelector(".cue-state"), state === "acked"
        ? this.t("ackedBy", { by: cue.acked_by || "?" }) : state === "stale" ? this.t("expired") : "");
      row.querySelector(".do-ack").hidden = state !== "open";
    }
    const order = shown.map((c) => c.id).join(",");
    if (order === this.order) return;
    this.order = order;
    const keep = new Set(shown.map((c) => c.id));
    for (const [id, row] of rows) if (!keep.has(id)) row.remove();
    list.append(...shown.map((c) => rows.get(c.id)));
  }

  row(cue) {
    return h("li", { class: `cue cue-${cue.priority}`, dataset: { cue: cue.id, kind: cue.kind || "manual" } },
      h("span", { class: "pill" }, this.t(cue.priority)), " ",
      h("span", { class: "cue-kind muted" }, cue.kind || "manual"), " ",
      h("span", { class: "cue-time muted" }, localTime(cue.created_at)), " ",
      h("span", { class: "cue-text" }, cueText(cue, this.lang)), " ",
      h("span", { class: "cue-state" }), " ",
      h("button", { type: "button", class: "do-ack", onclick: () => this.ack(cue.id) }, this.t("ack")));
  }

  /** Resolves to whether the cue was sent (the form is then cleared). */
  async send(text, priority) {
    const reply = await this.api.sendCue(text, priority);
    if (reply.ok) {
      this.model.cueSent(reply.body);
      this.render(this.conn.state.cues);
      toast(this.t("cueSent"));
      return true;
    }
    toast(refusal(this.t, reply), "error");
    return false;
  }

  async ack(id) {
    const result = await this.conn.ack(id);
    if (!result.ok) toast(`${this.t("errorPrefix")}: ${result.error}`, "error");
    this.render(this.conn.state.cues);
  }
}

/** The new-goal form and the room's goals (armed and fired), newest first: an armed goal's target can
 * be changed, or the goal cancelled, until it fires. */
class GoalsPanel {
  constructor({ t, lang, api }) {
    Object.assign(this, { t, lang, api });
  }

  bind() {
    const form = $("goal-form");
    form.addEventListener("submit", (e) => { e.preventDefault(); this.create(e.target); });
    // "open a lucky bag": the bag form's fields, in the bag panel's words, shown for that action only
    const w = bagWords(this.lang);
    for (const node of form.querySelectorAll("[data-bag-word]")) setText(node, w(node.dataset.bagWord));
    const showBag = () => { $("goal-bag").hidden = form.elements.action.value !== "open_bag"; };
    form.elements.action.addEventListener("change", showBag);
    showBag();
  }

  render(state) {
    const t = this.t;
    const select = $("goal-form").elements.deal;
    const deals = dealsNewestFirst(state.deals);
    const options = deals.map((d) => d.id).join(",");
    if (select.dataset.options !== options) {
      const chosen = select.value;
      select.dataset.options = options;
      fill(select, h("option", { value: "" }, "–"),
        deals.map((d) => h("option", { value: d.id }, `${d.product.name} (${t(d.state)})`)));
      select.value = deals.some((d) => d.id === chosen) ? chosen : "";
    }
    const root = $("goal-list");
    const goals = goalsNewestFirst(state.goals);
    const seen = new Set(goals.map((g) => g.id));
    for (const row of [...root.children]) if (!seen.has(row.dataset.goal)) row.remove();
    for (const goal of goals) {
      let row = root.querySelector(`[data-goal="${CSS.escape(goal.id)}"]`);
      if (!row) {
        row = this.row(goal);
        root.prepend(row);
      }
      row.dataset.state = goal.state;
      setText(row.querySelector(".pill"), t(goal.state));
      const progress = goalProgress(state, goal);
      setText(row.querySelector(".progress"), progress
        ? `${Math.round(progress.pct)}% (${progress.value} / ${progress.target})` : "");
      setText(row.querySelector(".result"), goal.result
        ? `${localTime(goal.fired_at)} ${goal.result.ok ? "✓" : "✗"} ${goal.result.detail}` : "");
      for (const control of row.querySelectorAll("input, button")) control.disabled = goal.state !== "armed";
    }
  }

  row(goal) {
    const t = this.t;
    const target = h("input", { type: "number", min: "0.01", step: "any", class: "target-n",
      value: String(goal.target ?? ""), "aria-label": t("target") });
    return h("li", { class: "goal", dataset: { goal: goal.id } },
      h("span", { class: "pill" }), " ", h("b", {}, goal.label || t(`metric_${goal.metric}`)), " ",
      h("span", { class: "muted" }, `→ ${t(`action_${goal.action.type}`)}`), " ",
      h("span", { class: "progress" }), " ", h("span", { class: "result muted" }),
      h("div", { class: "row" }, target,
        h("button", { type: "button", class: "do-edit",
          onclick: () => this.edit(goal.id, { target: Number(target.value) }) }, t("editTarget")),
        h("button", { type: "button", class: "do-cancel", onclick: () => this.cancel(goal.id) }, t("cancelGoal"))));
  }

  async create(form) {
    const fields = Object.fromEntries(new FormData(form).entries());
    const [body, error] = goalFromFields(fields, bagFromFields);
    setText($("goal-form-error"), error || "");
    if (!body) return;
    const reply = await this.api.createGoal(body);
    if (reply.ok) {
      toast(this.t("goalCreated"));
      form.elements.target.value = "";
      form.elements.label.value = "";
    } else {
      setText($("goal-form-error"), refusal(this.t, reply));
    }
  }

  async edit(goalId, body) {
    const reply = await this.api.editGoal(goalId, body);
    if (!reply.ok) toast(refusal(this.t, reply), "error");
  }

  async cancel(goalId) {
    const reply = await this.api.cancelGoal(goalId);
    if (!reply.ok) toast(refusal(this.t, reply), "error");
  }
}

/** The deals' ledger: re-read (at most once a second) when the deals change, or on Refresh. */
class AuditPanel {
  constructor({ t, api, model }) {
    Object.assign(this, { t, api, model });
  }

  bind() {
    $("audit-refresh").addEventListener("click", () => this.load());
  }

  render(state) {
    if (!this.model.roomChanged(state)) return;
    setTimeout(() => { this.model.auditStarted(); this.load(); }, AUDIT_DELAY_MS);
  }

  async load() {
    const reply = await this.api.audit();
    if (!reply.ok) { toast(refusal(this.t, reply), "error"); return; }
    this.model.auditRead(reply.body);
    fill($("audit"), this.model.audit.map((e) => h("li", {},
      h("span", { class: "muted" }, localTime(e.at)), " ",
      h("b", {}, e.op), " ", e.deal || e.goal || "", " ", e.by || e.user || "", e.qty ? ` ×${e.qty}` : "",
      e.add ? ` +${e.add}` : "", e.result ? ` → ${e.result}` : "")));
  }
}

/** The whole page. `ctx`: {t, lang, api (ConsoleApi), model (ConsoleModel), conn (RoomConnection)}.
 * Call bind() once, render(state, why) on every change of the room, tick() a few times a second. */
export class ConsoleView {
  constructor(ctx) {
    this.top = new TopBar(ctx);
    this.stats = new LiveStats(ctx);
    this.deals = new DealsPanel(ctx);
    this.comments = new CommentsPanel(ctx);
    this.cues = new CuesPanel(ctx);
    this.audit = new AuditPanel(ctx);
    this.bags = new BagsPanel({ ...ctx, toast });
    this.goals = new GoalsPanel(ctx);
    this.invites = new InvitesPanel({ ...ctx, toast });
  }

  bind() {
    const parts = [this.top, this.deals, this.comments, this.cues, this.audit, this.bags, this.goals, this.invites];
    for (const part of parts) part.bind();
  }

  status(status, info) {
    this.top.status(status, info);
  }

  render(state, why) {
    this.top.render(state);
    this.deals.render(state);
    this.goals.render(state);
    this.audit.render(state);
    this.comments.render(state, why);
    this.cues.render(state.cues);
    this.stats.render(state);
    this.bags.render(state);
    this.invites.render(state);
  }

  tick() {
    this.deals.tick();
    this.bags.tick();
  }
}
