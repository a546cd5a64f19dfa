// Every HTTP call the console makes, with the page's token (lib/page.js `api`). Each method resolves to
// the reply {ok, status, body}. `ok` is true when the node answered the status that call expects. When
// it is not, `refusal(t, reply)` says why in words. Nothing here throws: an unreachable node is status 0.
// Cue acks are not here: they go through the room socket (lib/livecart.js RoomConnection.ack).

import { api, isTemporary, newIdempotencyKey, roomPath } from "../lib/page.js";

const WRITE_ATTEMPTS = 3; // a write tried again (same Idempotency-Key) while the node is away or busy
const RETRY_STEP_MS = 500; // the second attempt waits 500 ms, the third 1 s

/** The words for a reply that is not `ok`: the server's detail, else its error code, else the status. */
export function refusal(t, reply) {
  const body = reply.body || {};
  return `${t("errorPrefix")}: ${body.detail || body.error || reply.status}`;
}

export class ConsoleApi {
  constructor(room, token) {
    this.room = room;
    this.token = token;
  }

  /** A read, or a write with its own Idempotency-Key, tried again with the same key while the node is
   * unreachable or its answer is temporary (isTemporary): a restock that timed out is never applied twice. */
  async call(method, rest, body) {
    const path = roomPath(this.room, rest);
    if (method === "GET") return api(this.token, method, path, body);
    const key = newIdempotencyKey();
    let reply;
    for (let attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
      if (attempt) await new Promise((done) => setTimeout(done, RETRY_STEP_MS * attempt));
      reply = await api(this.token, method, path, body, key);
      if (!isTemporary(reply)) break;
    }
    return reply;
  }

  async expect(status, method, rest, body) {
    const reply = await this.call(method, rest, body);
    return { ...reply, ok: reply.status === status };
  }

  /** `body` as dealFromFields() made it (with `confirm: true` for a price under the floor). */
  createDeal(body) {
    return this.expect(201, "POST", "/deals", body);
  }

  /** op: "start" | "stop" | "restock" (body {add: n}). */
  controlDeal(dealId, op, body) {
    return this.expect(200, "POST", `/deals/${encodeURIComponent(dealId)}/${op}`, body);
  }

  /** Pin the deal's product on the overlay and viewer pages, at its deal price. */
  pin(deal) {
    return this.expect(200, "POST", "/pin", { product: { id: deal.product.id, name: deal.product.name,
      image_url: deal.product.image_url || undefined, price: deal.deal_price, deal_id: deal.id } });
  }

  /** Show a comment ({text, name, offset}) on the overlay; null takes it down. */
  highlight(comment) {
    return this.expect(200, comment ? "POST" : "DELETE", "/highlight", comment || undefined);
  }

  /** Show an announcement; "" clears it. */
  announce(text) {
    return text ? this.expect(200, "POST", "/announcement", { text })
      : this.expect(200, "DELETE", "/announcement");
  }

  sendCue(text, priority) {
    return this.expect(201, "POST", "/cues", { text, priority });
  }

  /** `body` as goalFromFields() made it: 201 {goal}. */
  createGoal(body) {
    return this.expect(201, "POST", "/goals", body);
  }

  /** Change an armed goal's target, label or action: 200 {goal}, 409 goal_closed once it fired. */
  editGoal(goalId, body) {
    return this.expect(200, "POST", `/goals/${encodeURIComponent(goalId)}`, body);
  }

  cancelGoal(goalId) {
    return this.expect(200, "DELETE", `/goals/${encodeURIComponent(goalId)}`);
  }

  audit() {
    return this.expect(200, "GET", "/audit");
  }

  /** The invite board: funnel, top inviters, goal, coupons left (docs/protocol.md "Invites"). */
  invites() {
    return this.expect(200, "GET", "/invites");
  }

  /** {overlay?: bool, goal?: {target, reward, cap} | null}; answers the board. */
  inviteSettings(body) {
    return this.expect(200, "POST", "/invites/settings", body);
  }

  uploadCoupons(codes) {
    return this.expect(200, "POST", "/invites/coupons", { codes });
  }

  /** Mint a token for an `overlay` or `host` page of this room: the body carries the page's path. */
  mintToken(role) {
    return this.expect(201, "POST", "/tokens", { role });
  }
}
