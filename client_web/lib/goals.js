// Goals and group-buy tiers as the pages read them: pure functions of the room state, no DOM (the
// widgets are goal_view.js). docs/protocol.md "Goals" and "Group-buy price tiers".

const COUNTER = { likes: "likes", shares: "shares", follows: "follows", joins: "joins", orders: "orders",
                  gmv: "gmv_minor" };
const DEAL_FIELDS = { deal_sold: ["sold"], deal_claimed: ["held", "sold"], deal_buyers: ["buyers"] };
export const FIRED_SHOWN_MS = 15_000; // a goal just reached stays on screen this long, then leaves

/** The goal's number in this state (the same rule as goal.lua), or null when the page cannot know it
 * (a viewer never sees GMV; a deal this page has not seen). */
export function goalValue(state, goal) {
  if (goal.metric in COUNTER) {
    const value = state.counters[COUNTER[goal.metric]];
    return typeof value === "number" ? value : null;
  }
  const deal = goal.deal && state.deals.get(goal.deal);
  if (!deal || !(goal.metric in DEAL_FIELDS)) return null;
  return DEAL_FIELDS[goal.metric].reduce((sum, name) => sum + (deal[name] || 0), 0);
}

/** {value, target, pct (0-100, from the goal's base to its target), done} or null without numbers. */
export function goalProgress(state, goal) {
  const target = goal.target_minor ?? goal.target;
  if (goal.state === "fired") return { value: goal.fired_value ?? target, target, pct: 100, done: true };
  const value = goalValue(state, goal);
  if (value === null || typeof target !== "number") return null;
  const base = Math.min(goal.base_minor ?? goal.base ?? 0, target);
  const pct = target > base ? Math.max(0, Math.min(100, ((value - base) / (target - base)) * 100)) : 100;
  return { value, target, pct, done: value >= target };
}

/** The goals a stage shows at server time `now`: armed ones, and those fired in the last few seconds. */
export function goalsShown(state, now) {
  return (state.goals || []).filter((g) => g.state === "armed"
    || (g.state === "fired" && now - g.fired_at < FIRED_SHOWN_MS));
}

/** A group buy's ladder: null for a deal without tiers; else {tiers, tier, next (the next tier or null),
 * toGo (buyers still needed for it)}. */
export function tierStatus(deal) {
  if (!deal || !Array.isArray(deal.tiers) || deal.tiers.length < 2) return null;
  const tier = deal.tier || 0;
  const next = deal.tiers[tier + 1] || null;
  return { tiers: deal.tiers, tier, next, toGo: next ? Math.max(0, next.buyers - (deal.buyers || 0)) : 0 };
}
