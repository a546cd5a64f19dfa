"""Buyer shows (晒单), the pure part: what a viewer may send, and the SHOW map.

A show is a buyer's few words about what they bought, with an optional photo link. It reaches the
overlay's wall only after an assistant approves it (show_control.lua), and its text is always
rendered as text. Here: the input rules.

- `text`: 1-MAX_TEXT characters once trimmed, no control characters other than line breaks. A 10 KB
  text is refused (400), never cut.
- `image_url`: optional; an absolute http(s) URL with a host, at most MAX_URL characters, no
  whitespace, control characters, backslashes or credentials. `javascript:`, `data:`, `blob:`,
  `file:`, scheme-relative `//host/...` and everything else are refused (400 bad_image_url): the wall
  puts the URL in an <img src>, and the URL came from a stranger.
"""

from __future__ import annotations

import re
import secrets
import unicodedata
from dataclasses import dataclass
from enum import Enum
from typing import Any
from urllib.parse import urlsplit

from livecart.cues import Cue
from livecart.errors import BadRequest

__all__ = ["MAX_TEXT", "MAX_URL", "SHOW_ID_HEX", "ShowDraft", "ShowState", "check_image_url", "is_show_id",
           "new_show_id", "parse_show", "show_cue"]

MAX_TEXT = 280
MAX_URL = 2000
CUE_TTL_MS = 5 * 60_000
SHOW_ID_HEX = 12
_SHOW_ID = re.compile(rf"[0-9a-f]{{{SHOW_ID_HEX}}}\Z")
_HOST = re.compile(r"[A-Za-z0-9.-]+(:[0-9]{1,5})?\Z|\[[0-9A-Fa-f:.]+\](:[0-9]{1,5})?\Z")


class ShowState(Enum):
    PENDING = "pending"
    APPROVED = "approved"
    REJECTED = "rejected"


@dataclass(frozen=True, slots=True)
class ShowDraft:
    text: str
    image_url: str | None


def new_show_id() -> str:
    return secrets.token_hex(SHOW_ID_HEX // 2)


def is_show_id(value: object) -> bool:
    return isinstance(value, str) and _SHOW_ID.match(value) is not None


def check_image_url(value: str) -> str:
    """`value` if it is a URL the wall may load (module docstring), else BadRequest bad_image_url."""
    def refuse(why: str) -> BadRequest:
        return BadRequest("bad_image_url", f"image_url {why}")

    if len(value) > MAX_URL:
        raise refuse(f"must be at most {MAX_URL} characters")
    if any(ch.isspace() or unicodedata.category(ch) in ("Cc", "Cf") for ch in value) or "\\" in value:
        raise refuse("must not contain spaces, control characters or backslashes")
    try:
        parts = urlsplit(value)
    except ValueError:
        raise refuse("is not a URL") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise refuse("must be an http:// or https:// URL")
    if not parts.netloc or "@" in parts.netloc or not _HOST.match(parts.netloc):
        raise refuse("must name a host (and no user or password)")
    return value


def parse_show(body: Any) -> ShowDraft:
    """A viewer's `{"text", "image_url"?}`; BadRequest naming the first bad field."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be an object {text, image_url?}")
    text = body.get("text")
    if not isinstance(text, str):
        raise BadRequest("bad_field", f"text must be a string of 1-{MAX_TEXT} characters")
    text = text.strip()
    if not 1 <= len(text) <= MAX_TEXT:
        raise BadRequest("bad_field", f"text must be 1-{MAX_TEXT} characters (this one has {len(text)})")
    if any(unicodedata.category(ch) == "Cc" and ch != "\n" for ch in text):
        raise BadRequest("bad_field", "text must not contain control characters")
    image = body.get("image_url")
    if image is not None and image != "":
        if not isinstance(image, str):
            raise BadRequest("bad_image_url", "image_url must be a string (an http:// or https:// URL)")
        image = check_image_url(image)
    return ShowDraft(text, image or None)


def show_cue(show: dict[str, Any], now_ms: int) -> Cue:
    """The host's cue when a show goes up on the wall: "Lin posted a show — thank them". Its key is the
    show's, so it is said once however often the approval is retried."""
    name = str(show.get("name") or show.get("user") or "")
    texts = {"en": f"{name} posted a show — thank them", "zh": f"{name} 晒单了，感谢一下"}
    return Cue(id=f"show-{show['id']}", kind="show", priority="normal", text=texts["en"], created_at=now_ms,
               expires_at=now_ms + CUE_TTL_MS, data={"show": show["id"], "name": name}, texts=texts,
               key=f"show:{show['id']}", cooldown_ms=86_400_000)
