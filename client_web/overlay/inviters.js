// The overlay's top-inviters list: shown while the console has "Show on overlay" on (the board's
// `overlay` flag). The board reaches an overlay socket only then; a freshly connected overlay reads it
// once with GET …/invites, which answers an overlay only while the flag is on. Viewer ids are text only.

import { api, roomPath } from "../lib/page.js";
import { fill, h } from "../lib/dom.js";

export const INVITERS_ON_AIR = 5;

export function loadInviters(room, token, state, render) {
  api(token, "GET", roomPath(room, "/invites")).then((reply) => {
    if (reply.status === 200) { state.applyInvites(reply.body); render(state); }
  });
}

export function renderInviters(node, board, t) {
  if (!node) return;
  node.hidden = !board?.overlay || !board.top.length;
  if (node.hidden || node.dataset.seq === String(board.seq)) return;
  node.dataset.seq = String(board.seq);
  fill(node, h("div", { class: "inviters-tag" }, t("topInviters")),
    board.top.slice(0, INVITERS_ON_AIR).map((row, i) => h("div", { class: "inviter", dataset: { user: row.user } },
      h("span", { class: "inviter-rank" }, `${i + 1}`), " ", h("span", { class: "inviter-name" }, row.user), " ",
      h("span", { class: "inviter-joins" }, t("inviteJoins", { n: row.joins })))));
}
