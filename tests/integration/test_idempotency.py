"""`Idempotency-Key` on HTTP writes (CONTRACT): a console or integration that retries after a timeout or a
503 gets the first answer again, and nothing happens twice."""

from __future__ import annotations

from typing import Any

import aiohttp
import orjson

from livecart.store.keys import RoomKeys
from livecart.web.idempotency import key_digest
from tests.support import deal_body, token


async def call(port: int, method: str, path: str, tok: str, body: Any = None,
               key: str | None = None) -> tuple[int, Any, Any]:
    headers = {"Authorization": f"Bearer {tok}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    async with aiohttp.ClientSession() as session, session.request(
            method, f"http://127.0.0.1:{port}{path}", data=None if body is None else orjson.dumps(body),
            headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers


async def deals(port: int, room: str) -> list[dict[str, Any]]:
    _, body, _ = await call(port, "GET", f"/api/rooms/{room}/deals", token("assistant", room, "amy"))
    return body["deals"]


async def test_a_retried_create_with_the_same_key_creates_one_deal(node, room):
    amy = token("assistant", room, "amy")
    path = f"/api/rooms/{room}/deals"
    first = await call(node.port, "POST", path, amy, deal_body(), key="create-1")
    again = await call(node.port, "POST", path, amy, deal_body(), key="create-1")
    assert first[0] == again[0] == 201 and first[1] == again[1]
    assert again[2].get("Idempotent-Replayed") == "true"
    assert [d["id"] for d in await deals(node.port, room)] == [first[1]["deal"]["id"]]
    # Without the key, or with another one, it is a new deal.
    assert (await call(node.port, "POST", path, amy, deal_body(), key="create-2"))[0] == 201
    assert (await call(node.port, "POST", path, amy, deal_body()))[0] == 201
    assert len(await deals(node.port, room)) == 3


async def test_a_retried_restock_adds_stock_once_even_when_its_answer_was_lost(node, room):
    amy = token("assistant", room, "amy")
    _, created, _ = await call(node.port, "POST", f"/api/rooms/{room}/deals", amy, deal_body(stock=10))
    path = f"/api/rooms/{room}/deals/{created['deal']['id']}/restock"
    for _ in range(2):
        status, body, _ = await call(node.port, "POST", path, amy, {"add": 5}, key="restock-1")
        assert status == 200 and body["deal"]["stock"] == 15
    # The node died after the restock, before keeping its answer: the retry reruns the request, and the
    # operation id derived from the key makes it change nothing.
    await node.store.client.delete(RoomKeys(room).idempotency(key_digest("9:assistantamy", "restock-1")))
    status, body, headers = await call(node.port, "POST", path, amy, {"add": 5}, key="restock-1")
    assert status == 200 and body["deal"]["stock"] == 15 and "Idempotent-Replayed" not in headers
    assert (await call(node.port, "POST", path, amy, {"add": 5}, key="restock-2"))[1]["deal"]["stock"] == 20


async def test_keys_belong_to_their_subject_and_to_one_request(node, room):
    path = f"/api/rooms/{room}/deals"
    amy, zoe = token("assistant", room, "amy"), token("assistant", room, "zoe")
    a = await call(node.port, "POST", path, amy, deal_body(), key="k")
    z = await call(node.port, "POST", path, zoe, deal_body(), key="k")
    assert a[0] == z[0] == 201 and a[1]["deal"]["id"] != z[1]["deal"]["id"]
    status, body, _ = await call(node.port, "POST", path, amy, deal_body(stock=3), key="k")
    assert (status, body["error"]) == (422, "idempotency_key_reused")
    assert len(await deals(node.port, room)) == 2


async def test_a_refused_request_keeps_nothing_and_a_claim_answer_is_kept(node, room):
    amy = token("assistant", room, "amy")
    path = f"/api/rooms/{room}/deals"
    assert (await call(node.port, "POST", path, amy, {"bad": 1}, key="fix-me"))[0] == 400
    status, created, _ = await call(node.port, "POST", path, amy, {"bad": 2}, key="fix-me")
    assert status == 400  # not 422: the 400 was not kept, the key is free again
    status, created, _ = await call(node.port, "POST", path, amy, deal_body(stock=1, limit_per_user=1),
                                    key="fix-me")
    assert status == 201
    claims = f"/api/rooms/{room}/deals/{created['deal']['id']}/claims"
    lin = token("viewer", room, "lin")
    first = await call(node.port, "POST", claims, lin, {"qty": 1, "key": "c1"}, key="i1")
    again = await call(node.port, "POST", claims, lin, {"qty": 1, "key": "c1"}, key="i1")
    assert first[0] == again[0] == 200 and first[1] == again[1]
    bo = token("viewer", room, "bo")
    refused = await call(node.port, "POST", claims, bo, {"qty": 1, "key": "c1"}, key="i1")
    assert (refused[0], refused[1]["reason"]) == (409, "sold_out")  # bo's key "i1" is bo's own
    assert (await call(node.port, "POST", claims, bo, {"qty": 1, "key": "c1"}, key="i1"))[1] == refused[1]
    status, body, _ = await call(node.port, "POST", claims, bo, {"qty": 1, "key": "c2"}, key="x" * 300)
    assert (status, body["error"]) == (400, "bad_idempotency_key")


async def test_the_python_console_client_retries_a_write_with_its_idempotency_key(node, room):
    from aiohttp import web

    from livecart.client import ConsoleClient

    console = ConsoleClient(f"http://127.0.0.1:{node.port}", room, token("assistant", room, "amy"))
    deal = await console.create_deal(deal_body(stock=4), key="one")
    assert (await console.create_deal(deal_body(stock=4), key="one"))["id"] == deal["id"]
    for _ in range(2):
        assert (await console.control(deal["id"], "restock", {"add": 3}, key="r"))["stock"] == 7
    await console.close()

    # A node that answers 503 first (Redis away): the retry carries the same key.
    seen: list[str] = []

    async def flaky(request: web.Request) -> web.Response:
        seen.append(request.headers["Idempotency-Key"])
        if len(seen) == 1:
            return web.json_response({"error": "unavailable", "detail": "x"}, status=503)
        return web.json_response({"deal": {"id": "d"}}, status=201)

    app = web.Application()
    app.router.add_post("/api/rooms/{room}/deals", flaky)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        console = ConsoleClient(f"http://127.0.0.1:{port}", room, "t", retry_s=0.01)
        assert await console.create_deal(deal_body()) == {"id": "d"}
        await console.close()
    finally:
        await runner.cleanup()
    assert len(seen) == 2 and seen[0] == seen[1]
