// Room interactions on the pages: poll bars and the buyer-show wall (overlay, viewer page, console),
// and their words. Pure helpers first (tested in the page by tests/browser), then DOM builders that
// only ever insert viewer text as text (lib/dom.js h/fill/setText).
//
// Words: this module's own table, looked up before the page's translator (lib/i18n.js), so the
// interaction pages add words without touching the shared table.

import { countdown, fill, h, safeImageUrl, setText } from "./dom.js";

const WORDS = {
  en: {
    poll: "Poll", pollVotes: "{n} votes", pollClosed: "Final result", pollEndsIn: "Ends in {time}",
    voteHint: "Comment {marks} to vote", voted: "Voted", vote_counted: "Vote counted",
    vote_moved: "Vote changed", vote_same: "Already your vote", reason_closed: "This poll is closed",
    reason_already_voted: "You have voted already", reason_muted: "You are muted in this room",
    reason_no_such_poll: "No such poll", reason_bad_option: "Not an option of this poll",
    wall: "Buyer shows", showPrompt: "Thanks for your order! Share a buyer show?",
    showText: "How do you like it?", showImage: "Photo URL (https://…, optional)", showSend: "Share",
    showSent: "Thanks! Your show waits for approval.", showDismiss: "Not now",
    polls: "Polls", question: "Question", optionN: "Option {n}", optionKeyword: "keyword",
    pollDuration: "Duration (s)", changeVote: "Viewers may change their vote", openPoll: "Start poll",
    closePoll: "Close poll", pollOpened: "Poll started", pollClosedToast: "Poll closed",
    shows: "Buyer shows", noPending: "No shows waiting", approve: "Approve", reject: "Reject",
    approved: "approved", rejected: "rejected", pending: "pending",
    moderation: "Moderation", blockedWords: "Blocked words (one per line)", saveWords: "Save words",
    wordsSaved: "Blocked words saved ({n})", mutedUsers: "Muted", muteUser: "User id to mute", mute: "Mute",
    unmute: "Unmute", muted: "{user} muted", unmuted: "{user} unmuted", nobodyMuted: "Nobody muted",
    hiddenComment: "hidden",
  },
  zh: {
    poll: "投票", pollVotes: "{n} 票", pollClosed: "最终结果", pollEndsIn: "{time} 后结束",
    voteHint: "评论 {marks} 参与投票", voted: "已投票", vote_counted: "投票成功",
    vote_moved: "已改投", vote_same: "你已投过这一项", reason_closed: "投票已结束",
    reason_already_voted: "你已经投过票了", reason_muted: "你已被禁言",
    reason_no_such_poll: "没有这个投票", reason_bad_option: "不是这个投票的选项",
    wall: "买家晒单", showPrompt: "感谢下单！来晒个单吧？",
    showText: "用起来怎么样？", showImage: "图片链接（https://…，可选）", showSend: "晒单",
    showSent: "谢谢！晒单审核后展示。", showDismiss: "以后再说",
    polls: "投票", question: "问题", optionN: "选项 {n}", optionKeyword: "口令",
    pollDuration: "时长（秒）", changeVote: "允许改票", openPoll: "发起投票",
    closePoll: "结束投票", pollOpened: "投票已发起", pollClosedToast: "投票已结束",
    shows: "买家晒单", noPending: "暂无待审晒单", approve: "通过", reject: "拒绝",
    approved: "已通过", rejected: "已拒绝", pending: "待审核",
    moderation: "管理", blockedWords: "屏蔽词（每行一个）", saveWords: "保存屏蔽词",
    wordsSaved: "屏蔽词已保存（{n}）", mutedUsers: "已禁言", muteUser: "要禁言的用户 id", mute: "禁言",
    unmute: "解除禁言", muted: "{user} 已禁言", unmuted: "{user} 已解除禁言", nobodyMuted: "无人被禁言",
    hiddenComment: "已隐藏",
  },
};

/** The page's translator `t` with this module's words first. */
export function playTranslator(lang, t) {
  const words = WORDS[lang] || WORDS.en;
  return (key, vars = {}) => {
    const template = words[key] ?? WORDS.en[key];
    if (template === undefined) return t(key, vars);
    return template.replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
  };
}

const LETTERS = "ABCD";

/** "A".."D": how an option is named on screen (a comment "A" or "1" votes for the first). */
export function optionMark(index) {
  return LETTERS[index] || String(index + 1);
}

