"""The bridges end to end without the network: the platforms' own frames (TikTokLive's parser, blivedm's
packet parser and models) → the mapping → the outbox → a real node on a real Redis. The live connection
to TikTok or Bilibili is the one part left out (it cannot be reached from here)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import aiohttp
import blivedm
from aiohttp import web

from livecart.bridges.bilibili import BilibiliMapper
from livecart.bridges.bilibili_live import Handler
from livecart.bridges.mapped import Notice
from livecart.bridges.metrics import BridgeMetrics
from livecart.bridges.outbox import SOURCE_HEADER, Outbox
from livecart.bridges.run import Sink, supervise
from livecart.bridges.tiktok import TikTokMapper
from tests import platform_events as pe
from tests.support import api, token


class Bridge:
    """One bridge's pipeline, as `livecart connect` assembles it, pointed at `url`."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        url: str,
        room: str,
        platform: str,
        source: str,
        expire: Any = None,
        **outbox: Any,
    ) -> None:
        self.metrics = BridgeMetrics(platform)
        self.outbox = Outbox(
            session, url, room, source, lambda: token("ingest", room), self.metrics, **outbox
        )
        self.sink = Sink(platform, self.outbox, self.metrics, expire)
        self.task = asyncio.create_task(self.outbox.run())

    async def settle(self) -> None:
        await asyncio.wait_for(self.outbox.drained(), 10)

    async def close(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    def count(self, name: str, **labels: str) -> float:
        value = self.metrics.registry.get_sample_value(name, labels)
        return value or 0.0


def url(node: Any) -> str:
    return f"http://127.0.0.1:{node.port}"


async def counters(node: Any, room: str) -> dict[str, Any]:
    return (await node.store.snapshot(room)).counters


async def staff_cues(node: Any, room: str) -> list[dict[str, Any]]:
    status, body = await api(node.port, "GET", f"/api/rooms/{room}/cues", token("assistant", room, "hana"))
    assert status == 200
    return body["cues"]


TIKTOK_SHOW = (
    pe.chat(11, "多少钱?"),
    pe.like(12, 15, 300),
    pe.gift(13, pe.ROSE, 1, False, 99),
    pe.gift(14, pe.ROSE, 5, True, 99),
    pe.gift(15, pe.LION, 1, True, 0),
    pe.social(16, "pm_main_follow_message_viewer_2"),
    pe.social(17, "pm_mt_guidance_share"),
    pe.member(18),
    pe.viewers(19, 1234),
    pe.control(20, pe.ControlAction.STREAM_ENDED),
)


async def feed_tiktok(bridge: Bridge, mapper: TikTokMapper, frames: tuple[Any, ...]) -> None:
    for event in await pe.tiktok_events(*frames):
        bridge.sink.take(mapper.map(event, 0))
    await bridge.settle()


async def test_a_tiktok_stream_reaches_the_room_once_even_through_a_reconnect_and_a_second_bridge(node, room):
    async with aiohttp.ClientSession() as session:
        first = Bridge(session, url(node), room, "tiktok", "tiktok:@shop")
        await feed_tiktok(first, TikTokMapper("@shop", diamond_value=0.005), TIKTOK_SHOW)
        after_first = await counters(node, room)
        assert (after_first["comments"], after_first["likes"], after_first["gifts"]) == (1, 15, 6)
        assert after_first["gifts_value_cents"] == 3 + 15000  # 5 roses × 0.005 + a lion's 29,999 × 0.005
        assert (after_first["follows"], after_first["shares"], after_first["joins"]) == (1, 1, 1)
        # The connection drops and TikTok sends the same messages again; and a second bridge on the
        # same stream sends them too: ingest answers duplicates, nothing moves.
        await feed_tiktok(first, TikTokMapper("@shop", diamond_value=0.005), TIKTOK_SHOW)
        second = Bridge(session, url(node), room, "tiktok", "tiktok:@shop")
        await feed_tiktok(second, TikTokMapper("@shop", diamond_value=0.005), TIKTOK_SHOW)
        assert await counters(node, room) == after_first
        assert first.count("livecart_bridge_events_sent_total", result="accepted") == 7
        assert first.count("livecart_bridge_events_sent_total", result="duplicate") == 7
        assert second.count("livecart_bridge_events_sent_total", result="duplicate") == 7
        # Every platform event was counted by type and outcome; the stream's end told staff once.
        assert (
            first.count(
                "livecart_bridge_platform_events_total",
                platform="tiktok",
                type="GiftEvent",
                outcome="pending",
            )
            == 2
        )
        assert (
            first.count(
                "livecart_bridge_platform_events_total",
                platform="tiktok",
                type="SocialEvent",
                outcome="dropped",
            )
            == 4
        )
        assert first.metrics.viewers._value.get() == 1234
        ended = [c for c in await staff_cues(node, room) if c["kind"] == "source_stream_ended"]
        assert len(ended) == 1 and ended[0]["priority"] == "high"
        assert ended[0]["texts"] == {
            "zh": "直播已结束（tiktok:@shop）",
            "en": "The stream ended (tiktok:@shop)",
        }
        assert ended[0]["data"]["source"] == "tiktok:@shop"
        assert first.count("livecart_bridge_notices_total", kind="stream_ended", result="sent") == 2
        await first.close()
        await second.close()


async def test_a_gift_streak_that_never_ends_counts_once_whether_its_end_comes_late_or_never(node, room):
    async with aiohttp.ClientSession() as session:
        mapper = TikTokMapper("@shop", diamond_value=0.005, streak_timeout_ms=10_000)
        bridge = Bridge(session, url(node), room, "tiktok", "tiktok:@shop", expire=mapper.expire)
        for event in await pe.tiktok_events(
            pe.gift(31, pe.ROSE, 1, False, 7), pe.gift(32, pe.ROSE, 4, False, 7)
        ):
            bridge.sink.take(mapper.map(event, 1_000))
        bridge.sink.tick(5_000)  # still within the streak's window: nothing sent
        await bridge.settle()
        assert (await counters(node, room)).get("gifts", 0) == 0
        bridge.sink.tick(11_000)  # quiet for 10 s: the streak is sent with what it had
        await bridge.settle()
        assert (await counters(node, room))["gifts"] == 4
        await feed_tiktok(bridge, mapper, (pe.gift(33, pe.ROSE, 6, True, 7),))  # its end, late
        bridge.outbox.put(mapper.flush())  # the connection ends: nothing open, nothing more
        await bridge.settle()
        assert (await counters(node, room))["gifts"] == 4
        assert bridge.count("livecart_bridge_events_sent_total", result="duplicate") == 1
        await bridge.close()


async def test_a_bilibili_stream_from_the_server_s_own_packets_reaches_the_room_once(node, room):
    async with aiohttp.ClientSession() as session:
        bridge = Bridge(session, url(node), room, "bilibili", "bilibili:21452505")
        client = blivedm.BLiveClient(21452505)
        client.add_handler(Handler(BilibiliMapper(21452505, gold_value=0.001), bridge.sink))
        packet = pe.packet(
            pe.danmaku(1001, "小林", "这件有大码吗？", id_str="dm-1"),
            pe.send_gift(1002, "阿强", "小花花", 10, 100, "gold", "tid-1"),
            pe.guard_buy(1003, "舰长A", 3, 1, 198_000),
            pe.super_chat(4121, 1004, "小林", 30, "有优惠券吗？"),
            pe.interact(1005, "路人", 1, 1_795_667_420_123_456_789),
            pe.interact(1005, "路人", 2, 1_795_667_421_123_456_789),
            pe.like_click(1006, "点赞的人", 5),
            {"cmd": "PK_BATTLE_START", "data": {}},
            {"cmd": "PREPARING", "roomid": "21452505"},
        )
        for _ in range(2):  # the same packet twice: a server resend, or a second connection
            await client._parse_ws_message(packet)  # blivedm's own parser: headers, brotli, dispatch
            await bridge.settle()
        c = await counters(node, room)
        assert (c["comments"], c["gifts"], c["joins"], c["follows"], c["likes"]) == (2, 12, 1, 1, 1)
        assert c["gifts_value_cents"] == 100 + 19800 + 3000  # ¥1 of flowers, a captain, a ¥30 Super Chat
        cues = await staff_cues(node, room)
        assert sorted(c["kind"] for c in cues) == ["source_stream_ended", "source_super_chat"]
        [sc] = [c for c in cues if c["kind"] == "source_super_chat"]
        assert sc["priority"] == "high" and "有优惠券吗？" in sc["text"]
        assert sc["data"] == {
            "platform": "bilibili",
            "user": "小林",
            "amount": 30.0,
            "source": "bilibili:21452505",
        }
        assert (
            bridge.count(
                "livecart_bridge_platform_events_total",
                platform="bilibili",
                type="PK_BATTLE_START",
                outcome="unmapped",
            )
            == 2
        )
        assert (
            bridge.count(
                "livecart_bridge_platform_events_total",
                platform="bilibili",
                type="DanmakuMessage",
                outcome="mapped",
            )
            == 2
        )
        await bridge.close()
        await client.close()


async def test_source_cues_take_only_an_ingest_token_and_refuse_bad_notices_with_a_reason(node, room):
    good = {"id": "n1", "kind": "stream_paused", "text": "paused"}
    path = f"/api/rooms/{room}/source-cues"
    for role in ("viewer", "overlay", "host", "assistant"):
        status, body = await api(node.port, "POST", path, token(role, room, "u1"), good)
        assert (status, body["error"]) == (403, "forbidden")
    ingest = token("ingest", room)
    bad = [
        ({**good, "kind": "dance"}, "kind"),
        ({**good, "id": ""}, "id"),
        ({**good, "text": " "}, "text"),
        ({**good, "priority": "urgent"}, "priority"),
        ({**good, "data": {"x": {"nested": 1}}}, "data"),
        ({**good, "data": {str(i): i for i in range(11)}}, "data"),
        ({**good, "text": "x" * 501}, "text"),
    ]
    for body_in, field in bad:
        status, body = await api(node.port, "POST", path, ingest, body_in)
        assert (status, body["error"]) == (400, "bad_field") and field in body["detail"]
    status, body = await api(node.port, "POST", path, ingest, ["not", "an", "object"])
    assert (status, body["error"]) == (400, "bad_body")
    assert await staff_cues(node, room) == []
    status, body = await api(node.port, "POST", path, ingest, good)
    assert (
        status == 201
        and body["cue"]["kind"] == "source_stream_paused"
        and "source" not in body["cue"]["data"]
    )
    assert await api(node.port, "POST", path, ingest, good) == (200, {"cue": None, "duplicate": True})
    assert len(await staff_cues(node, room)) == 1


async def test_a_malformed_source_header_is_ignored_not_refused(node, room):
    async with aiohttp.ClientSession() as session:
        for header, expected in (("tiktok:@shop", "tiktok:@shop"), ("Bad Kind:x", None), ("tiktok:", None)):
            async with session.post(
                f"{url(node)}/api/rooms/{room}/source-cues",
                json={"id": f"n-{header}", "kind": "source_down", "text": "down"},
                headers={"Authorization": f"Bearer {token('ingest', room)}", SOURCE_HEADER: header},
            ) as resp:
                assert resp.status == 201
                assert (await resp.json())["cue"]["data"].get("source") == expected


async def answering(statuses: list[int]) -> tuple[web.AppRunner, int, list[bytes]]:
    """A loopback stand-in for a node that answers `statuses` in turn (then 200), keeping every body."""
    bodies: list[bytes] = []

    async def events(request: web.Request) -> web.Response:
        # What every bridge request carries (the hooks' list of sources reads the header).
        assert request.headers[SOURCE_HEADER] == "tiktok:@shop"
        assert request.headers["Authorization"].startswith("Bearer ")
        bodies.append(await request.read())
        status = statuses.pop(0) if statuses else 200
        if status == 200:
            return web.json_response({"accepted": 1, "duplicates": 0, "rejected": []})
        return web.json_response({"error": "x", "detail": "y"}, status=status, headers={"Retry-After": "0"})

    app = web.Application()
    app.router.add_post("/api/rooms/{room}/events", events)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1], bodies  # type: ignore[union-attr]  # started


