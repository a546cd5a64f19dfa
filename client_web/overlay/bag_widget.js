// The overlay's lucky bag widget: the prize, "comment 「福袋」 to join", the live count ("1,284 joined"),
// the countdown to the draw, then the winners. Read-only like the rest of the overlay; every name goes
// in as text (lib/dom.js h/setText).

import { countdown, fill, flash, h, setText } from "../lib/dom.js";
import { bagPhase, joinedText, winnerNames } from "../lib/lucky_bag.js";

export class BagWidget {
  constructor(node, t) {
    this.node = node; // the #bag section, or null when the page's `widgets` leave it out
    this.t = t; // lib/lucky_bag.js bagWords(lang)
    this.bag = null;
    this.shown = ""; // "<bag id>:<phase>:<winners>": what the card was last built for
  }

  render(bag, now) {
    this.bag = bag;
    const node = this.node;
    if (!node) return;
    const phase = bagPhase(bag, now);
    node.hidden = phase === null;
    if (phase === null) { this.shown = ""; return; }
    const t = this.t;
    const names = phase === "winners" ? winnerNames(bag) : [];
    const key = `${bag.id}:${phase}:${names.join("\u0000")}`;
    if (key !== this.shown) {
      const isNew = !this.shown.startsWith(`${bag.id}:`);
      this.shown = key;
      fill(node,
        h("div", { class: "bag-tag" }, t("bagTag")),
        h("div", { class: "bag-prize" }, t("prizeCount", { n: bag.prize.winners, name: bag.prize.name })),
        phase === "open" ? h("div", { class: "bag-keyword" }, t("commentToJoin", { keyword: bag.keyword })) : null,
        h("div", { class: "bag-count" }),
        phase === "open" ? h("div", { class: "bag-clock" }, h("span", {}, t("endsIn")), " ",
          h("span", { class: "clock" })) : null,
        phase === "drawing" ? h("div", { class: "bag-drawing" }, t("drawingNow")) : null,
        phase === "winners" ? h("div", { class: "bag-winners" },
          h("div", { class: "bag-winners-title" }, names.length ? t("winners") : t("noWinners")),
          h("ol", {}, names.map((name) => h("li", { class: "bag-winner" }, name)))) : null);
      flash(node, isNew ? "enter" : "bag-changed");
    }
    node.dataset.state = bag.state;
    node.dataset.phase = phase;
    node.dataset.entrants = String(bag.entrants);
    setText(node.querySelector(".bag-count"), joinedText(t, bag));
    this.tick(now);
  }

  /** The countdown moves every frame, on the server's clock; the card turns to "drawing" at the end. */
  tick(now) {
    const bag = this.bag;
    if (!this.node || !bag) return;
    if (bagPhase(bag, now) !== this.node.dataset.phase) { this.render(bag, now); return; }
    const clock = this.node.querySelector(".clock");
    if (clock) setText(clock, countdown(bag.ends_at - now));
  }
}
