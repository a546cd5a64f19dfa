"""Polls end to end on real Redis and real sockets: console controls, votes by socket, HTTP and
comment, one vote per user across two nodes, and every refusal a hostile voter can provoke."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import RoomClient, api, comment, post_events, token, ws_url


def amy(room):
    return token("assistant", room, "amy")


def poll_body(**overrides):
    body = {"question": "Next colour?", "options": ["Red", {"label": "Blue", "keyword": "蓝色"}, "Green"],
            "duration_s": 60}
    body.update(overrides)
    return body


async def create_poll(port, room, **overrides):
    status, body = await api(port, "POST", f"/api/rooms/{room}/polls", amy(room),
                             poll_body(**overrides))
    assert status == 201, body
    return body["poll"]


async def vote_http(port, room, poll, user, option):
    return await api(port, "POST", f"/api/rooms/{room}/polls/{poll}/votes", token("viewer", room, user),
                     {"option": option})


async def test_a_poll_opens_counts_socket_votes_and_every_socket_sees_the_bars(node, room):
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    assert (await overlay.recv())["type"] == "snapshot"
    poll = await create_poll(node.port, room)
    assert poll["state"] == "open" and poll["votes"] == [0, 0, 0] and poll["closes_at"] > poll["opens_at"]
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "lin")))
    snapshot = await viewer.recv()
    assert snapshot["poll"]["id"] == poll["id"]  # a joiner gets the current poll in its first frame
    await viewer.send({"type": "vote", "poll": poll["id"], "option": 1, "req": "v1"})
    answer = await viewer.reply()
    assert answer == {"type": "vote_result", "req": "v1", "ok": True, "poll": poll["id"], "option": 1,
                      "outcome": "counted", "votes": [0, 1, 0]}
    frame = await overlay.until(lambda f: f["type"] == "batch" and (f.get("poll") or {}).get("voters") == 1)
    assert frame["poll"]["votes"] == [0, 1, 0]
    await viewer.close()
    await overlay.close()


async def test_comments_vote_by_number_letter_or_keyword_once_per_user(node, room):
    poll = await create_poll(node.port, room)
    status, body, _ = await post_events(node.port, room, [
        comment("c1", "1", "u1"), comment("c2", "Ｂ", "u2"), comment("c3", "我要蓝色", "u3"),
        comment("c4", "hello", "u4"), comment("c5", "3", "u1")])  # u1 again: the first vote stands
    assert status == 200 and body["accepted"] == 5
    _, listed = await api(node.port, "GET", f"/api/rooms/{room}/polls", token("viewer", room))
    current = listed["polls"][0]
    assert current["id"] == poll["id"] and current["votes"] == [1, 2, 0] and current["voters"] == 3


async def test_a_changed_vote_replaces_the_old_one_only_when_the_poll_says_so(node, room):
    keep = await create_poll(node.port, room)
    assert (await vote_http(node.port, room, keep["id"], "u1", 0))[0] == 200
    status, body = await vote_http(node.port, room, keep["id"], "u1", 2)
    assert status == 409 and body["reason"] == "already_voted" and body["option"] == 0
    status, body = await vote_http(node.port, room, keep["id"], "u1", 0)
    assert status == 200 and body["outcome"] == "same" and body["votes"] == [1, 0, 0]
    await api(node.port, "POST", f"/api/rooms/{room}/polls/{keep['id']}/close", amy(room))
    change = await create_poll(node.port, room, change_vote=True)
    await vote_http(node.port, room, change["id"], "u1", 0)
    status, body = await vote_http(node.port, room, change["id"], "u1", 2)
    assert status == 200 and body["outcome"] == "moved" and body["votes"] == [0, 0, 1]


async def test_votes_for_a_closed_or_unknown_poll_get_a_clear_error(node, room):
    poll = await create_poll(node.port, room)
    status, closed = await api(node.port, "POST", f"/api/rooms/{room}/polls/{poll['id']}/close",
                               amy(room))
    assert status == 200 and closed["poll"]["state"] == "closed"
    status, body = await vote_http(node.port, room, poll["id"], "u1", 0)
    assert status == 409 and body["ok"] is False and body["reason"] == "closed" and body["detail"]
    for bad in ("000000000000", "nope", "meta:x", "a" * 500, "ABCDEF012345"):
        status, body = await vote_http(node.port, room, bad, "u1", 0)
        assert status == 404 and body["error"] == "no_such_poll"
    # A poll of another room is unknown here.
    other = "o-" + room
    foreign = await create_poll(node.port, other)
    status, body = await vote_http(node.port, room, foreign["id"], "u1", 0)
    assert status == 404 and body["error"] == "no_such_poll"
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "lin")))
    await viewer.recv()
    await viewer.send({"type": "vote", "poll": poll["id"], "option": 0, "req": "late"})
    late = await viewer.reply()
    assert late["type"] == "vote_result" and late["ok"] is False and late["reason"] == "closed"
    await viewer.close()


@pytest.mark.parametrize("option", [-1, 3, 99, 1.5, "1", True, None, [0], {"a": 1}])
async def test_bad_options_are_refused_and_count_nothing(node, room, option):
    poll = await create_poll(node.port, room)
    status, body = await vote_http(node.port, room, poll["id"], "u1", option)
    assert status == 400 and body["error"] == "bad_option"
    _, listed = await api(node.port, "GET", f"/api/rooms/{room}/polls", token("viewer", room))
    assert listed["polls"][0]["votes"] == [0, 0, 0] and listed["polls"][0]["voters"] == 0


async def test_only_one_poll_is_open_at_a_time_and_only_assistants_run_them(node, room):
    poll = await create_poll(node.port, room)
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/polls", amy(room),
                             poll_body())
    assert status == 409 and body["error"] == "poll_open" and poll["id"] in body["detail"]
    for role in ("viewer", "overlay", "host"):
        status, _ = await api(node.port, "POST", f"/api/rooms/{room}/polls", token(role, room, "x"),
                              poll_body())
        assert status == 403
        status, _ = await api(node.port, "POST", f"/api/rooms/{room}/polls/{poll['id']}/close",
                              token(role, room, "x"))
        assert status == 403
    # Voting needs a viewer with a user.
    status, _ = await api(node.port, "POST", f"/api/rooms/{room}/polls/{poll['id']}/votes",
                          token("viewer", room), {"option": 0})
    assert status == 403


@pytest.mark.parametrize("body", [
    {"options": ["x"]}, {"options": ["a", "b", "c", "d", "e"]}, {"duration_s": 0}, {"duration_s": "60"},
    {"question": "<b>" * 100}, {"change_vote": 1},
])
async def test_bad_polls_are_refused_with_400(node, room, body):
    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/polls", amy(room),
                               poll_body(**body))
    assert status == 400 and answer["error"] == "bad_field" and answer["detail"]


async def test_one_vote_per_user_when_two_nodes_race(make_node, room):
    """Each of 60 users sends its vote 4 times, half through each node, all at once, in a poll that
    refuses changes, and some users try two different options: every user counts exactly once."""
    a, b = await make_node(), await make_node()
    poll = await create_poll(a.port, room)
    users = [f"u{i}" for i in range(60)]

    async def attempt(node, user, option):
        return await vote_http(node.port, room, poll["id"], user, option)

    tries = [attempt(node, user, (i + k) % 3 if i % 2 else i % 3)
             for i, user in enumerate(users) for k, node in enumerate((a, b, a, b))]
    answers = await asyncio.gather(*tries)
    counted = [body for status, body in answers if status == 200 and body.get("outcome") == "counted"]
    assert len(counted) == len(users)
    assert all(status in (200, 409) for status, _ in answers)
    _, listed = await api(b.port, "GET", f"/api/rooms/{room}/polls", token("viewer", room))
    final = listed["polls"][0]
    assert final["voters"] == 60 and sum(final["votes"]) == 60


async def test_a_vote_over_the_socket_on_one_node_moves_the_bars_on_the_other(make_node, room):
    a, b = await make_node(), await make_node()
    poll = await create_poll(a.port, room)
    watcher = await RoomClient.connect(ws_url(b.port, room, token("overlay", room)))
    await watcher.recv()
    voter = await RoomClient.connect(ws_url(a.port, room, token("viewer", room, "lin")))
    await voter.recv()
    await voter.send({"type": "vote", "poll": poll["id"], "option": 2, "req": "r"})
    assert (await voter.reply())["ok"] is True
    frame = await watcher.until(lambda f: f["type"] == "batch" and (f.get("poll") or {}).get("voters") == 1)
    assert frame["poll"]["votes"] == [0, 0, 1]
    await voter.close()
    await watcher.close()


async def test_the_report_has_each_polls_results_over_time(node, room):
    poll = await create_poll(node.port, room)
    for user, option in (("u1", 0), ("u2", 1), ("u3", 1)):
        await vote_http(node.port, room, poll["id"], user, option)
    status, report = await api(node.port, "GET", f"/api/rooms/{room}/report?format=json",
                               token("host", room, "hank"))
    assert status == 200
    polls = report["interactions"]["polls"]
    assert polls[0]["question"] == "Next colour?" and polls[0]["votes"] == [1, 2, 0]
    assert polls[0]["over_time"][-1]["votes"] == [1, 2, 0]


async def test_hostile_socket_votes_and_shows_get_one_clear_answer_each(node, room):
    poll = await create_poll(node.port, room)
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    anonymous = await RoomClient.connect(ws_url(node.port, room, token("viewer", room)))
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "lin")))
    for c in (overlay, anonymous, viewer):
        await c.recv()
    for client in (overlay, anonymous):
        await client.send({"type": "vote", "poll": poll["id"], "option": 0, "req": "x"})
        refused = await client.reply()
        assert refused["type"] == "error" and refused["error"] == "forbidden" and refused["req"] == "x"
    for message, reason in (({"poll": "nope"}, "no_such_poll"), ({"poll": 7}, "no_such_poll"),
                            ({"poll": poll["id"], "option": "0"}, "bad_option"),
                            ({"poll": poll["id"]}, "bad_option"),
                            ({"poll": poll["id"], "option": 10**18}, "bad_option")):
        await viewer.send({"type": "vote", "req": reason, **message})
        answer = await viewer.reply()
        assert answer["type"] == "vote_result" and answer["ok"] is False and answer["reason"] == reason
    # (Votes and shows count against the user's comment rate: a burst of 5, then 1/s. Another user.)
    poster = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "max")))
    await poster.recv()
    await poster.send({"type": "show", "text": "hi"})  # no req: the show's idempotency key
    assert (await poster.reply())["error"] == "bad_field"
    await poster.send({"type": "show", "text": "hi", "req": "s"})  # max bought nothing here
    assert (await poster.reply())["error"] == "forbidden"
    await poster.close()
    _, listed = await api(node.port, "GET", f"/api/rooms/{room}/polls", token("viewer", room))
    assert listed["polls"][0]["voters"] == 0
    for c in (overlay, anonymous, viewer):
        await c.close()
