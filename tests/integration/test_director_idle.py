"""The director skips idle rooms: no step while nothing happens, a step again as soon as something
does. Against a real node and Redis; the rules file has no look-back windows, so a room is idle as soon
as its last step is a second old (the built-in rules look back up to 660 s)."""

from __future__ import annotations

from livecart.director import Horizons
from livecart.stats import Window
from tests.support import RoomClient, comment, create_deal, post_events, token, until, ws_url

RULES = """
[low_stock]
priority = "high"
fraction = 0.10
cooldown_s = 30
ttl_s = 60
zh = "「{product}」库存不足"
en = "{product}: low stock"
"""


async def test_an_idle_room_is_not_stepped_until_something_happens_in_it(own_redis, make_node, room,
                                                                         tmp_path):
    rules = tmp_path / "rules.toml"
    rules.write_text(RULES)
    # Steps every 0.2 s, not every second: the same steps, sooner (idleness is still in whole seconds).
    node = await make_node(own_redis.url, cue_rules=str(rules), director_step_s=0.2)
    director = node.director
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "vic")))
    await viewer.recv()
    # Stepped once (the room is new to this director), then idle: same offset, deals and viewers.
    await until(lambda: director.idle.get(room, 0) >= 2)
    steps = director.steps[room]
    idle = director.idle[room]
    await until(lambda: director.idle[room] >= idle + 2)
    assert director.steps[room] == steps

    # An event is news: the room is stepped again (and folds it), then idle again.
    await post_events(node.port, room, [comment("c1")])
    await until(lambda: director.steps[room] > steps)
    idle = director.idle[room]
    await until(lambda: director.idle[room] > idle)

    # A viewer joining is news too.
    steps = director.steps[room]
    second = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "val")))
    await second.recv()
    await until(lambda: director.steps[room] > steps)

    # A live deal keeps the room stepped at every step (countdowns, stock levels): never idle meanwhile.
    deal = await create_deal(node.port, room, stock=10, limit_per_user=10)
    await until(lambda: director.steps[room] > steps + 1)
    # Its funnel mark (viewers at launch) is written once, by the first step that saw it live.
    assert await node.stats_store.marks(room) == {f"{deal['id']}:launch_viewers": 2}
    assert director.desks[room].marked == {f"{deal['id']}:launch_viewers"}
    idle, steps = director.idle[room], director.steps[room]
    await until(lambda: director.steps[room] >= steps + 3)
    assert director.idle[room] == idle
    for client in (viewer, second):
        await client.close()


def test_a_window_is_quiet_once_its_data_is_older_than_every_rule_looks_back():
    horizons = Horizons.of({"viewer_drop": {"window_s": 10, "baseline_s": 120},
                            "order_drop": {"window_s": 60, "baseline_s": 600}, "low_stock": {}})
    assert (horizons.viewers_s, horizons.events_s) == (130, 660)
    window = Window()
    window.add(1000, {"viewers": 5})
    window.add(1000, {"comments": 2})
    assert not horizons.quiet(window, 1000 + 130)
    assert not horizons.quiet(window, 1000 + 131)  # the comments are still within order_drop's reach
    assert horizons.quiet(window, 1000 + 661)
    only_viewers = Window()
    only_viewers.add(1000, {"viewers": 5})
    assert not horizons.quiet(only_viewers, 1000 + 130) and horizons.quiet(only_viewers, 1000 + 131)
