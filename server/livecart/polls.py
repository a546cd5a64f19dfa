"""Polls (投票), the pure part: the spec a console may create, which option a comment votes for, the
POLL map clients see, and the report's results over time.

poll_vote.lua enforces one vote per user atomically in Redis (`change_vote` says whether a second vote
moves the first or is refused); this module validates console input and viewer votes, reads votes out
of comments, and turns stored fields into wire maps.

A poll is open from its creation until `closes_at`, or until the console closes it (state "closed").
The state is derived from the stored fields and the clock, as a deal's is: no timer needs to run for a
vote after `closes_at` to be refused, and clients show the countdown from `closes_at` and the frame's
`now`. One poll is the room's current poll at a time (the stage's `poll` field); a new one may be
created once the current one has closed.

A comment votes when, normalised (moderation.normalise: full-width forms and case folded), it is
exactly an option's number ("1".."4") or letter ("a".."d"), optionally followed by punctuation
("1!", "Ａ。"), or when it contains the keyword of exactly one option, by the blocked words' matching
rule (a Latin keyword as a whole word: "red" is not in "reddish"; a Chinese one anywhere). A comment
naming two options' keywords is not a vote.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from enum import Enum
from typing import Any

from livecart.errors import BadRequest
from livecart.moderation import normalise, word_pattern
from livecart.protocol import load_json

__all__ = ["MAX_DURATION_S", "MAX_OPTIONS", "MIN_DURATION_S", "MIN_OPTIONS", "POLL_ID_HEX", "PollSpec",
           "PollState", "VoteRefused", "choice_from_text", "is_poll_id", "new_poll_id", "parse_option",
           "parse_poll_spec", "poll_state", "poll_to_wire", "results_over_time"]

MIN_OPTIONS, MAX_OPTIONS = 2, 4
MIN_DURATION_S, MAX_DURATION_S = 10, 1800
MAX_QUESTION = 200
MAX_LABEL = 60
MAX_KEYWORD = 20
LETTERS = "abcd"
POLL_ID_HEX = 12
_POLL_ID = re.compile(rf"[0-9a-f]{{{POLL_ID_HEX}}}\Z")
_TRAILING = re.compile(r"[\s!.?,~。！？，、~…]+\Z")


def new_poll_id() -> str:
    return secrets.token_hex(POLL_ID_HEX // 2)


def is_poll_id(value: object) -> bool:
    """Whether `value` has the shape of an id `new_poll_id` makes (it becomes part of Redis key names)."""
    return isinstance(value, str) and _POLL_ID.match(value) is not None


class PollState(Enum):
    OPEN = "open"
    CLOSED = "closed"


class VoteRefused(Enum):
    """Why a vote was refused: a closed set, each one wire reason (`vote_result.reason`)."""

    NO_SUCH_POLL = "no_such_poll"  # unknown id (also: a poll of another room)
    CLOSED = "closed"  # closed by the console, or past closes_at
    BAD_OPTION = "bad_option"  # not an option index of this poll
    ALREADY_VOTED = "already_voted"  # a second vote in a poll whose change_vote is false
    MUTED = "muted"  # the voter is muted in the room (moderation)


@dataclass(frozen=True, slots=True)
class PollSpec:
    question: str
    labels: tuple[str, ...]
    keywords: tuple[str, ...]  # normalised; "" where an option has none
    duration_s: int
    change_vote: bool  # a second vote moves the first (True) or is refused (False)

    def static_wire(self, poll_id: str, by: str) -> dict[str, Any]:
        """The POLL map's fields that never change; poll.lua adds the times (Redis's clock), the
        numbers and the state."""
        return {"id": poll_id, "question": self.question,
                "options": [{"label": label, "keyword": keyword or None}
                            for label, keyword in zip(self.labels, self.keywords, strict=True)],
                "change_vote": self.change_vote, "by": by}


def _text(value: Any, name: str, high: int) -> str:
    if not isinstance(value, str) or not 1 <= len(value.strip()) <= high:
        raise BadRequest("bad_field", f"{name} must be 1-{high} characters (not blank)")
    return value.strip()


def parse_poll_spec(body: Any) -> PollSpec:
    """A console's `{"question", "options": [STR | {"label", "keyword"?}] (2-4), "duration_s",
    "change_vote"?}`; BadRequest naming the first bad field."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be an object {question, options, duration_s}")
    question = _text(body.get("question"), "question", MAX_QUESTION)
    options = body.get("options")
    if not isinstance(options, list) or not MIN_OPTIONS <= len(options) <= MAX_OPTIONS:
        raise BadRequest("bad_field", f"options must be a list of {MIN_OPTIONS}-{MAX_OPTIONS} options")
    labels: list[str] = []
    keywords: list[str] = []
    for option in options:
        if isinstance(option, str):
            option = {"label": option}
        if not isinstance(option, dict):
            raise BadRequest("bad_field", "each option must be a label or {label, keyword?}")
        labels.append(_text(option.get("label"), "an option's label", MAX_LABEL))
        keyword = option.get("keyword")
        if keyword is None or keyword == "":
            keywords.append("")
            continue
        keyword = normalise(_text(keyword, "an option's keyword", MAX_KEYWORD))
        if _vote_mark(keyword, len(options)) is not None:
            raise BadRequest("bad_field", f"keyword {keyword!r} is already an option's number or letter")
        if keyword in keywords:
            raise BadRequest("bad_field", f"two options share the keyword {keyword!r}")
        keywords.append(keyword)
    if len({normalise(label) for label in labels}) != len(labels):
        raise BadRequest("bad_field", "two options have the same label")
    duration = body.get("duration_s")
    if isinstance(duration, bool) or not isinstance(duration, int) \
            or not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise BadRequest("bad_field",
                         f"duration_s must be an integer from {MIN_DURATION_S} to {MAX_DURATION_S}")
    change_vote = body.get("change_vote", False)
    if not isinstance(change_vote, bool):
        raise BadRequest("bad_field", "change_vote must be true or false")
    return PollSpec(question, tuple(labels), tuple(keywords), duration, change_vote)


def parse_option(value: Any, options: int) -> int | None:
    """A vote message's `option`: the 0-based index of one of `options` options, else None."""
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < options:
        return None
    return value


def _vote_mark(folded: str, options: int) -> int | None:
    """The option a bare number ("1") or letter ("a") names, for text already normalised."""
    if len(folded) != 1:
        return None
    if folded in "1234"[:options]:
        return int(folded) - 1
    if folded in LETTERS[:options]:
        return LETTERS.index(folded)
    return None


def choice_from_text(text: str, keywords: tuple[str, ...] | list[str]) -> int | None:
    """The 0-based option a comment votes for in a poll whose options have `keywords` ("" for none;
    their number is the number of options), or None when it is not a vote (module docstring)."""
    folded = _TRAILING.sub("", normalise(text))
    mark = _vote_mark(folded, len(keywords))
    if mark is not None:
        return mark
    named = [i for i, keyword in enumerate(keywords) if keyword and re.search(word_pattern(keyword), folded)]
    return named[0] if len(named) == 1 else None


def poll_state(fields: dict[str, str], now_ms: int) -> PollState:
    if fields.get("closed_at") or now_ms >= int(fields["closes_at"]):
        return PollState.CLOSED
    return PollState.OPEN


def poll_to_wire(fields: dict[str, str], now_ms: int) -> dict[str, Any]:
    """The POLL map from the poll's stored hash (poll.lua): the static fields, `opens_at`, `closes_at`,
    `votes` per option, `voters`, `state` (by the clock too) and `closed_at` (when it was closed early,
    else null). poll.lua builds the same map."""
    static = load_json(fields["static"])
    options = int(fields["n"])
    closed_at = int(fields["closed_at"]) if fields.get("closed_at") else None
    return {**static, "votes": [int(fields.get(f"v{i}", 0)) for i in range(options)],
            "voters": int(fields.get("voters", 0)), "opens_at": int(fields["opens_at"]),
            "closes_at": int(fields["closes_at"]), "closed_at": closed_at,
            "state": poll_state(fields, now_ms).value}


def results_over_time(opens_at: int, options: int, moves: dict[str, int],
                      step_s: int = 10) -> list[dict[str, Any]]:
    """The report's results over time: `moves` is the poll's timeline hash ("<second>:<option>" ->
    net votes gained that second since `opens_at`; a changed vote is -1 on the old option and +1 on
    the new). Returns one row per `step_s` seconds that had a vote, each the standing totals at its
    end: [{"t": ms, "votes": [N, ...]}], oldest first."""
    per_step: dict[int, list[int]] = {}
    for name, delta in moves.items():
        second, _, option = name.partition(":")
        if not (second.isdigit() and option.isdigit()) or int(option) >= options:
            continue  # not a field poll_vote.lua writes
        row = per_step.setdefault(int(second) // step_s, [0] * options)
        row[int(option)] += int(delta)
    out: list[dict[str, Any]] = []
    totals = [0] * options
    for step in sorted(per_step):
        totals = [a + b for a, b in zip(totals, per_step[step], strict=True)]
        out.append({"t": opens_at + (step + 1) * step_s * 1000, "votes": totals})
    return out