async def test_the_outbox_sends_the_same_body_again_after_503_and_429_and_gives_up_on_401(room):
    runner, port, bodies = await answering([503, 429, 200, 401])
    async with aiohttp.ClientSession() as session:
        bridge = Bridge(
            session,
            f"http://127.0.0.1:{port}",
            room,
            "tiktok",
            "tiktok:@shop",
            backoff_s=0.01,
            backoff_cap_s=0.02,
        )
        bridge.outbox.put([{"id": "tiktok:1", "type": "like"}])
        await bridge.settle()
        assert len(bodies) == 3 and bodies[0] == bodies[1] == bodies[2]
        assert bridge.count("livecart_bridge_ingest_retries_total") == 2
        bridge.outbox.put([{"id": "tiktok:2", "type": "like"}])
        await bridge.settle()
        assert len(bodies) == 4  # a 401 is not retried: the token is wrong, not the moment
        assert bridge.count("livecart_bridge_events_sent_total", result="refused") == 1
        await bridge.close()
    await runner.cleanup()


async def test_the_outbox_keeps_its_queue_bounded_and_counts_what_it_dropped(room):
    async with aiohttp.ClientSession() as session:
        bridge = Bridge(session, "http://127.0.0.1:9", room, "tiktok", "tiktok:@shop", max_queue=3)
        bridge.task.cancel()  # nothing is sent: the queue only fills
        bridge.outbox.put([{"id": f"tiktok:{i}"} for i in range(5)])
        assert bridge.count("livecart_bridge_dropped_total", reason="queue_full") == 2
        await bridge.close()