/** Whether `poll` takes votes at server time `now` (ms). */
export function pollIsOpen(poll, now) {
  return Boolean(poll) && poll.state === "open" && !poll.closed_at && now < poll.closes_at;
}

/** Each option's share of the votes, in whole percent (0 when nobody voted yet). */
export function pollShares(poll) {
  const total = poll.votes.reduce((a, b) => a + b, 0);
  return poll.votes.map((n) => (total ? Math.round((100 * n) / total) : 0));
}

/** The index of the leading option, or -1 while nobody leads (no votes, or a tie at the top). */
export function pollLeader(poll) {
  const top = Math.max(...poll.votes);
  if (!top) return -1;
  const leaders = poll.votes.filter((n) => n === top);
  return leaders.length === 1 ? poll.votes.indexOf(top) : -1;
}

/**
 * Fill `node` with the poll's bars (kept in place between renders so they animate): question, one row
 * per option (mark, label, bar, count), and a footer with votes and the countdown or "final result".
 * `onVote(index)`: when given (the viewer page), each row is a button.
 */
export function renderPoll(node, poll, now, t, onVote = null) {
  node.hidden = !poll;
  if (!poll) return;
  if (node.dataset.poll !== poll.id) {
    node.dataset.poll = poll.id;
    fill(node,
      h("div", { class: "poll-tag" }, t("poll")),
      h("div", { class: "poll-question" }, poll.question),
      h("ol", { class: "poll-options" }, poll.options.map((option, i) => h("li", { class: "poll-option",
        dataset: { option: String(i) } },
        h(onVote ? "button" : "div", { class: "poll-row", type: onVote ? "button" : null,
          onclick: onVote ? () => onVote(i) : null },
          h("span", { class: "poll-mark" }, optionMark(i)),
          h("span", { class: "poll-label" }, option.label),
          option.keyword ? h("span", { class: "poll-keyword" }, option.keyword) : null,
          h("span", { class: "poll-count" })),
        h("div", { class: "poll-bar" }, h("div", { class: "poll-fill" }))))),
      h("div", { class: "poll-foot" }, h("span", { class: "poll-total" }), " ", h("span", { class: "poll-clock" })));
  }
  const shares = pollShares(poll);
  const leader = pollLeader(poll);
  node.querySelectorAll(".poll-option").forEach((row, i) => {
    row.querySelector(".poll-fill").style.width = `${shares[i]}%`;
    row.dataset.votes = String(poll.votes[i]);
    row.classList.toggle("leading", i === leader);
    setText(row.querySelector(".poll-count"), `${shares[i]}% · ${poll.votes[i]}`);
  });
  setText(node.querySelector(".poll-total"), t("pollVotes", { n: poll.voters }));
  tickPoll(node, poll, now, t);
}

/** The poll's clock line; call as often as the page ticks. */
export function tickPoll(node, poll, now, t) {
  if (!poll || node.hidden) return;
  const open = pollIsOpen(poll, now);
  node.dataset.state = open ? "open" : "closed";
  setText(node.querySelector(".poll-clock"),
    open ? t("pollEndsIn", { time: countdown(poll.closes_at - now) }) : t("pollClosed"));
}

/** The shows wall: one show at a time, rotating every `everyMs`; returns a stop function. The show's
 * text and name are text nodes; its image loads only from http(s) (safeImageUrl). */
export class ShowWall {
  constructor(node, t, everyMs = 8000) {
    this.node = node;
    this.t = t;
    this.shows = [];
    this.at = 0;
    this.key = "";
    this.timer = setInterval(() => this.next(), everyMs);
  }

  render(wall) {
    const shows = (wall && wall.shows) || [];
    const key = shows.map((s) => s.id).join(",");
    this.node.hidden = shows.length === 0;
    if (key === this.key) return;
    this.key = key;
    this.shows = shows;
    this.at = 0; // the newest approval first
    this.show();
  }

  next() {
    if (this.shows.length < 2) return;
    this.at = (this.at + 1) % this.shows.length;
    this.show();
  }

  show() {
    const s = this.shows[this.at];
    if (!s) {
      this.node.replaceChildren();
      return;
    }
    const image = s.image_url ? safeImageUrl(s.image_url) : "";
    this.node.dataset.show = s.id;
    fill(this.node,
      h("div", { class: "wall-tag" }, this.t("wall")),
      h("div", { class: "wall-show" },
        image ? h("img", { class: "wall-image", src: image, alt: "" }) : null,
        h("div", { class: "wall-body" },
          h("div", { class: "wall-name" }, s.name),
          h("div", { class: "wall-text" }, s.text))));
  }
}
