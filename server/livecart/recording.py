"""Record and rehearse: a room's event log saved as JSON lines, and played back into another room
through the ingest path with its original timing scaled (`--speed 10`: ten times faster).

A recording line is `{"t": RECEIPT_MS, "event": EVENT}` as `GET /api/rooms/{room}/recording` gives
it. Replay keeps each event's id (a second replay into the same room changes nothing: ingest is
idempotent by id) and drops its `offset` and `ts`, so the new room stamps the time of the rehearsal.
Timing follows the events' own `ts`. Claims are not room events, so they are not in a recording;
orders that name a claim of the old room settle nothing in the new one.

`schedule` is pure; `record`, `replay` and `fetch` are the thin HTTP side used by the CLI.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable
from typing import Any

import aiohttp

from livecart.protocol import encode_json, load_json

__all__ = ["Plan", "delete", "fetch", "parse", "record", "replay", "schedule"]

SLOT_MS = 50  # events due within one slot go out in one request
MAX_BATCH = 500
DROPPED = ("offset", "ts")
Plan = list[tuple[float, list[dict[str, Any]]]]  # (seconds after the start, events to send then)


def parse(lines: Iterable[bytes | str]) -> list[dict[str, Any]]:
    """The events of a recording, in order. Blank lines are skipped; anything else must parse."""
    events = []
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            item = load_json(line)
            events.append(item["event"])
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(f"recording line {number} is not {{\"t\", \"event\"}} JSON") from exc
    return events


def schedule(events: list[dict[str, Any]], speed: float) -> Plan:
    """(seconds after the start, events to send then), with the events' ts gaps divided by `speed`."""
    if speed <= 0:
        raise ValueError("speed must be above 0")
    out: Plan = []
    if not events:
        return out
    t0 = int(events[0].get("ts", 0))
    slot_ms = SLOT_MS * speed  # one slot of wall time, in recording time
    for event in events:
        at = max(0, int(event.get("ts", t0)) - t0)
        body = {k: v for k, v in event.items() if k not in DROPPED}
        slot = at // slot_ms
        if out and out[-1][0] == slot * SLOT_MS / 1000 and len(out[-1][1]) < MAX_BATCH:
            out[-1][1].append(body)
        else:
            out.append((slot * SLOT_MS / 1000, [body]))
    return out


async def fetch(url: str, path: str, token: str) -> bytes:
    async with aiohttp.ClientSession() as session, session.get(
            url.rstrip("/") + path, headers={"Authorization": f"Bearer {token}"}) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"GET {path}: {resp.status} {body[:300].decode(errors='replace')}")
        return body


async def delete(url: str, path: str, token: str) -> dict[str, Any]:
    """DELETE `path` on a running node; its JSON answer, or RuntimeError."""
    async with aiohttp.ClientSession() as session, session.delete(
            url.rstrip("/") + path, headers={"Authorization": f"Bearer {token}"}) as resp:
        body = await resp.read()
        if resp.status != 200:
            raise RuntimeError(f"DELETE {path}: {resp.status} {body[:300].decode(errors='replace')}")
        return load_json(body)  # type: ignore[no-any-return]  # JSON Any: the node's answer map


async def record(url: str, room: str, token: str) -> bytes:
    return await fetch(url, f"/api/rooms/{room}/recording", token)


async def replay(url: str, room: str, token: str, plan: Plan) -> dict[str, int]:
    """Send each batch of a `schedule` to `room`'s ingest at its time; totals of the ingest answers."""
    totals = {"accepted": 0, "duplicates": 0, "rejected": 0}
    start = time.monotonic()
    async with aiohttp.ClientSession() as session:
        for at, batch in plan:
            delay = start + at - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            async with session.post(f"{url.rstrip('/')}/api/rooms/{room}/events", data=encode_json(batch),
                                    headers={"Authorization": f"Bearer {token}",
                                             "Content-Type": "application/json"}) as resp:
                answer = load_json(await resp.read())
                if resp.status != 200:
                    raise RuntimeError(f"ingest answered {resp.status}: {answer}")
            totals["accepted"] += answer["accepted"]
            totals["duplicates"] += answer["duplicates"]
            totals["rejected"] += len(answer["rejected"])
    return totals
