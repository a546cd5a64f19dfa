// The console's state and rules, with no DOM and no fetch, so a test can run them without a page.
// The room itself is lib/livecart.js RoomState, which the socket's frames change. This module holds the
// console's own state (the comment filter, when to re-read the audit ledger, the ledger, the last minted
// page URL). It folds the API's answers into that state and says what the views show: which deals,
// cues and comments, in what order, with which buttons enabled.
//
// Calling contract: the views call the `ConsoleModel` reducers (`roomChanged`, `auditStarted`,
// `auditRead`, `cueSent`, `tokenMinted`, `setFilter`) with a room state or an API answer, then render
// from the model's fields and the pure functions below. Nothing here awaits, and nothing throws on a
// well-formed answer.

export const PRICE_FLOOR = 0.1; // server's price_floor: below this share of list price, ask before creating
export const FEED_MAX = 200;
export const CUES_SHOWN = 100;
const REASONS = ["sold_out", "limit_reached", "not_live", "ended", "invalid_qty"];
const OPEN_STATES = new Set(["scheduled", "live", "sold_out"]);

/** Check the new-deal form's fields (the form's values as strings, by input name); returns
 * [body, error]. The server checks again (400 bad_field). The clock offset turns a local start time
 * into the server's clock (start_at is server time). */