async def test_a_source_that_keeps_failing_is_retried_with_backoff_and_staff_are_told_once_and_when_back(
    node, room
):
    async with aiohttp.ClientSession() as session:
        bridge = Bridge(session, url(node), room, "bilibili", "bilibili:1")
        tries = 0

        async def connect() -> None:
            nonlocal tries
            tries += 1
            if tries <= 3:
                raise OSError("unreachable")
            if tries == 4:  # up, longer than healthy_s, then the stream drops
                await asyncio.sleep(0.3)
                return
            raise asyncio.CancelledError  # stands in for the bridge being stopped

        flushed: list[int] = []
        result = await asyncio.gather(
            supervise(
                connect,
                source="bilibili:1",
                sink=bridge.sink,
                metrics=bridge.metrics,
                flush=lambda: flushed.append(1) or [],
                first_delay_s=0.01,
                cap_s=0.02,
                healthy_s=0.1,
            ),
            return_exceptions=True,
        )
        assert isinstance(result[0], asyncio.CancelledError)
        await bridge.settle()
        assert tries == 5 and len(flushed) == 5  # open streaks are flushed after every connection
        assert bridge.count("livecart_bridge_reconnects_total") == 4
        cues = sorted(await staff_cues(node, room), key=lambda c: c["created_at"])
        assert [c["kind"] for c in cues] == ["source_source_down", "source_source_up"]
        assert cues[0]["data"]["source"] == "bilibili:1"
        await bridge.close()


