// Lucky bags (福袋) in the pages: their words and rules, with no DOM and no fetch, so the overlay, the
// console and the viewer page show a bag the same way and a test can run these in a page or in Node.
// A bag reaches every page as the room state's `bag` (a BAG map, docs/protocol.md "Lucky bags").

const WORDS = {
  en: {
    bagTag: "Lucky bag", joined: "{n} joined", commentToJoin: "Comment “{keyword}” to join",
    drawingNow: "Drawing…", winners: "Winners", noWinners: "Nobody to draw", cancelledBag: "Cancelled",
    doneBag: "Done", endsIn: "Draw in", claimIn: "Claim within", prizeCount: "{n} × {name}",
    join: "Join", joinedYou: "You're in! Good luck", alreadyIn: "You're already in",
    notFollowing: "Follow the room to join", closedBag: "Entries are closed", muted: "You can't join now",
    youWon: "You won {name}!", claimPrize: "Claim my prize", claimedPrize: "Prize claimed — we'll be in touch",
    tooLate: "The claim window has closed", notAWinner: "Not a winner this time",
    commitment: "Commitment (SHA-256 of the seed)", seed: "Seed", luckyBags: "Lucky bag",
    bagPrize: "Prize", bagProductId: "Product id", bagWinners: "Winners", bagKeyword: "Keyword",
    bagDuration: "Duration (s, 30-1800)", bagClaim: "Claim window (s)", bagFollows: "Followers only",
    bagPresent: "Must be present at the draw", openBag: "Open lucky bag", drawNow: "Draw now",
    cancelBag: "Cancel", finishBag: "Stop waiting for claims", bagOpened: "Lucky bag opened",
    verifyLink: "Draw record", state_open: "Open", state_drawing: "Drawing", state_claiming: "Waiting for claims",
    state_done: "Done", state_cancelled: "Cancelled", pending: "pending", claimed: "claimed", expired: "expired",
  },
  zh: {
    bagTag: "福袋", joined: "{n} 人已参与", commentToJoin: "评论「{keyword}」参与",
    drawingNow: "开奖中…", winners: "中奖名单", noWinners: "无人可抽", cancelledBag: "已取消",
    doneBag: "已结束", endsIn: "距开奖", claimIn: "领奖剩余", prizeCount: "{n} 份 {name}",
    join: "参与", joinedYou: "参与成功，祝好运", alreadyIn: "你已参与", notFollowing: "关注直播间后才能参与",
    closedBag: "参与已截止", muted: "暂时无法参与", youWon: "恭喜你抽中 {name}！", claimPrize: "领取奖品",
    claimedPrize: "奖品已领取，我们会联系你", tooLate: "领奖时间已过", notAWinner: "这次没有中奖",
    commitment: "承诺值（种子的 SHA-256）", seed: "种子", luckyBags: "福袋",
    bagPrize: "奖品", bagProductId: "商品编号", bagWinners: "中奖人数", bagKeyword: "口令",
    bagDuration: "时长（秒，30-1800）", bagClaim: "领奖时限（秒）", bagFollows: "仅限关注者",
    bagPresent: "开奖时须在直播间", openBag: "发布福袋", drawNow: "立即开奖", cancelBag: "取消",
    finishBag: "结束领奖", bagOpened: "福袋已发布", verifyLink: "开奖记录",
    state_open: "进行中", state_drawing: "开奖中", state_claiming: "等待领奖", state_done: "已结束",
    state_cancelled: "已取消", pending: "待领取", claimed: "已领取", expired: "已过期",
  },
};

export const MIN_DURATION_S = 30;
export const MAX_DURATION_S = 1800;
export const SHOW_DONE_MS = 60_000; // a finished bag stays on the overlay this long, then goes

export function bagWords(lang) {
  const words = WORDS[lang] || WORDS.en;
  return (key, values = {}) => (words[key] ?? WORDS.en[key] ?? key)
    .replace(/\{(\w+)\}/g, (_, name) => String(values[name] ?? ""));
}

/** "1,284 joined" / "1,284 人已参与". */
export function joinedText(t, bag) {
  return t("joined", { n: Number(bag.entrants || 0).toLocaleString("en-US") });
}

/** What a stage shows of the bag: "open" (count and countdown), "drawing", "winners", or null (hide). */
export function bagPhase(bag, now) {
  if (!bag || bag.state === "cancelled") return null;
  if (bag.state === "open") return now < bag.ends_at ? "open" : "drawing";
  if (bag.state === "drawing") return "drawing";
  if (bag.state === "done" && now - Math.max(bag.closed_at || 0, bag.claim_until || 0) > SHOW_DONE_MS) return null;
  return "winners";
}

/** The winners as a stage lists them: the current round's and every claimed prize, by name. */
export function winnerNames(bag) {
  return (bag.winners || []).filter((w) => w.state !== "expired").map((w) => w.name || w.user);
}

/** This user's prize in the bag: {state, round} when they are a winner, else null. */
export function myPrize(bag, user) {
  return (bag?.winners || []).find((w) => w.user === user) || null;
}

/** The console's new-bag form (values as strings by input name, checkboxes "on" or absent) as a
 * POST …/bags body: [body, error]. The server checks again (400 bad_field). */
export function bagFromFields(v) {
  const int = (name) => (Number.isInteger(Number(v[name])) && v[name] !== "" ? Number(v[name]) : NaN);
  if (!(v.product_name || "").trim()) return [null, "the prize needs a product name"];
  if (!(int("winners") >= 1 && int("winners") <= 1000)) return [null, "winners must be 1-1000"];
  if (!(v.keyword || "").trim()) return [null, "a keyword is required"];
  const duration = int("duration_s");
  if (!(duration >= MIN_DURATION_S && duration <= MAX_DURATION_S)) {
    return [null, `duration must be ${MIN_DURATION_S}-${MAX_DURATION_S} s`];
  }
  const claim = int("claim_s");
  if (!(claim >= 10 && claim <= 600)) return [null, "the claim window must be 10-600 s"];
  return [{
    product: { id: (v.product_id || "").trim(), name: v.product_name.trim() },
    winners: int("winners"), keyword: v.keyword.trim(), duration_s: duration, claim_s: claim,
    rules: { follows: v.follows === "on", present: v.present === "on" },
  }, null];
}

/** Which console buttons work for the bag in its state. */
export function bagActions(bag) {
  return { draw: bag?.state === "open", cancel: bag?.state === "open", finish: bag?.state === "claiming",
           create: !bag || bag.state === "done" || bag.state === "cancelled" };
}
