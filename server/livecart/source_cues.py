"""Notices from a source (a bridge) for the people running the show, as cues. Pure.

A bridge holds only an ingest token; what it must tell staff (the stream ended or paused, a Super
Chat to answer, the source is down) becomes a cue of kind `source_<kind>`, which reaches host and
assistant sockets only (docs/protocol.md, "Sources"). The notice's own id is the cue's de-duplication
key for 24 h, so a reconnect that replays a message, or a second bridge, cues once.
"""

from __future__ import annotations

import re
from typing import Any

from livecart.cues import PRIORITIES, Cue, new_id
from livecart.errors import BadRequest

__all__ = ["KINDS", "parse_source", "source_cue"]

KINDS = ("stream_ended", "stream_paused", "stream_resumed", "super_chat", "source_down", "source_up")
MAX_TEXT = 500
MAX_DATA = 10
DEDUP_MS = 24 * 3600 * 1000
TTL_MS = 15 * 60 * 1000  # a notice stays on the host view 15 minutes (a manual cue: 5), then is stale
# What the host view shows in its language for a source's state (a Super Chat shows its own text).
_TEXTS = {
    "stream_ended": {"zh": "直播已结束（{source}）", "en": "The stream ended ({source})"},
    "stream_paused": {"zh": "直播已暂停（{source}）", "en": "The stream is paused ({source})"},
    "stream_resumed": {"zh": "直播已恢复（{source}）", "en": "The stream is live ({source})"},
    "source_down": {"zh": "连接中断，正在重连（{source}）", "en": "Lost the stream, reconnecting ({source})"},
    "source_up": {"zh": "已重新连接（{source}）", "en": "Connected again ({source})"},
}
_SOURCE = re.compile(r"[a-z0-9_-]{1,20}:[\x21-\x7e\u00a0-\uffff]{1,100}\Z")


def parse_source(header: str | None) -> str | None:
    """`X-Livecart-Source: KIND:NAME`, or None when absent or malformed (never a refusal)."""
    if header is None:
        return None
    header = header.strip()
    return header if _SOURCE.match(header) else None


def source_cue(body: Any, source: str | None, now_ms: int) -> Cue:
    """A cue from a source's notice `{"id", "kind", "priority"?, "text", "data"?}`, or BadRequest."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be an object")
    notice_id, kind, text = body.get("id"), body.get("kind"), body.get("text")
    if not isinstance(notice_id, str) or not 1 <= len(notice_id) <= 200:
        raise BadRequest("bad_field", "id must be a string of 1-200 characters")
    if kind not in KINDS:
        raise BadRequest("bad_field", f"kind must be one of {', '.join(KINDS)}")
    if not isinstance(text, str) or not text.strip() or len(text) > MAX_TEXT:
        raise BadRequest("bad_field", f"text must be a string of 1-{MAX_TEXT} characters")
    priority = body.get("priority", "normal")
    if priority not in PRIORITIES:
        raise BadRequest("bad_field", "priority must be one of low, normal, high")
    data = body.get("data", {})
    if not isinstance(data, dict) or len(data) > MAX_DATA or not all(
            isinstance(k, str) and len(k) <= 50 and _plain(v) for k, v in data.items()):
        raise BadRequest("bad_field", f"data must be an object of at most {MAX_DATA} string or number fields")
    data = dict(data, source=source) if source else dict(data)
    texts = {lang: line.format(source=source or "?") for lang, line in _TEXTS.get(kind, {}).items()}
    return Cue(id=new_id(), kind=f"source_{kind}", priority=str(priority), text=text, created_at=now_ms,
               expires_at=now_ms + TTL_MS, data=data, texts=texts, key=f"source:{notice_id}",
               cooldown_ms=DEDUP_MS)


def _plain(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str):
        return len(value) <= 200
    return isinstance(value, int | float) and value == value and abs(value) < 1e15
