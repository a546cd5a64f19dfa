"""The invite parts of the pages' pure JS in a real page: the console's top-inviters order and goal and
coupon form checks (console/invite_model.js), the viewer's progress lines (viewer/invites.js
progressLines), and RoomState keeping the newest board by `seq` (lib/livecart.js)."""

from __future__ import annotations

from tests.browser.conftest import Browsing
from tests.support import token

SCRIPT = """async () => {
  const m = await import("/client/console/invite_model.js");
  const { progressLines } = await import("/client/viewer/invites.js");
  const { RoomState } = await import("/client/lib/livecart.js");
  const { translator } = await import("/client/lib/i18n.js");
  const t = translator("en");
  const out = {};
  const row = (user, joins, gmv) => ({ user, joins, gmv, buyers: 0 });
  const top = [row("c", 2, 0), row("a", 5, 1), row("b", 5, 9),
               ...Array.from({ length: 12 }, (_, i) => row(`z${i}`, 1, 0))];
  out.order = m.invitersShown({ top }).map((r) => r.user);
  out.empty = m.invitersShown(null);
  out.goals = [m.goalFromFields({ reward: "", target: "x", cap: "y" }),
               m.goalFromFields({ reward: "coupon", target: "3", cap: "2" }),
               m.goalFromFields({ reward: "claim_slot", target: "0", cap: "1" })[1],
               m.goalFromFields({ reward: "coupon", target: "3", cap: "2.5" })[1]];
  out.coupons = m.couponsFromText(" A-1\\nB-2  A-1\\n\\n");
  out.lines = [progressLines(t, { joins: 1, goal: { target: 3, reward: "coupon", cap: 1 }, next_at: 3,
                                  claim_slots: 0, coupons: [] }),
               progressLines(t, { joins: 4, goal: { target: 2, reward: "claim_slot", cap: 2 }, next_at: null,
                                  claim_slots: 2, coupons: ["X"] }),
               progressLines(t, { joins: 0, goal: null, next_at: null, claim_slots: 0, coupons: [] })];
  const state = new RoomState();
  state.apply({ type: "invites", invites: { seq: 5, overlay: false, funnel: {}, top: [row("a", 5, 0)] } });
  state.applyInvites({ seq: 4, overlay: false, funnel: {}, top: [] });  // older: ignored
  out.kept = state.invites.top.length;
  state.applyInvites({ seq: 6, overlay: true, funnel: {}, top: [], goal: null });
  out.newest = [state.invites.seq, state.invites.overlay, state.invites.top.length];
  return out;
}"""


async def test_invite_rules_in_the_pages_order_check_and_word_what_they_show(make_node, room, browser):
    node = await make_node()
    b = Browsing(browser, node.port)
    page = await b.open(f"/console?room={room}&token={token('assistant', room)}&lang=en")
    out = await page.evaluate(SCRIPT)
    assert out["order"][:3] == ["b", "a", "c"] and len(out["order"]) == 10  # joins, then GMV; ten shown
    assert out["empty"] == []
    assert out["goals"] == [[{"goal": None}, None],
                            [{"goal": {"target": 3, "reward": "coupon", "cap": 2}}, None],
                            "friends per reward: 1-1000", "rewards per viewer: 1-100"]
    assert out["coupons"] == ["A-1", "B-2"]
    assert out["lines"] == [["You brought 1 friends", "2 more for a coupon"],
                            ["You brought 4 friends", "All rewards earned", "Extra claim slots: 2",
                             "Your coupons: X"],
                            ["You brought 0 friends"]]
    assert out["kept"] == 1 and out["newest"] == [6, True, 0]
    assert b.errors.messages == []
