// The goal bars and the group-buy tier ladder, drawn the same on the overlay and the viewer page.
// Labels from the console are text nodes (h/setText), never HTML.

import { fill, h, money, setText } from "./dom.js";
import { goalProgress, goalsShown, tierStatus } from "./goals.js";

/** One row per goal shown (armed, or just reached), kept by id so the bars animate. */
export function renderGoalBars(node, state, now, t) {
  if (!node) return;
  const goals = goalsShown(state, now);
  node.hidden = goals.length === 0;
  const keep = new Set(goals.map((g) => g.id));
  for (const row of [...node.children]) if (!keep.has(row.dataset.goal)) row.remove();
  for (const goal of goals) {
    let row = node.querySelector(`[data-goal="${CSS.escape(goal.id)}"]`);
    if (!row) {
      row = h("div", { class: "goal-row", dataset: { goal: goal.id, metric: goal.metric } },
        h("span", { class: "goal-label" }), h("div", { class: "goal-bar" }, h("div", { class: "goal-fill" })),
        h("span", { class: "goal-count" }));
      node.append(row);
    }
    row.dataset.state = goal.state;
    setText(row.querySelector(".goal-label"), goal.label || t(`metric_${goal.metric}`));
    const progress = goalProgress(state, goal);
    row.querySelector(".goal-bar").hidden = !progress;
    const count = row.querySelector(".goal-count");
    if (goal.state === "fired") {
      setText(count, t("goalReached"));
    } else if (progress) {
      const show = (n) => (goal.metric === "gmv" ? money(n / (goal.scale || 100), state.currency)
        : Math.round(n).toLocaleString());
      setText(count, `${show(progress.value)} / ${show(progress.target)}`);
    } else {
      setText(count, "");
    }
    if (progress) row.querySelector(".goal-fill").style.width = `${progress.pct.toFixed(1)}%`;
  }
}

/** The ladder of a group buy: each tier's price and buyers, the one reached marked, and how many more
 * buyers the next one needs. Hidden for a deal without tiers. */
export function renderTiers(node, deal, t) {
  if (!node) return;
  const status = tierStatus(deal);
  node.hidden = !status;
  if (!status) return;
  const key = `${deal.id}:${status.tier}:${status.tiers.length}`;
  if (node.dataset.key !== key) {
    node.dataset.key = key;
    fill(node,
      h("div", { class: "tier-steps" }, status.tiers.map((tier, i) => h("div", {
        class: `tier-step${i === status.tier ? " reached" : i < status.tier ? " passed" : ""}`,
        dataset: { tier: String(i) } },
      h("span", { class: "tier-price" }, money(tier.price, deal.currency)),
      h("span", { class: "tier-buyers" }, i === 0 ? t("tierStart") : t("tierBuyers", { n: tier.buyers }))))),
      h("div", { class: "tier-next" }));
  }
  node.dataset.tier = String(status.tier);
  setText(node.querySelector(".tier-next"), status.next
    ? t("tierToGo", { n: status.toGo, price: money(status.next.price, deal.currency) })
    : t("tierLowest"));
}
