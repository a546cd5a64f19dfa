// The viewer's side of invites: arriving through a share link (`?ref=CODE` on this page's URL), and,
// for a signed-in viewer, their own invite link and progress toward the invite goal. Progress is read
// with GET …/invites/me (each viewer sees only their own), again every PROGRESS_EVERY_MS.

import { fill, h, setText } from "../lib/dom.js";
import { api, roomPath } from "../lib/page.js";

const PROGRESS_EVERY_MS = 5_000;
const $ = (id) => document.getElementById(id);

/** What the progress panel says (pure): [lines of text]. */
export function progressLines(t, p) {
  const lines = [t("youBrought", { n: p.joins })];
  if (p.goal) {
    const reward = t(p.goal.reward === "coupon" ? "rewardCoupon" : "rewardClaimSlot");
    lines.push(p.next_at === null ? t("allRewards") : t("nextReward", { n: p.next_at - p.joins, reward }));
  }
  if (p.claim_slots) lines.push(t("yourSlots", { n: p.claim_slots }));
  if (p.coupons.length) lines.push(t("yourCoupons", { codes: p.coupons.join(", ") }));
  return lines;
}

export class InvitePanel {
  constructor({ t, room, token, canAct, ref }) {
    Object.assign(this, { t, room, token, canAct, ref });
  }

  async start() {
    await this.arrive();
    if (!this.canAct) return;
    await this.refresh();
    setInterval(() => this.refresh(), PROGRESS_EVERY_MS);
  }

  /** Tell the server how this viewer came: through `ref`, or directly (the first touch of the show). */
  async arrive() {
    if (!this.ref && !this.canAct) return;
    const reply = await api(this.token, "POST", roomPath(this.room, "/invites/open"),
      this.ref ? { ref: this.ref } : {});
    const note = $("invite-note");
    if (!this.ref) return;
    note.hidden = false;
    if (reply.status === 200) {
      note.className = "ok";
      if (reply.body.inviter) setText(note, this.t("welcomeBy", { name: reply.body.inviter }));
      else note.hidden = true;
    } else {
      note.className = "refused";
      setText(note, this.t(reply.body?.error === "self_invite" ? "ownLink" : "badInvite"));
    }
  }

  async refresh() {
    const reply = await api(this.token, "GET", roomPath(this.room, "/invites/me"));
    if (reply.status !== 200) return;
    const p = reply.body;
    $("invites").hidden = false;
    setText($("invites-title"), this.t("yourInvites"));
    const link = $("invite-link");
    link.setAttribute("aria-label", this.t("yourLink"));
    link.value = new URL(p.link, location.origin).href;
    const progress = $("invite-progress");
    progress.dataset.joins = String(p.joins);
    fill(progress, progressLines(this.t, p).map((line) => h("p", {}, line)));
  }
}
