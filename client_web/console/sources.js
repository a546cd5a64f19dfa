// The sources panel: every client that delivers events into the room (a TikTok or Bilibili bridge, a
// script posting to /events, a shop's webhook) and when it last delivered. The list lives in Redis per
// room (GET …/sources), so every node's console shows the same; it is read every few seconds, and
// "ago" is measured against the server's `now` in the same answer, so a wrong clock here changes nothing.
// Source ids come from clients: they only ever go through h()/setText (lib/dom.js).

import { fill, h, setText } from "../lib/dom.js";

export const LIVE_MS = 60_000; // delivered within the last minute: shown as live
export const POLL_MS = 5_000;

const WORDS = {
  en: { title: "Sources", none: "No source has delivered yet", live: "live", quiet: "quiet",
    ago: "ago", accepted: "accepted", duplicates: "duplicates", rejected: "rejected", unmapped: "unmapped",
    via: { http: "HTTP", socket: "socket", webhook: "webhook" } },
  zh: { title: "数据来源", none: "还没有来源推送过数据", live: "在线", quiet: "静默",
    ago: "前", accepted: "已接收", duplicates: "重复", rejected: "被拒", unmapped: "未映射",
    via: { http: "HTTP", socket: "长连接", webhook: "Webhook" } },
};

/** "12 s", "3 min", "2 h", "4 d": how long ago, in the unit a person reads at a glance. */
export function since(ms) {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.floor(s / 60)} min`;
  if (s < 86400) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} d`;
}

/** Pure: the panel's rows from the answer of GET …/sources ({sources, now}). */
export function sourceRows(answer) {
  const now = answer.now;
  return (answer.sources || []).map((s) => ({
    id: s.id, via: s.via, live: now - s.last_at < LIVE_MS, ago: since(now - s.last_at),
    counts: { accepted: s.accepted, duplicates: s.duplicates, rejected: s.rejected, unmapped: s.unmapped },
  }));
}

export class SourcesPanel {
  constructor({ api, lang }) {
    this.api = api; // ConsoleApi
    this.words = WORDS[lang] || WORDS.en;
  }

  start() {
    setText(document.getElementById("sources-title"), this.words.title);
    this.load();
    setInterval(() => this.load(), POLL_MS);
  }

  async load() {
    const reply = await this.api.expect(200, "GET", "/sources");
    if (reply.ok) this.render(sourceRows(reply.body));
  }

  render(rows) {
    const w = this.words;
    const list = document.getElementById("sources");
    if (!rows.length) {
      fill(list, h("li", { class: "muted" }, w.none));
      return;
    }
    fill(list, rows.map((row) => h("li", { class: "source", dataset: { source: row.id, live: String(row.live) } },
      h("span", { class: "pill" }, row.live ? w.live : w.quiet), " ",
      h("b", {}, row.id), " ", h("span", { class: "muted" }, w.via[row.via] || row.via), " ",
      h("span", { class: "source-ago" }, `${row.ago} ${w.ago}`),
      h("div", { class: "source-counts" }, ...["accepted", "duplicates", "rejected", "unmapped"]
        .filter((name) => name === "accepted" || row.counts[name])
        .map((name) => h("span", { class: `count-${name}` }, `${w[name]} ${row.counts[name]} `))))));
  }
}
