"""Moderation end to end: blocked words hide comments and shows from viewers and overlays (staff still
see them), mutes silence a user's comments, votes and shows until undone, and every change is audited."""

from __future__ import annotations

import asyncio

import pytest

from tests.support import RoomClient, api, comment, create_deal, post_events, token, ws_url


async def set_words(port, room, words):
    return await api(port, "POST", f"/api/rooms/{room}/blocked-words", amy(room),
                     {"words": words})


async def mute(port, room, user):
    return await api(port, "POST", f"/api/rooms/{room}/mutes", amy(room), {"user": user})


def amy(room):
    return token("assistant", room, "amy")


def comments_of(client):
    return [e for e in client.events if e["type"] == "comment"]


async def test_blocked_words_hide_comments_from_the_public_but_not_from_staff(node, room):
    status, body = await set_words(node.port, room, ["Scam", "假货"])
    assert status == 200 and body["words"] == ["scam", "假货"]
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    assistant = await RoomClient.connect(ws_url(node.port, room, amy(room)))
    await overlay.recv()
    await assistant.recv()
    await post_events(node.port, room, [comment("c1", "nice scarf"), comment("c2", "this is a ＳＣＡＭ"),
                                        comment("c3", "是假货吗"), comment("c4", "scampi?")])
    await overlay.events_until(4)
    await assistant.events_until(4)
    public = comments_of(overlay)
    assert [c.get("hidden", False) for c in public] == [False, True, True, False]
    assert public[1] == {"type": "comment", "offset": 2, "ts": public[1]["ts"], "hidden": True}
    staff = comments_of(assistant)
    assert [c.get("hidden") for c in staff] == [None, "blocked", "blocked", None]
    assert staff[1]["text"] == "this is a ＳＣＡＭ" and staff[1]["user"]["id"] == "u1"
    # A snapshot (a late joiner, GET …/state) hides them the same way.
    _, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("viewer", room))
    assert [e.get("text") for e in state["recent"]] == ["nice scarf", None, None, "scampi?"]
    await overlay.close()
    await assistant.close()


async def test_a_viewers_own_socket_comment_with_a_blocked_word_is_hidden(node, room):
    await set_words(node.port, room, ["spam"])
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "lin")))
    await viewer.recv()
    await viewer.send({"type": "comment", "text": "SPAM spam", "req": "c"})
    assert (await viewer.until(lambda f: f["type"] == "comment_result"))["ok"] is True
    await viewer.events_until(1)
    assert comments_of(viewer)[0]["hidden"] is True and "text" not in comments_of(viewer)[0]
    await viewer.close()


async def test_muting_ignores_comments_votes_and_shows_until_undone(node, room):
    status, body = await api(node.port, "POST", f"/api/rooms/{room}/polls", amy(room),
                             {"question": "Which?", "options": ["A", "B"], "duration_s": 60})
    poll = body["poll"]
    await post_events(node.port, room, [{"id": "o1", "type": "order", "user": {"id": "troll", "name": "T"},
                                         "order_id": "1", "product_id": "p", "qty": 1, "amount": 1,
                                         "status": "paid"}])
    show = (await api(node.port, "POST", f"/api/rooms/{room}/shows", token("viewer", room, "troll"),
                      {"text": "buy elsewhere"}))[1]["show"]
    await api(node.port, "POST", f"/api/rooms/{room}/shows/{show['id']}/approve", amy(room))
    status, body = await mute(node.port, room, "troll")
    assert status == 200 and body == {"user": "troll", "muted": True, "changed": True}
    assert (await mute(node.port, room, "troll"))[1]["changed"] is False
    assert await node.moderator.is_muted(room, "troll") and not await node.moderator.is_muted(room, "lin")
    # Their show left the wall.
    _, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("overlay", room))
    assert state["wall"] == {"shows": []}
    # Their comments are hidden, and their comment "1" is not a vote.
    await post_events(node.port, room, [comment("c1", "1", "troll"), comment("c2", "2", "lin")])
    _, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("viewer", room))
    said = [e for e in state["recent"] if e["type"] == "comment"]
    assert said[0] == {"type": "comment", "offset": said[0]["offset"], "ts": said[0]["ts"], "hidden": True}
    assert said[1]["text"] == "2"
    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/polls/{poll['id']}/votes",
                               token("viewer", room, "troll"), {"option": 0})
    assert status == 409 and answer["reason"] == "muted"
    _, listed = await api(node.port, "GET", f"/api/rooms/{room}/polls", token("viewer", room))
    assert listed["polls"][0]["votes"] == [0, 1]
    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/shows", token("viewer", room, "troll"),
                               {"text": "again"})
    assert status == 403
    # Undo: votes count, the show is back on the wall.
    status, body = await api(node.port, "DELETE", f"/api/rooms/{room}/mutes/troll", amy(room))
    assert status == 200 and body["changed"] is True
    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/polls/{poll['id']}/votes",
                               token("viewer", room, "troll"), {"option": 0})
    assert status == 200 and answer["votes"] == [1, 1]
    _, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("overlay", room))
    assert [s["id"] for s in state["wall"]["shows"]] == [show["id"]]
    _, mutes = await api(node.port, "GET", f"/api/rooms/{room}/mutes", token("host", room, "h"))
    assert mutes["muted"] == []
    _, audit = await api(node.port, "GET", f"/api/rooms/{room}/audit", amy(room))
    ops = [e["op"] for e in audit["entries"]]
    assert ops.count("mute") == 2 and "unmute" in ops and "show_approve" in ops and "poll_create" in ops
    assert all(e["by"] == "amy" for e in audit["entries"] if e["op"] in ("mute", "unmute"))


