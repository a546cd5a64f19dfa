// The assistant console: runs the deals, watches the numbers and the chat, talks to the overlay and the
// host. Every action is a plain HTTP call with the page's token; the room socket keeps the view live.
// Keyboard: every control is a native button or input (Tab / Enter / Space); "/" jumps to the filter.
// Cues: the panel lists the room's recent cues (manual and rule cues, newest first) with their kind and
// whether they are done; an assistant may mark one done too, and every host screen then drops it.
// Live numbers: the socket asks for `stats` frames (last minute: viewers, comments, orders, GMV, claims).
//
// This file only wires the parts together: model.js (the console's state and rules, no DOM, no fetch),
// api.js (every HTTP call) and views.js (the DOM and the forms).

import { RoomConnection } from "../lib/livecart.js";
import { everyFrame, setText } from "../lib/dom.js";
import { translator } from "../lib/i18n.js";
import { playTranslator } from "../lib/interactions.js";
import { pageParams } from "../lib/page.js";
import { ConsoleApi } from "./api.js";
import { ConsoleModel } from "./model.js";
import { ShopPanel } from "./shop.js";
import { SourcesPanel } from "./sources.js";
import { InteractionsPanel } from "./interactions.js";
import { ConsoleView, translatePage } from "./views.js";

const CUES_RECHECK_MS = 5_000; // cues go stale on their own, with no frame to say so

function main() {
  const { room, token, lang } = pageParams();
  const t = playTranslator(lang, translator(lang)); // with the words of polls, shows, moderation
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  translatePage(t);
  setText(document.getElementById("room-name"), room);
  let view = null;
  let play = null; // polls, buyer shows, moderation (interactions.js)
  const conn = new RoomConnection({
    room, token, cues: true, stats: true,
    onChange: (state, why) => { view.render(state, why); play.render(state); },
    onStatus: (status, info) => view.status(status, info),
  });
  const model = new ConsoleModel(conn.state);
  const consoleApi = new ConsoleApi(room, token);
  view = new ConsoleView({ t, lang, conn, model, api: consoleApi });
  view.bind();
  play = new InteractionsPanel({ t, lang, conn, api: consoleApi });
  play.bind();
  conn.start();
  view.audit.load();
  new SourcesPanel({ api: consoleApi, lang }).start();
  new ShopPanel({ api: consoleApi, t, lang }).start();
  play.load();
  everyFrame(() => { view.tick(); play.tick(); }, 4);
  setInterval(() => view.cues.render(conn.state.cues), CUES_RECHECK_MS);
}

main();
