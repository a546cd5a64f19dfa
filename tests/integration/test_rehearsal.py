"""Record and rehearse: a recorded show replayed into a new room makes the expected cues appear on a
host socket, and never on a viewer socket; a recording of that room replays the same events."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from livecart import recording
from livecart.protocol import load_json
from tests.support import SECRET, WAIT, RoomClient, comment, post_events, token, ws_url

SHOW = Path(__file__).parent.parent / "fixtures" / "show_recording.jsonl"
EXPECTED = {"questions", "thank_order", "thank_gift", "followers"}


async def test_a_replayed_show_cues_the_host_and_never_a_viewer(node, room):
    host = await RoomClient.connect(ws_url(node.port, room, token("host", room, "hana"), stats=1))
    viewer = await RoomClient.connect(ws_url(node.port, room, token("viewer", room, "vic")))
    overlay = await RoomClient.connect(ws_url(node.port, room, token("overlay", room)))
    for c in (host, viewer, overlay):
        await c.recv()
    events = recording.parse(SHOW.read_bytes().splitlines())
    url = f"http://127.0.0.1:{node.port}"
    totals = await recording.replay(url, room, token("ingest", room), recording.schedule(events, 10))
    assert totals == {"accepted": len(events), "duplicates": 0, "rejected": 0}
    seen: dict[str, dict] = {}
    topics: dict[str, dict] = {}

    def note(frame: dict) -> bool:
        if frame["type"] == "cue":
            seen[frame["cue"]["kind"]] = frame["cue"]
            if frame["cue"]["kind"] == "questions":
                topics[frame["cue"]["data"]["topic"]] = frame["cue"]
        return EXPECTED <= seen.keys() and {"size", "price"} <= topics.keys()

    await host.until(note, timeout=3 * WAIT)
    assert seen["thank_order"]["data"]["amount"] == 888.0 and seen["thank_gift"]["data"]["gift"] == "rocket"
    assert seen["followers"]["data"]["milestone"] == 100
    # The host answers the size question: from the next step on, only later questions count.
    await host.send({"type": "ack", "cue": topics["size"]["id"], "req": "answered"})
    await host.until(lambda f: f["type"] == "ack_result")
    await host.until(lambda f: f["type"] == "stats"
                     and "size" not in {q["topic"] for q in f["stats"]["questions"]}
                     and "price" in {q["topic"] for q in f["stats"]["questions"]})
    await post_events(node.port, room, [comment("marker")])
    for audience in (viewer, overlay):
        await audience.until(lambda f: any(e.get("id") == "marker" for e in f.get("events", [])))
        assert len(audience.events) == len(events) + 1
        assert all(f["type"] in ("snapshot", "batch") for f in audience.frames)
        assert "cue" not in repr(audience.frames)
    for c in (host, viewer, overlay):
        await c.close()


async def test_record_then_replay_into_another_room_gives_the_same_events(node, room):
    url = f"http://127.0.0.1:{node.port}"
    events = recording.parse(SHOW.read_bytes().splitlines())[:40]
    await recording.replay(url, room, token("ingest", room), recording.schedule(events, 1000))
    saved = await recording.record(url, room, token("assistant", room, "amy"))
    again = recording.parse(saved.splitlines())
    assert [e["id"] for e in again] == [e["id"] for e in events]
    assert [load_json(line)["event"]["offset"] for line in saved.splitlines()] == list(range(1, 41))
    copy = room + "-copy"
    totals = await recording.replay(url, copy, token("ingest", copy), recording.schedule(again, 1000))
    assert totals["accepted"] == 40
    again_totals = await recording.replay(url, copy, token("ingest", copy), recording.schedule(again, 1000))
    assert again_totals == {"accepted": 0, "duplicates": 40, "rejected": 0}  # idempotent by event id


async def test_the_record_and_replay_commands(node, room, tmp_path):
    url = f"http://127.0.0.1:{node.port}"
    events = recording.parse(SHOW.read_bytes().splitlines())[:25]
    await recording.replay(url, room, token("ingest", room), recording.schedule(events, 1000))
    env = dict(os.environ, LIVECART_SECRET=SECRET, LIVECART_DATA_DIR=str(tmp_path))
    saved = tmp_path / "show.jsonl"

    async def livecart(*args: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "-m", "livecart", *args, "--url", url]
        return await asyncio.to_thread(subprocess.run, command, env=env, capture_output=True, text=True,
                                       timeout=60)

    done = await livecart("record", "--room", room, "--out", str(saved))
    assert done.returncode == 0, done.stderr
    assert [e["id"] for e in recording.parse(saved.read_bytes().splitlines())] == [e["id"] for e in events]
    done = await livecart("replay", str(saved), "--room", room + "-b", "--speed", "1000")
    assert done.returncode == 0, done.stderr
    assert "25 accepted, 0 duplicates, 0 rejected" in done.stdout
    done = await livecart("replay", str(tmp_path / "missing.jsonl"), "--room", room)
    assert done.returncode == 1 and "missing.jsonl" in done.stderr
    done = await livecart("record", "--room", "bad room", "--out", str(saved))
    assert done.returncode == 1 and "bad_room" in done.stderr
