// The console's interactions panel: start and close a poll (its bars live), review buyer shows
// (approve puts one on the overlay's wall and cues the host), edit the room's blocked words, mute and
// unmute users. Every action is one HTTP call (ConsoleApi: Idempotency-Key, retried while the node is
// away); pending shows also arrive live on the socket (`show` frames, RoomState.shows).
// Viewer text (show texts, names, user ids) only ever goes through h/setText.

import { fill, h, setText } from "../lib/dom.js";
import { optionMark, pollIsOpen, renderPoll, tickPoll } from "../lib/interactions.js";
import { refusal } from "./api.js";
import { toast } from "./views.js";

const $ = (id) => document.getElementById(id);
export const POLL_OPTIONS = 4;

/** The poll form's values as the body of POST …/polls: empty option rows are left out. */
export function pollFromFields(v) {
  const options = [];
  for (let i = 0; i < POLL_OPTIONS; i++) {
    const label = (v[`option${i}`] || "").trim();
    if (!label) continue;
    const keyword = (v[`keyword${i}`] || "").trim();
    options.push(keyword ? { label, keyword } : { label });
  }
  return { question: (v.question || "").trim(), options, duration_s: Number(v.duration_s),
           change_vote: Boolean(v.change_vote) };
}

/** The blocked words textarea's lines as the body of POST …/blocked-words (blank lines dropped). */
export function wordsFromText(text) {
  return { words: text.split("\n").map((w) => w.trim()).filter(Boolean) };
}

/** Pending shows, oldest first: those listed by GET …/shows, updated by the socket's `show` frames. */
export function pendingShows(listed, live) {
  const all = new Map(listed.map((s) => [s.id, s]));
  for (const [id, show] of live) all.set(id, show);
  return [...all.values()].filter((s) => s.state === "pending").sort((a, b) => a.posted_at - b.posted_at);
}

export class InteractionsPanel {
  constructor({ t, api, conn }) {
    this.t = t; // main.js's translator, with lib/interactions.js's words
    this.api = api;
    this.conn = conn;
    this.poll = null;
    this.listedShows = [];
    this.showsKey = null; // the ids last rendered (null: not yet, so the empty queue says so)
  }

  bind() {
    for (const node of document.querySelectorAll("#play-panel [data-play-t]")) {
      setText(node, this.t(node.dataset.playT));
    }
    const form = $("poll-form");
    form.elements.question.placeholder = this.t("question");
    for (let i = 0; i < POLL_OPTIONS; i++) {
      form.elements[`option${i}`].placeholder = this.t("optionN", { n: optionMark(i) });
      form.elements[`keyword${i}`].placeholder = this.t("optionKeyword");
    }
    $("mute-user").placeholder = this.t("muteUser");
    form.addEventListener("submit", (e) => { e.preventDefault(); this.openPoll(); });
    $("poll-close").addEventListener("click", () => this.closePoll());
    $("words-form").addEventListener("submit", (e) => { e.preventDefault(); this.saveWords(); });
    $("comment-feed").addEventListener("click", (e) => { // the feed's mute buttons (views.js)
      const button = e.target.closest(".do-mute");
      if (button) this.mute(button.dataset.user);
    });
    $("mute-form").addEventListener("submit", (e) => {
      e.preventDefault();
      this.mute($("mute-user").value.trim());
    });
  }

  /** The first reads: pending shows, blocked words, muted users. */
  async load() {
    const [shows, words] = await Promise.all([this.api.expect(200, "GET", "/shows?state=pending"),
                                              this.api.expect(200, "GET", "/blocked-words")]);
    if (shows.ok) this.listedShows = shows.body.shows;
    if (words.ok) $("blocked-words").value = words.body.words.join("\n");
    this.renderShows();
    await this.loadMutes();
  }

  render(state) {
    this.poll = state.poll;
    renderPoll($("poll-now"), state.poll, this.conn.now(), this.t);
    this.tick();
    this.renderShows();
  }

