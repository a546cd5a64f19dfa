"""Random and mutated input at every endpoint: never a 5xx, never a dead process, never a changed state."""

from __future__ import annotations

import asyncio
import random

import aiohttp
import msgpack
import orjson
import websockets

from tests.support import RoomClient, comment, token, ws_url

SEED = 20261126


def mutations(rnd: random.Random, valid: bytes, n: int) -> list[bytes]:
    out = []
    for _ in range(n):
        data = bytearray(valid)
        for _ in range(rnd.randint(1, 6)):
            op = rnd.random()
            pos = rnd.randrange(len(data) + 1)
            if op < 0.4 and data:
                data[min(pos, len(data) - 1)] = rnd.randrange(256)
            elif op < 0.7:
                data[pos:pos] = bytes(rnd.randrange(256) for _ in range(rnd.randint(1, 8)))
            else:
                del data[pos:pos + rnd.randint(1, 8)]
        out.append(bytes(data))
    out += [bytes(rnd.randrange(256) for _ in range(rnd.randint(0, 200))) for _ in range(n // 4)]
    return out


async def test_random_bodies_and_paths_never_get_a_5xx_or_apply_anything(node, room):
    rnd = random.Random(SEED)
    valid = orjson.dumps([comment("valid-1"), {"id": "g", "type": "gift", "user": {"id": "u"},
                                               "gift": "rose", "count": 1, "value": 1.5}])
    headers = {"Authorization": f"Bearer {token('ingest', room)}"}
    before = await node.store.snapshot(room)
    statuses: dict[int, int] = {}
    async with aiohttp.ClientSession() as http:
        base = f"http://127.0.0.1:{node.port}"
        for body in mutations(rnd, valid, 300):
            ctype = rnd.choice(["application/json", "application/msgpack", "text/plain"])
            async with http.post(f"{base}/api/rooms/{room}/events", data=body,
                                 headers={**headers, "Content-Type": ctype}) as resp:
                statuses[resp.status] = statuses.get(resp.status, 0) + 1
                assert resp.status < 500, (body, await resp.text())
                if resp.status != 200:
                    assert set((await resp.json()).keys()) == {"error", "detail", "temporary"}
        for path in ["/api/rooms//events", "/api/rooms/%00/state", "/api/rooms/" + "a" * 5000 + "/state",
                     "/ws/rooms/x", "/api/rooms/r/events?x=%ff", "/metrics?format=%%"]:
            for method in ("GET", "POST", "PUT", "DELETE"):
                async with http.request(method, base + path, headers=headers) as resp:
                    assert resp.status < 500, (method, path, resp.status)
        for bad_auth in ["Bearer", "Bearer " + "x" * 5000, "Basic abc", "Bearer a.b.c.d"]:
            async with http.post(f"{base}/api/rooms/{room}/events", data=b"[]",
                                 headers={"Authorization": bad_auth}) as resp:
                assert resp.status == 401
        async with http.get(f"{base}/healthz") as resp:
            assert resp.status == 200
    # Mutated bodies may still be valid events; those were accepted. Invalid ones changed nothing:
    after = await node.store.snapshot(room)
    history = await node.store.history(room, before.offset, after.epoch)
    assert after.offset - before.offset == len(history.events)
    assert all(e["type"] in ("comment", "gift") for e in history.events)


async def test_random_websocket_frames_get_error_frames_and_leave_others_undisturbed(node, room):
    rnd = random.Random(SEED)
    bystander = await RoomClient.connect(ws_url(node.port, room))
    await bystander.recv()
    fuzzer = await RoomClient.connect(ws_url(node.port, room, tok=token("viewer", room, "fuzz")))
    await fuzzer.recv()
    valid = orjson.dumps({"type": "comment", "text": "hi", "req": "r"})
    sent = 0
    for data in mutations(rnd, valid, 60):
        try:
            if rnd.random() < 0.5:
                await fuzzer.ws.send(data)  # binary: decoded as msgpack
            else:
                await fuzzer.ws.send(data.decode("utf-8", "replace"))
            sent += 1
        except websockets.ConnectionClosed:
            break
    await fuzzer.ws.send(msgpack.packb({"type": "claim", "deal": 1, "qty": "many"}))
    # The fuzzer's socket may have been closed for too many bad messages (1008); that is the contract.
    replies = []
    try:
        while True:
            replies.append(await fuzzer.recv(timeout=1))
    except (TimeoutError, websockets.ConnectionClosed):
        pass
    assert all(r["type"] in ("error", "comment_result", "batch", "pong") for r in replies), replies
    assert fuzzer.ws.close_code in (None, 1008), fuzzer.ws.close_code
    await asyncio.sleep(0)
    # The bystander saw only valid room events and still works.
    async with aiohttp.ClientSession() as http, http.post(
            f"http://127.0.0.1:{node.port}/api/rooms/{room}/events", data=orjson.dumps([comment("after")]),
            headers={"Authorization": f"Bearer {token('ingest', room)}"}) as resp:
        assert resp.status == 200
    frame = await bystander.until(lambda f: any(e.get("id") == "after" for e in f.get("events", [])))
    assert frame["type"] == "batch"
    await bystander.close()
    await fuzzer.close()


async def test_mutated_bodies_at_every_console_and_claim_route_never_5xx_and_rejected_ones_change_nothing(
        node, room):
    """Each route gets its valid body mutated (bytes flipped, inserted, cut) and random bytes. Whatever
    a route answers 4xx must leave the room exactly as it was: deals, counters, stage, cues, audit."""
    from tests.support import create_deal, deal_body

    rnd = random.Random(SEED + 1)
    assistant, viewer = token("assistant", room, "amy"), token("viewer", room, "vic")
    deal = await create_deal(node.port, room, stock=50, limit_per_user=50)
    routes = [
        ("deals", assistant, deal_body()),
        (f"deals/{deal['id']}/restock", assistant, {"add": 3}),
        (f"deals/{deal['id']}/keyword", assistant, {"keyword": "want"}),
        (f"deals/{deal['id']}/claims", viewer, {"qty": 1, "key": "k1"}),
        ("pin", assistant, {"product": {"id": "p9", "name": "Tea", "price": 39}}),
        ("highlight", assistant, {"text": "hi", "name": "Lin", "offset": 3}),
        ("announcement", assistant, {"text": "20% off"}),
        ("cues", assistant, {"text": "push now", "priority": "high"}),
        ("tokens", assistant, {"role": "overlay"}),
    ]
    base = f"http://127.0.0.1:{node.port}/api/rooms/{room}"
    async with aiohttp.ClientSession() as http:

        async def get(path: str) -> dict:
            async with http.get(f"{base}/{path}", headers={"Authorization": f"Bearer {assistant}"}) as resp:
                assert resp.status == 200, path
                return await resp.json()

        async def room_state() -> tuple:
            state, deals, audit, cues = [await get(p) for p in ("state", "deals", "audit", "cues")]
            for d in deals["deals"]:
                d.pop("claims_per_s", None)
            return (state["offset"], state["counters"], state.get("pinned"), state.get("highlight"),
                    state.get("announcement"), deals["deals"], len(audit["entries"]), len(cues["cues"]))

        for path, tok, valid in routes:
            for body in mutations(rnd, orjson.dumps(valid), 24):
                before = await room_state()
                ctype = rnd.choice(["application/json", "application/msgpack", "text/plain"])
                headers = {"Authorization": f"Bearer {tok}", "Content-Type": ctype}
                async with http.post(f"{base}/{path}", data=body, headers=headers) as resp:
                    assert resp.status < 500, (path, body, await resp.text())
                    reply = await resp.json()
                    if resp.status >= 400 and not (path.endswith("claims") and resp.status == 409):
                        assert set(reply) == {"error", "detail", "temporary"}, (path, reply)
                        assert await room_state() == before, (path, body, reply)
        async with http.get(f"http://127.0.0.1:{node.port}/healthz") as resp:
            assert resp.status == 200
