// The viewer page's interactions: vote in the room's poll (buttons, or comment "1" / "A"), the
// "share a show?" prompt after this viewer's paid order, and the wall of approved shows.

import { setText } from "../lib/dom.js";
import { ShowWall, pollIsOpen, renderPoll, tickPoll } from "../lib/interactions.js";

const $ = (id) => document.getElementById(id);

export class ViewerPlay {
  constructor(t, conn, canAct) {
    this.t = t;
    this.conn = conn;
    this.canAct = canAct;
    this.poll = null;
    this.wall = new ShowWall($("wall"), t);
    this.promptShown = null; // the prompt frame last offered, so a dismissal sticks
  }

  bind() {
    $("show-form").addEventListener("submit", (event) => {
      event.preventDefault();
      this.sendShow();
    });
    $("show-dismiss").addEventListener("click", () => { $("show-prompt").hidden = true; });
    setText($("show-title"), this.t("showPrompt"));
    $("show-text").placeholder = this.t("showText");
    $("show-image").placeholder = this.t("showImage");
    setText($("show-send"), this.t("showSend"));
    setText($("show-dismiss"), this.t("showDismiss"));
  }

  render(state) {
    this.poll = state.poll;
    renderPoll($("poll"), state.poll, this.conn.now(), this.t,
      this.canAct ? (option) => this.vote(option) : null);
    this.tick();
    this.wall.render(state.wall);
    if (state.showPrompt && state.showPrompt !== this.promptShown) {
      this.promptShown = state.showPrompt;
      $("show-prompt").hidden = false;
      setText($("show-result"), "");
    }
  }

  tick() {
    const node = $("poll");
    tickPoll(node, this.poll, this.conn.now(), this.t);
    const open = pollIsOpen(this.poll, this.conn.now());
    for (const button of node.querySelectorAll("button.poll-row")) button.disabled = !open || !this.canAct;
  }

  async vote(option) {
    if (!this.poll) return;
    const reply = await this.conn.request({ type: "vote", poll: this.poll.id, option });
    const result = $("vote-result");
    result.className = reply.ok ? "ok" : "refused";
    if (reply.ok) $("poll").dataset.voted = String(reply.option);
    const key = reply.ok ? `vote_${reply.outcome}` : `reason_${reply.reason || reply.error}`;
    const words = this.t(key);
    setText(result, words === key ? reply.detail || reply.error || "" : words);
  }

  async sendShow() {
    const text = $("show-text").value.trim();
    if (!text) return;
    const image = $("show-image").value.trim();
    const reply = await this.conn.request({ type: "show", text, image_url: image || undefined });
    const result = $("show-result");
    if (reply.type === "show_result" && reply.ok) {
      result.className = "ok";
      setText(result, this.t("showSent"));
      $("show-text").value = "";
      $("show-image").value = "";
      $("show-form").hidden = true;
    } else {
      result.className = "refused";
      setText(result, reply.detail || reply.error || "");
    }
  }
}