  tick() {
    tickPoll($("poll-now"), this.poll, this.conn.now(), this.t);
    $("poll-close").hidden = !pollIsOpen(this.poll, this.conn.now());
  }

  async openPoll() {
    const form = $("poll-form");
    const values = Object.fromEntries(new FormData(form));
    const reply = await this.api.expect(201, "POST", "/polls", pollFromFields(values));
    setText($("poll-form-error"), reply.ok ? "" : refusal(this.t, reply));
    if (!reply.ok) return;
    toast(this.t("pollOpened"));
    form.reset();
  }

  async closePoll() {
    if (!this.poll) return;
    const reply = await this.api.expect(200, "POST", `/polls/${encodeURIComponent(this.poll.id)}/close`);
    toast(reply.ok ? this.t("pollClosedToast") : refusal(this.t, reply), reply.ok ? "ok" : "error");
  }

  renderShows() {
    const shows = pendingShows(this.listedShows, this.conn.state.shows);
    const key = shows.map((s) => s.id).join(",");
    if (key === this.showsKey) return;
    this.showsKey = key;
    const list = $("show-queue");
    if (!shows.length) {
      fill(list, h("li", { class: "empty" }, this.t("noPending")));
      return;
    }
    fill(list, shows.map((s) => h("li", { class: "show", dataset: { show: s.id } },
      h("div", { class: "show-who" }, h("b", {}, s.name), " ", h("span", { class: "muted" }, s.user)),
      h("div", { class: "show-text" }, s.text),
      s.image_url ? h("div", { class: "show-image muted" }, s.image_url) : null,
      h("div", { class: "row" },
        h("button", { type: "button", class: "do-approve primary", onclick: () => this.review(s, "approve") },
          this.t("approve")),
        h("button", { type: "button", class: "do-reject", onclick: () => this.review(s, "reject") },
          this.t("reject")),
        h("button", { type: "button", class: "do-mute", onclick: () => this.mute(s.user) }, this.t("mute"))))));
  }

  async review(show, decision) {
    const reply = await this.api.expect(200, "POST", `/shows/${encodeURIComponent(show.id)}/${decision}`);
    if (!reply.ok) {
      toast(refusal(this.t, reply), "error");
      return;
    }
    this.conn.state.shows.set(reply.body.show.id, reply.body.show);
    toast(this.t(reply.body.show.state));
    this.renderShows();
  }

  async saveWords() {
    const body = wordsFromText($("blocked-words").value);
    const reply = await this.api.expect(200, "POST", "/blocked-words", body);
    if (!reply.ok) {
      toast(refusal(this.t, reply), "error");
      return;
    }
    $("blocked-words").value = reply.body.words.join("\n");
    toast(this.t("wordsSaved", { n: reply.body.words.length }));
  }

  async mute(user) {
    if (!user) return;
    const reply = await this.api.expect(200, "POST", "/mutes", { user });
    toast(reply.ok ? this.t("muted", { user }) : refusal(this.t, reply), reply.ok ? "ok" : "error");
    if (reply.ok) $("mute-user").value = "";
    await this.loadMutes();
  }

  async unmute(user) {
    const reply = await this.api.expect(200, "DELETE", `/mutes/${encodeURIComponent(user)}`);
    toast(reply.ok ? this.t("unmuted", { user }) : refusal(this.t, reply), reply.ok ? "ok" : "error");
    await this.loadMutes();
  }

  async loadMutes() {
    const reply = await this.api.expect(200, "GET", "/mutes");
    if (!reply.ok) return;
    const list = $("mute-list");
    const muted = reply.body.muted;
    if (!muted.length) {
      fill(list, h("li", { class: "empty" }, this.t("nobodyMuted")));
      return;
    }
    fill(list, muted.map((m) => h("li", { class: "muted-user", dataset: { user: m.user } },
      h("span", {}, m.user), " ", h("span", { class: "muted" }, m.by), " ",
      h("button", { type: "button", class: "do-unmute", onclick: () => this.unmute(m.user) }, this.t("unmute")))));
  }
}