def test_notices_are_plain_wire_maps():
    n = Notice("x:1", "super_chat", "high", "t", {"amount": 30.0})
    assert n.to_wire() == {
        "id": "x:1",
        "kind": "super_chat",
        "priority": "high",
        "text": "t",
        "data": {"amount": 30.0},
    }


async def test_livecart_connect_runs_a_bridge_into_the_room_and_sends_what_is_queued_when_stopped(node, room):
    """`bridges.command.run` as `livecart connect` runs it, with the live connection replaced by frames
    of the library's own; its /metrics is served on a loopback port."""
    from livecart.bridges.command import BridgeOptions, run
    from tests.support import free_port

    mapper = TikTokMapper("@shop", diamond_value=0.005)
    fed = asyncio.Event()

    async def connect(sink: Sink) -> None:
        for event in await pe.tiktok_events(pe.chat(11, "hi"), pe.gift(12, pe.ROSE, 3, False, 5)):
            sink.take(mapper.map(event, 0))
        fed.set()
        await asyncio.Event().wait()  # the stream goes on until the bridge is stopped

    port = free_port()
    opts = BridgeOptions(
        "tiktok", "@shop", room, url(node), lambda: token("ingest", room), 0.005, metrics_port=port
    )
    stop = asyncio.Event()
    task = asyncio.create_task(run(opts, stop, (connect, mapper.flush, mapper.expire)))
    await asyncio.wait_for(fed.wait(), 20)
    async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{port}/metrics") as resp:
        text = await resp.text()
    assert (
        'livecart_bridge_platform_events_total{outcome="pending",platform="tiktok",type="GiftEvent"} 1.0'
        in text
    )
    stop.set()
    await asyncio.wait_for(task, 20)
    c = await counters(node, room)
    assert (c["comments"], c["gifts"]) == (1, 3)  # the open streak was sent on the way out


def test_livecart_connect_refuses_a_bad_target_or_room_before_connecting(capsys, tmp_path):
    from livecart.cli import main

    where = ["--data-dir", str(tmp_path)]
    assert main(["connect", "bilibili", "not-a-number", "--room", "r1", *where]) == 2
    assert "room id is a number" in capsys.readouterr().err
    assert main(["connect", "tiktok", "@shop", "--room", "bad room!", *where]) == 2
    assert main(["connect", "tiktok", "@", "--room", "r1", *where]) == 2
    for bad in ("nan", "-1", "inf"):
        assert main(["connect", "tiktok", "@shop", "--room", "r1", "--gift-value", bad, *where]) == 2
    assert "--gift-value" in capsys.readouterr().err


def test_without_the_connectors_extra_livecart_connect_says_how_to_install_it(capsys, tmp_path, monkeypatch):
    from livecart.cli import main

    monkeypatch.setitem(sys.modules, "TikTokLive", None)  # as if the extra were not installed
    monkeypatch.delitem(sys.modules, "livecart.bridges.tiktok_live", raising=False)
    args = [
        "connect",
        "tiktok",
        "@shop",
        "--room",
        "r1",
        "--data-dir",
        str(tmp_path),
        "--url",
        "http://127.0.0.1:9",
    ]
    assert main(args) == 2
    assert "scripts/setup connectors" in capsys.readouterr().err
