// The viewer page's lucky bag card: the prize, how to join (comment the keyword, or the Join button,
// which sends it), the live count, the countdown and the commitment; after the draw the winners, and
// for a winner (the `won` frame, or their name in the bag) a claim button until the window closes.

import { countdown, fill, h, setText } from "../lib/dom.js";
import { bagPhase, joinedText, myPrize, winnerNames } from "../lib/lucky_bag.js";

const ENTRY_WORDS = { entered: "joinedYou", again: "alreadyIn", not_following: "notFollowing",
                      closed: "closedBag", muted: "muted" };
const CLAIM_WORDS = { not_a_winner: "notAWinner", window_closed: "tooLate" };

export class BagCard {
  /** node: the #bag section; t: bagWords(lang); conn: the RoomConnection; user: the token's user or
   * null (watch only: no join or claim). */
  constructor(node, t, conn, user) {
    Object.assign(this, { node, t, conn, user });
    this.shown = "";
    this.note = ""; // the last entry or claim answer, in words
    this.noteBag = null; // the bag that answer is about
    this.busy = false;
  }

  render(state) {
    const bag = state.bag;
    const now = this.conn.now();
    const phase = bagPhase(bag, now);
    this.node.hidden = phase === null;
    if (phase === null) return;
    const t = this.t;
    const prize = myPrize(bag, this.user);
    const key = `${bag.id}:${phase}:${prize ? prize.state : ""}:${winnerNames(bag).join(",")}`;
    if (this.noteBag !== bag.id) { this.note = ""; this.noteBag = bag.id; } // a new bag: no old answers
    if (key !== this.shown) {
      this.shown = key;
      fill(this.node,
        h("div", { class: "bag-tag" }, t("bagTag")),
        h("div", { class: "bag-prize" }, t("prizeCount", { n: bag.prize.winners, name: bag.prize.name })),
        h("div", { class: "bag-count" }),
        h("div", { class: "bag-clock" }),
        phase === "open" ? h("div", { class: "bag-keyword" }, t("commentToJoin", { keyword: bag.keyword })) : null,
        phase === "open" ? h("button", { type: "button", class: "do-join", disabled: !this.user,
          onclick: () => this.join(bag) }, t("join")) : null,
        phase === "winners" ? h("ol", { class: "bag-winners" },
          winnerNames(bag).map((name) => h("li", {}, name))) : null,
        prize && prize.state === "pending" && bag.state === "claiming"
          ? h("button", { type: "button", class: "do-claim-prize", onclick: () => this.claim(bag) },
            t("claimPrize")) : null,
        h("div", { class: "bag-note", role: "status" }),
        h("details", { class: "bag-proof" }, h("summary", {}, t("commitment")),
          h("code", { class: "bag-commitment" }, bag.commitment),
          bag.seed ? h("div", {}, `${t("seed")}: `, h("code", { class: "bag-seed" }, bag.seed)) : null));
    }
    this.node.dataset.phase = phase;
    this.node.dataset.state = bag.state;
    this.node.dataset.won = prize ? prize.state : "";
    setText(this.node.querySelector(".bag-count"), joinedText(t, bag));
    setText(this.node.querySelector(".bag-note"), prize && !this.note ? t("youWon", { name: bag.prize.name })
      : this.note);
    this.tick(bag);
  }

  tick(bag = this.conn.state.bag) {
    if (!bag || this.node.hidden) return;
    const now = this.conn.now();
    const prize = myPrize(bag, this.user);
    const clock = this.node.querySelector(".bag-clock");
    if (bag.state === "open" && now < bag.ends_at) setText(clock, `${this.t("endsIn")} ${countdown(bag.ends_at - now)}`);
    else if (prize?.state === "pending" && bag.state === "claiming") {
      setText(clock, `${this.t("claimIn")} ${countdown(bag.claim_until - now)}`);
    } else setText(clock, "");
  }

  /** A `bag_entry` frame (the answer to a comment that carried the keyword). */
  entered(frame) {
    this.note = this.t(ENTRY_WORDS[frame.result] || "closedBag");
    this.node.dataset.entry = frame.result;
    this.render(this.conn.state);
  }

  /** Join = comment the keyword (the same entry as typing it). */
  async join(bag) {
    if (this.busy) return;
    this.busy = true;
    await this.conn.request({ type: "comment", text: bag.keyword });
    this.busy = false;
  }

  async claim(bag) {
    if (this.busy) return;
    this.busy = true;
    const reply = await this.conn.request({ type: "bag_claim", bag: bag.id });
    this.busy = false;
    if (reply.type === "bag_claim_result" && reply.ok) {
      this.note = this.t("claimedPrize");
      this.conn.state.bag = reply.bag; // the socket's next batch says the same
    } else {
      this.note = this.t(CLAIM_WORDS[reply.reason] || "tooLate");
    }
    this.render(this.conn.state);
  }
}
