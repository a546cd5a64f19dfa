// The console's invite rules, with no DOM and no fetch: the board's rows and the goal form's checks.
// The board itself is RoomState.invites (lib/livecart.js), from `invites` frames and GET …/invites.

export const INVITERS_SHOWN = 10;

/** The top inviters the panel lists: most joins first, then most GMV, at most INVITERS_SHOWN. */
export function invitersShown(board) {
  const rows = board?.top || [];
  return [...rows].sort((a, b) => b.joins - a.joins || b.gmv - a.gmv || (a.user < b.user ? -1 : 1))
    .slice(0, INVITERS_SHOWN);
}

/** The goal form's values (strings) -> [settings body, error]. `reward` "" means no goal. */
export function goalFromFields(v) {
  if (v.reward === "") return [{ goal: null }, null];
  const target = Number(v.target);
  const cap = Number(v.cap);
  if (!Number.isInteger(target) || target < 1 || target > 1000) return [null, "friends per reward: 1-1000"];
  if (!Number.isInteger(cap) || cap < 1 || cap > 100) return [null, "rewards per viewer: 1-100"];
  return [{ goal: { target, reward: v.reward, cap } }, null];
}

/** The coupon textarea -> the codes to upload (one a line, blanks dropped, repeats once). */
export function couponsFromText(text) {
  return [...new Set(text.split(/\s+/).map((c) => c.trim()).filter(Boolean))];
}
