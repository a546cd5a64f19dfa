// The console's invite panel: the funnel, the live top-inviters list, the overlay switch, the invite
// goal and the coupon pool. The board comes from `invites` frames (RoomState.invites) and, once at
// start and after each setting, from GET …/invites. Viewer ids go through h/setText only.

import { fill, h, money, setText } from "../lib/dom.js";
import { refusal } from "./api.js";
import { couponsFromText, goalFromFields, invitersShown } from "./invite_model.js";

const $ = (id) => document.getElementById(id);

export class InvitesPanel {
  constructor({ t, api, conn, toast }) {
    Object.assign(this, { t, api, conn, toast });
  }

  bind() {
    $("invite-overlay").addEventListener("change", (event) => this.save({ overlay: event.target.checked }));
    $("invite-goal-form").addEventListener("submit", (event) => {
      event.preventDefault();
      const [body, error] = goalFromFields(Object.fromEntries(new FormData(event.target)));
      if (error) { this.toast(error, "error"); return; }
      this.save(body, this.t("goalSaved"));
    });
    $("coupon-form").addEventListener("submit", async (event) => {
      event.preventDefault();
      const codes = couponsFromText($("coupon-codes").value);
      if (!codes.length) return;
      const reply = await this.api.uploadCoupons(codes);
      if (!reply.ok) { this.toast(refusal(this.t, reply), "error"); return; }
      $("coupon-codes").value = "";
      this.toast(this.t("couponsAdded", { n: reply.body.added }));
      this.load();
    });
    this.load();
  }

  async load() {
    const reply = await this.api.invites();
    if (!reply.ok) return; // the next frame or setting brings it
    this.applyListing(reply.body);
  }

  applyListing(body) {
    this.conn.state.applyInvites(body);
    this.goal = body.goal;
    this.couponsLeft = body.coupons_left;
    this.showSettings();
    this.render(this.conn.state);
  }

  async save(body, done) {
    const reply = await this.api.inviteSettings(body);
    if (!reply.ok) { this.toast(refusal(this.t, reply), "error"); return; }
    if (done) this.toast(done);
    this.applyListing(reply.body);
  }

  showSettings() {
    const form = $("invite-goal-form");
    if (this.goal) {
      form.elements.target.value = String(this.goal.target);
      form.elements.cap.value = String(this.goal.cap);
      form.elements.reward.value = this.goal.reward;
    } else {
      form.elements.reward.value = "";
    }
    setText($("coupons-left"), this.t("couponsLeft", { n: this.couponsLeft ?? 0 }));
  }

  render(state) {
    const board = state.invites;
    if (!board || board.seq === this.shownSeq) return;
    this.shownSeq = board.seq;
    const f = board.funnel;
    setText($("invite-funnel"), this.t("inviteFunnel", { opens: f.opens, joins: f.joins, buyers: f.buyers,
      gmv: money(f.gmv, state.currency) }));
    $("invite-overlay").checked = Boolean(board.overlay);
    const rows = invitersShown(board);
    fill($("top-inviters"), rows.length ? rows.map((row) => h("li", { dataset: { user: row.user } },
      h("b", {}, row.user), " ", this.t("inviteJoins", { n: row.joins }), " · ",
      `${this.t("buyers")} ${row.buyers}`, " · ", money(row.gmv, state.currency)))
      : [h("li", { class: "muted" }, this.t("noInviters"))]);
  }
}
