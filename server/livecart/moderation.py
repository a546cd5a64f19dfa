"""Moderation, the pure part: a room's blocked words and how text is matched against them.

Strangers write the text that ends up on a live stream, and they dodge a word list with full-width
letters ("ＢＡＤ"), capitals, and zero-width characters. `normalise` folds all of those the same way
for the list and for the text, so "bad", "BAD", "ｂａｄ" and "b\u200bad" are one word:

- NFKC (full-width and compatibility forms become their plain letters and digits: "Ａ" → "A", "１" → "1"),
- casefold (the Unicode lowercase that also folds "ß" → "ss"),
- zero-width and other format characters (Unicode category Cf) dropped, runs of whitespace made one space.

Matching: a word with a Latin letter or digit at its edge matches only where no Latin letter or digit
touches that edge ("ass" does not hide "class", "bad" is found in "这个bad"); other words (Chinese has
no spaces between words) match anywhere in the text.

Where a match counts (docs/protocol.md "Moderation"): a comment that matches, or whose author is muted,
is stored with `hidden` ("blocked" or "muted"): staff see it as written, viewers and overlays see only
that a comment was there (audience.py). A show that matches is kept off the overlay's wall.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from livecart.errors import BadRequest

__all__ = ["MAX_USER", "MAX_WORD", "MAX_WORDS", "BlockedWords", "HiddenReason", "check_user_id",
           "normalise", "parse_word_list", "word_pattern"]

MAX_WORDS = 500
MAX_WORD = 50
MAX_USER = 200  # as a user id in a token or an ingested event may be
_SPACES = re.compile(r"\s+")
_WORD_EDGE = re.compile(r"[a-z0-9]")  # text is casefolded before it is matched


class HiddenReason:
    """Why a comment is hidden from viewers and overlays (its stored `hidden` field)."""

    BLOCKED = "blocked"  # it contains a blocked word
    MUTED = "muted"  # its author is muted in the room


def normalise(text: str) -> str:
    """`text` folded for matching: NFKC, casefold, format characters dropped, whitespace collapsed."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    kept = "".join(ch for ch in folded if unicodedata.category(ch) != "Cf")
    return _SPACES.sub(" ", kept).strip()


def word_pattern(word: str) -> str:
    """A regex finding `word` (normalised) in normalised text, by the matching rule above."""
    escaped = re.escape(word)
    # Boundaries are Latin letters and digits only: "这个bad" still matches "bad" (Chinese letters are
    # word characters to `\b`, so `\b` would miss a word written right after them).
    start = r"(?<![a-z0-9])" if _WORD_EDGE.match(word[0]) else ""
    end = r"(?![a-z0-9])" if _WORD_EDGE.match(word[-1]) else ""
    return start + escaped + end


@dataclass(frozen=True, slots=True)
class BlockedWords:
    """A room's blocked words, normalised, and one compiled pattern that finds any of them."""

    words: tuple[str, ...] = ()
    _regex: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of(cls, words: list[str] | tuple[str, ...]) -> BlockedWords:
        clean = tuple(dict.fromkeys(w for w in (normalise(x) for x in words) if w))
        if not clean:
            return cls()
        # Longest first, so a longer word wins over a prefix of it (the match names the word found).
        ordered = sorted(clean, key=len, reverse=True)
        return cls(clean, re.compile("|".join(word_pattern(w) for w in ordered)))

    def find(self, text: str) -> str | None:
        """The first blocked word in `text` (normalised), or None."""
        if self._regex is None:
            return None
        found = self._regex.search(normalise(text))
        return found.group(0) if found else None

    def matches(self, text: str) -> bool:
        return self.find(text) is not None


def parse_word_list(body: Any) -> list[str]:
    """A console's `{"words": [STR, ...]}`: at most MAX_WORDS words of 1-MAX_WORD characters once
    normalised, duplicates (after normalising) dropped, order kept. BadRequest for anything else."""
    words = body.get("words") if isinstance(body, dict) else None
    if not isinstance(words, list):
        raise BadRequest("bad_field", "words must be a list of strings")
    if len(words) > MAX_WORDS:
        raise BadRequest("bad_field", f"at most {MAX_WORDS} blocked words per room")
    out: list[str] = []
    for word in words:
        if not isinstance(word, str):
            raise BadRequest("bad_field", "each blocked word must be a string")
        clean = normalise(word)
        if not 1 <= len(clean) <= MAX_WORD:
            raise BadRequest("bad_field", f"each blocked word must be 1-{MAX_WORD} characters (not blank)")
        if clean not in out:
            out.append(clean)
    return out


def check_user_id(value: Any) -> str:
    """A user id as a mute names it: a non-empty string of at most MAX_USER characters, no control
    characters (it is a field of Redis hashes and the audit log, and is shown in the console)."""
    if not isinstance(value, str) or not 1 <= len(value) <= MAX_USER \
            or any(unicodedata.category(ch) == "Cc" for ch in value):
        raise BadRequest("bad_field", f"user must be a user id of 1-{MAX_USER} characters")
    return value