async def test_blocked_words_take_matching_shows_off_the_wall(node, room):
    await post_events(node.port, room, [{"id": "o1", "type": "order", "user": {"id": "lin", "name": "Lin"},
                                         "order_id": "1", "product_id": "p", "qty": 1, "amount": 1,
                                         "status": "paid"}])
    ids = []
    for text in ("great quality", "cheaper at FAKESHOP"):
        ids.append((await api(node.port, "POST", f"/api/rooms/{room}/shows", token("viewer", room, "lin"),
                              {"text": text}))[1]["show"]["id"])
        await api(node.port, "POST", f"/api/rooms/{room}/shows/{ids[-1]}/approve", amy(room))
    _, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("overlay", room))
    assert len(state["wall"]["shows"]) == 2
    await set_words(node.port, room, ["ｆａｋｅｓｈｏｐ"])
    _, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("overlay", room))
    assert [s["id"] for s in state["wall"]["shows"]] == [ids[0]]
    await set_words(node.port, room, [])
    _, state = await api(node.port, "GET", f"/api/rooms/{room}/state", token("overlay", room))
    assert len(state["wall"]["shows"]) == 2


@pytest.mark.parametrize("body", [None, {"words": "scam"}, {"words": [""]}, {"words": [1, 2]},
                                  {"words": ["x" * 51]}, {"words": ["w"] * 501}])
async def test_bad_word_lists_are_refused_and_change_nothing(node, room, body):
    await set_words(node.port, room, ["keep"])
    status, answer = await api(node.port, "POST", f"/api/rooms/{room}/blocked-words",
                               amy(room), body)
    assert status == 400 and answer["detail"]
    _, words = await api(node.port, "GET", f"/api/rooms/{room}/blocked-words", amy(room))
    assert words["words"] == ["keep"]


@pytest.mark.parametrize("user", ["", None, 5, "x" * 201, "a\nb"])
async def test_bad_mutes_are_refused(node, room, user):
    status, answer = await mute(node.port, room, user)
    assert status == 400 and answer["error"] == "bad_field"


async def test_only_assistants_moderate(node, room):
    for role in ("viewer", "overlay", "host"):
        assert (await set_words(node.port, room, ["x"]))[0] == 200  # the assistant can
        status, _ = await api(node.port, "POST", f"/api/rooms/{room}/blocked-words", token(role, room, "u"),
                              {"words": ["y"]})
        assert status == 403
        status, _ = await api(node.port, "POST", f"/api/rooms/{room}/mutes", token(role, room, "u"),
                              {"user": "v"})
        assert status == 403
    for role in ("viewer", "overlay"):
        status, _ = await api(node.port, "GET", f"/api/rooms/{room}/blocked-words", token(role, room, "u"))
        assert status == 403


async def test_a_mute_on_one_node_hides_comments_posted_through_the_other(make_node, room):
    a, b = await make_node(), await make_node()
    await post_events(b.port, room, [comment("c0", "warm up", "troll")])  # b has read the room's rules
    await mute(a.port, room, "troll")
    await asyncio.sleep(b.moderator.cache_s)  # b's cache of the rules lapses (documented: within cache_s)
    await post_events(b.port, room, [comment("c1", "after the mute", "troll")])
    _, state = await api(b.port, "GET", f"/api/rooms/{room}/state", token("viewer", room))
    assert [e.get("hidden", False) for e in state["recent"]] == [False, True]


async def test_a_hidden_comment_claims_nothing_with_a_deal_keyword(node, room):
    deal = await create_deal(node.port, room)
    status, _ = await api(node.port, "POST", f"/api/rooms/{room}/deals/{deal['id']}/keyword", amy(room),
                          {"keyword": "抢"})
    assert status == 200
    await mute(node.port, room, "troll")
    await set_words(node.port, room, ["scam"])
    await post_events(node.port, room, [comment("c1", "抢", "troll"), comment("c2", "抢 scam", "lin"),
                                        comment("c3", "抢", "mei")])
    _, listed = await api(node.port, "GET", f"/api/rooms/{room}/deals", amy(room))
    assert [d for d in listed["deals"] if d["id"] == deal["id"]][0]["held"] == 1  # mei's only
