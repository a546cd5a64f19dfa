// The console's lucky bag panel: the new-bag form, and the current bag with its live count, commitment,
// countdown, winners and controls (draw now, cancel, stop waiting for claims). Writes go through
// ConsoleApi (same Idempotency-Key retries as every console write); the bag itself comes back on the
// room socket as the state's `bag`. Rules and words: lib/lucky_bag.js.

import { countdown, fill, h, setText } from "../lib/dom.js";
import { bagActions, bagFromFields, bagWords, joinedText } from "../lib/lucky_bag.js";
import { refusal } from "./api.js";

export class BagsPanel {
  /** ctx: the console's {t, lang, api, conn} and `toast(text, kind)` (views.js, the notice line). */
  constructor({ t, lang, api, conn, toast }) {
    Object.assign(this, { t, api, conn, toast });
    this.w = bagWords(lang);
    this.root = document.getElementById("bag-panel");
    this.shown = ""; // the bag id and state the card was built for
  }

  bind() {
    const w = this.w;
    const field = (label, input) => h("label", {}, h("span", {}, w(label)), input);
    this.form = h("form", { id: "bag-form", novalidate: true },
      field("bagPrize", h("input", { name: "product_name", maxlength: "200", required: true })),
      field("bagProductId", h("input", { name: "product_id", maxlength: "200" })),
      field("bagWinners", h("input", { name: "winners", type: "number", min: "1", max: "1000", value: "1" })),
      field("bagKeyword", h("input", { name: "keyword", maxlength: "32", value: "福袋" })),
      field("bagDuration", h("input", { name: "duration_s", type: "number", min: "30", max: "1800",
                                         value: "180" })),
      field("bagClaim", h("input", { name: "claim_s", type: "number", min: "10", max: "600", value: "120" })),
      h("label", { class: "check" }, h("input", { name: "follows", type: "checkbox" }), " ", w("bagFollows")),
      h("label", { class: "check" }, h("input", { name: "present", type: "checkbox", checked: true }), " ",
        w("bagPresent")),
      h("div", { class: "form-end" }, h("output", { id: "bag-form-error", class: "error" }),
        h("button", { type: "submit", class: "primary" }, w("openBag"))));
    this.form.addEventListener("submit", (e) => { e.preventDefault(); this.create(); });
    this.card = h("article", { id: "bag-card", class: "deal", hidden: true });
    fill(this.root, h("h2", {}, w("luckyBags")), this.form, this.card);
  }

  render(state) {
    const bag = state.bag;
    const can = bagActions(bag);
    this.form.querySelector("button[type=submit]").disabled = !can.create;
    this.card.hidden = !bag;
    if (!bag) return;
    const w = this.w;
    const key = `${bag.id}:${bag.state}:${(bag.winners || []).map((x) => x.user + x.state).join(",")}`;
    if (key !== this.shown) {
      this.shown = key;
      const button = (cls, label, op) => h("button", { type: "button", class: cls,
        onclick: () => this.control(bag.id, op) }, w(label));
      fill(this.card,
        h("header", {}, h("strong", {}, bag.prize.name), " ",
          h("span", { class: "bag-state pill" }, w(`state_${bag.state}`)), " ", h("span", { class: "clock" })),
        h("div", { class: "bag-count" }),
        h("div", { class: "muted" }, `${w("bagKeyword")}: `, h("b", {}, bag.keyword)),
        h("div", { class: "muted bag-commitment" }, `${w("commitment")}: `, h("code", {}, bag.commitment)),
        bag.seed ? h("div", { class: "muted bag-seed" }, `${w("seed")}: `, h("code", {}, bag.seed), " ",
          h("button", { type: "button", class: "do-record", onclick: () => this.saveRecord(bag.id) },
            w("verifyLink"))) : null,
        (bag.winners || []).length ? h("ol", { class: "bag-winners" }, bag.winners.map((x) =>
          h("li", { dataset: { user: x.user, state: x.state } }, x.name, ` (${w(x.state)})`))) : null,
        h("div", { class: "row" }, button("do-draw", "drawNow", "draw"), button("do-cancel", "cancelBag", "cancel"),
          button("do-finish", "finishBag", "finish")));
    }
    this.card.dataset.state = bag.state;
    this.card.dataset.bag = bag.id;
    setText(this.card.querySelector(".bag-count"), joinedText(w, bag));
    this.card.querySelector(".do-draw").disabled = !can.draw;
    this.card.querySelector(".do-cancel").disabled = !can.cancel;
    this.card.querySelector(".do-finish").disabled = !can.finish;
    this.tick();
  }

  tick() {
    const bag = this.conn.state.bag;
    const clock = this.card?.querySelector(".clock");
    if (!bag || !clock) return;
    const now = this.conn.now();
    const at = bag.state === "open" ? bag.ends_at : bag.state === "claiming" ? bag.claim_until : null;
    setText(clock, at === null ? "" : countdown(at - now));
  }

  async create() {
    const values = Object.fromEntries(new FormData(this.form).entries());
    const [body, error] = bagFromFields(values);
    setText(this.form.querySelector("#bag-form-error"), error || "");
    if (!body) return;
    const reply = await this.api.expect(201, "POST", "/bags", body);
    if (reply.ok) this.toast(this.w("bagOpened"));
    else setText(this.form.querySelector("#bag-form-error"), refusal(this.t, reply));
  }

  async control(bagId, op) {
    const reply = await this.api.expect(200, "POST", `/bags/${encodeURIComponent(bagId)}/${op}`);
    if (!reply.ok) this.toast(refusal(this.t, reply), "error");
  }

  /** Save the draw record (what `livecart verify-draw FILE` checks) as a JSON file. */
  async saveRecord(bagId) {
    const reply = await this.api.expect(200, "GET", `/bags/${encodeURIComponent(bagId)}/record`);
    if (!reply.ok) { this.toast(refusal(this.t, reply), "error"); return; }
    const url = URL.createObjectURL(new Blob([JSON.stringify(reply.body, null, 2)], { type: "application/json" }));
    h("a", { href: url, download: `lucky-bag-${bagId}.json` }).click();
    setTimeout(() => URL.revokeObjectURL(url), 10_000);
  }
}