export function dealFromFields(v, clockOffsetMs = 0) {
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
  if ((v.tiers || "").trim()) {
    const [tiers, error] = tiersFromText(v.tiers, body.deal_price);
    if (error) return [null, error];
    body.tiers = tiers;
  }
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

/** "50:89, 200:79" (buyers:price, …) as a group buy's tiers: [tiers, error]. Thresholds must rise and
 * prices fall below the deal price; the server checks again (400 bad_tiers). */
export function tiersFromText(text, dealPrice) {
  const tiers = [];
  for (const part of text.split(/[,，\s]+/).filter(Boolean)) {
    const match = /^(\d+)[:：]([\d.]+)$/.exec(part);
    if (!match) return [null, `tiers: "${part}" is not buyers:price`];
    const tier = { buyers: Number(match[1]), price: Number(match[2]) };
    const last = tiers[tiers.length - 1];
    if (!(tier.buyers >= 1) || (last && tier.buyers <= last.buyers)) return [null, "tiers: buyers must increase"];
    if (!(tier.price > 0) || tier.price >= (last ? last.price : dealPrice)) {
      return [null, "tiers: each price must be lower than the one before (and the deal price)"];
    }
    tiers.push(tier);
  }
  return [tiers, null];
}

export const DEAL_METRICS = new Set(["deal_sold", "deal_claimed", "deal_buyers"]);

/** The new-goal form's fields (strings by input name) as a POST …/goals body: [body, error]. The
 * "open a lucky bag" action's fields go through `bagFromFields` (lib/lucky_bag.js, passed in by the
 * view: this module imports nothing). */
export function goalFromFields(v, bagFromFields = null) {
  const target = Number(v.target);
  if (!(target > 0)) return [null, "the target must be above 0"];
  if (v.metric !== "gmv" && !Number.isInteger(target)) return [null, "the target must be a whole number"];
  const body = { metric: v.metric, target, action: { type: v.action } };
  const needsDeal = DEAL_METRICS.has(v.metric) || ["start_deal", "restock", "next_tier"].includes(v.action);
  if (needsDeal && !v.deal) return [null, "choose the deal"];
  if (DEAL_METRICS.has(v.metric)) body.deal = v.deal;
  if (["start_deal", "restock", "next_tier"].includes(v.action)) body.action.deal = v.deal;
  if (v.action === "restock") {
    const add = Number(v.add);
    if (!(Number.isInteger(add) && add >= 1)) return [null, "restock at least 1"];
    body.action.add = add;
  }
  if (v.action === "announce") {
    if (!v.text.trim()) return [null, "the announcement needs a text"];
    body.action.text = v.text.trim();
  }
  if (v.action === "open_bag") { // the bag form's fields and checks
    const [bag, error] = bagFromFields ? bagFromFields(v) : [null, "no lucky bag form"];
    if (!bag) return [null, error];
    Object.assign(body.action, bag);
  }
  if (v.label.trim()) body.label = v.label.trim();
  return [body, null];
}

/** Goals newest first, as the console lists them. */
export function goalsNewestFirst(goals) {
  return [...(goals || [])].sort((a, b) => b.created_at - a.created_at);
}

/** A deal price this far under the list price is likely a typo: the assistant confirms it first (and
 * the body then carries `confirm: true`, or the server refuses it). */
export function needsConfirm(body) {
  const lowest = Math.min(body.deal_price, ...(body.tiers || []).map((tier) => tier.price));
  return lowest < body.price * PRICE_FLOOR;
}

export function dealsNewestFirst(deals) {
  return [...deals.values()].sort((a, b) => b.created_at - a.created_at);
}

/** Scheduled, live or sold out: the deal still has a clock, and may be stopped or restocked. */
export function isOpen(deal) {
  return OPEN_STATES.has(deal.state);
}

/** Which of a deal's buttons work in its state. */
export function dealActions(deal) {
  const open = isOpen(deal);
  return { start: deal.state === "scheduled", stop: open, restock: open };
}

/** What the deal's clock counts down to (server ms), or null when it has no clock any more. */
export function dealClockAt(deal) {
  if (!isOpen(deal)) return null;
  return deal.state === "scheduled" ? deal.starts_at : deal.ends_at;
}

/** "sold_out 3 · limit_reached 1", in a fixed order; "–" when nobody was refused. */
export function rejectionsText(deal) {
  return REASONS.filter((r) => deal.rejections?.[r]).map((r) => `${r} ${deal.rejections[r]}`).join(" · ") || "–";
}

/** A key that changes when anything the audit ledger records about the deals changes. */
export function dealsKey(deals) {
  return [...deals.values()].map((d) => `${d.id}:${d.state}:${d.claims}:${d.stock}:${d.sold}`).join(",");
}

/** The comment events newer than `newest` (the offset of the newest comment shown), oldest first. */
export function newComments(events, newest) {
  return events.filter((event) => event.type === "comment" && event.offset > newest);
}

export function commenterName(event) {
  return event.user.name || event.user.id;
}

/** The cues the panel lists: newest first, at most CUES_SHOWN. */
export function cuesShown(cues) {
  return [...cues].sort((a, b) => b.created_at - a.created_at).slice(0, CUES_SHOWN);
}

/** "acked" (done by someone), "stale" (expired before anyone did it) or "open", at server time `now`. */
export function cueState(cue, now) {
  if (cue.acked_at) return "acked";
  return cue.expires_at && cue.expires_at <= now ? "stale" : "open";
}

/** The console's own state, beside the room's (lib/livecart.js RoomState, shared with the socket). */
export class ConsoleModel {
  constructor(roomState) {
    this.roomState = roomState; // the socket's RoomState
    this.filter = ""; // lower case; "" shows every comment
    this.audit = []; // the ledger's entries as GET …/audit last listed them
    this.copied = null; // {role, url}: the page URL minted last
    this.dealsSeen = ""; // dealsKey() when the audit was last asked for
    this.auditPending = false; // a re-read is asked for and has not started yet
  }

  /** After the room changed: true when the deals changed since the last re-read was asked for and
   * none is waiting, so the caller should re-read the ledger (once, then call auditStarted()). */
  roomChanged(state) {
    const seen = dealsKey(state.deals);
    if (seen === this.dealsSeen || this.auditPending) return false;
    this.dealsSeen = seen;
    this.auditPending = true;
    return true;
  }

  auditStarted() {
    this.auditPending = false;
  }

  /** GET …/audit answered 200. */
  auditRead(body) {
    this.audit = body.entries;
  }

  /** POST …/cues answered 201: the socket's cue frame may come after the answer. */
  cueSent(body) {
    this.roomState.addCue(body.cue);
  }

  /** POST …/tokens answered 201 with the page's path (query included); the URL keeps the console's
   * language. */
  tokenMinted(role, body, origin, lang) {
    this.copied = { role, url: `${origin}${body.path}&lang=${lang}` };
    return this.copied;
  }

  setFilter(value) {
    this.filter = value.trim().toLowerCase();
  }

  /** Whether a comment whose shown text is `text` passes the filter. */
  shows(text) {
    return !this.filter || text.toLowerCase().includes(this.filter);
  }
}
