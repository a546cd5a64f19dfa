"""The `growth` scenario as users run it: invitees arrive through invite links (two at once each), like
toward a goal that starts a deal, rush it and pay; the tool's own checks pass, and the node's state,
read here independently, agrees with what the tool reports."""

from __future__ import annotations

from tests.support import api, token


async def test_growth_credits_each_invitee_once_fires_the_goal_once_and_sells_the_exact_stock(node, loadtool):
    run = await loadtool.run("growth", node.port, "--clients", "40", "--rate", "200", "--stock", "10",
                             "--duration", "20")
    r = run.result
    assert run.code == 0 and r["verdict"] == "pass", r["reasons"]
    g, room = r["growth"], r["room"]
    assert (g["invitees"], g["credited"], g["links_opened"]) == (40, 40, 80)
    assert g["hostile_refused"] == {"self_invite": 2, "no_such_invite": 2, "bad_ref": 2}
    assert g["goal"]["state"] == "fired" and g["goal"]["fired_value"] >= g["like_target"] == 120
    assert r["deliveries"] == r["deliveries_expected"] == 40 and r["duplicates"] == r["gaps"] == 0

    host = token("host", room)
    _, board = await api(node.port, "GET", f"/api/rooms/{room}/invites?top=200", host)
    assert board["funnel"] == {"opens": 80, "joins": 40, "buyers": 10, "gmv": 990.0}
    assert sum(row["joins"] for row in board["top"]) == 40 and len(board["top"]) == 2
    _, deals = await api(node.port, "GET", f"/api/rooms/{room}/deals", host)
    [deal] = deals["deals"]
    assert (deal["stock"], deal["left"], deal["held"], deal["sold"], deal["buyers"]) == (10, 0, 0, 10, 10)
    _, goals = await api(node.port, "GET", f"/api/rooms/{room}/goals", host)
    [goal] = goals["goals"]
    assert goal["state"] == "fired" and goal["action"] == {"type": "start_deal", "deal": deal["id"]}
