"""Invite attribution, pure: invite codes, the `?ref=` a share link carries, invite goals and the board.

A viewer's invite code is derived, not drawn: HMAC-SHA256 of (room, user) under the node's secret,
the first 80 bits in base32 (16 characters of `a-z2-7`). Every node derives the same code without
asking Redis, and nobody can compute someone else's code without the secret, so a viewer cannot claim
another viewer's credit by guessing (2^80 codes per room). Redis keeps code -> user so that a join can
be traced back to its inviter (store/invite_store.py, store/scripts/invites.lua).

The rules the Lua script applies (and `InviteModel` states as the reference for the property tests):
- the first touch within the show wins: a viewer attributed once (or who arrived directly first) is
  never attributed again; a room is a show, and its invite data lives as long as the room's data;
- no self-invites: the inviter's own code never credits anyone;
- one credit per invited user; `joins` per inviter counts them;
- an invite goal gives a reward for every `target` joins, at most `cap` rewards per inviter.

Pure: no I/O.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from typing import Any

from livecart.errors import BadRequest
from livecart.money import from_minor

__all__ = ["BOARD_SIZE", "CODE_LENGTH", "MAX_COUPON", "MAX_COUPONS", "REWARDS", "InviteGoal",
           "InviteModel", "board_to_wire", "check_ref", "invite_code", "parse_coupons", "parse_settings",
           "public_board", "rewards_due"]

CODE_LENGTH = 16  # base32 characters: 80 bits
_CODE = re.compile(r"[a-z2-7]{16}\Z")
REWARDS = ("claim_slot", "coupon")
BOARD_SIZE = 10  # the top inviters the console (and overlay) show
MAX_TARGET = 1000
MAX_CAP = 100
MAX_COUPONS = 10_000  # per upload
MAX_COUPON = 64  # characters of one coupon code
_COUPON = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")


def invite_code(secret: str, room: str, user: str) -> str:
    """The invite code of `user` in `room`: the same on every node, unguessable without `secret`."""
    # Length-prefixed room: no (room, user) pair reads as another, whatever characters either holds.
    digest = hmac.new(secret.encode(), f"invite:{len(room)}:{room}{user}".encode(), hashlib.sha256).digest()
    return base64.b32encode(digest[:10]).decode().lower()


def check_ref(raw: object) -> str:
    """A `ref` from a client: a code's shape, or 400 `bad_ref` (nothing is looked up or counted)."""
    if not isinstance(raw, str) or not _CODE.match(raw):
        raise BadRequest("bad_ref", f"ref must be an invite code: {CODE_LENGTH} characters of a-z and 2-7")
    return raw


@dataclass(frozen=True, slots=True)
class InviteGoal:
    """"Bring `target` friends -> a reward", at most `cap` rewards per inviter."""

    target: int
    reward: str  # one of REWARDS
    cap: int

    def to_wire(self) -> dict[str, Any]:
        return {"target": self.target, "reward": self.reward, "cap": self.cap}


def rewards_due(joins: int, goal: InviteGoal | None, given: int) -> int:
    """How many more rewards an inviter with `joins` credits and `given` rewards has earned."""
    if goal is None:
        return 0
    return max(0, min(joins // goal.target, goal.cap) - given)


def _int(body: dict[str, Any], name: str, low: int, high: int) -> int:
    value = body.get(name)
    if type(value) is not int or not low <= value <= high:
        raise BadRequest("bad_field", f"goal.{name} must be an integer from {low} to {high}")
    return value


def parse_settings(body: dict[str, Any]) -> tuple[bool | None, InviteGoal | None, bool]:
    """`{"overlay"?: bool, "goal"?: {"target", "reward", "cap"} | null}` -> (overlay or None to keep it,
    the goal, whether the goal is set or cleared at all). 400 for anything else."""
    unknown = set(body) - {"overlay", "goal"}
    if unknown:
        raise BadRequest("bad_field", f"unknown settings: {', '.join(sorted(unknown))}")
    overlay = body.get("overlay")
    if overlay is not None and not isinstance(overlay, bool):
        raise BadRequest("bad_field", "overlay must be true or false")
    if "goal" not in body or body["goal"] is None:
        return overlay, None, "goal" in body
    raw = body["goal"]
    if not isinstance(raw, dict) or set(raw) - {"target", "reward", "cap"}:
        raise BadRequest("bad_field", "goal must be {target, reward, cap}")
    if raw.get("reward") not in REWARDS:
        raise BadRequest("bad_field", f"goal.reward must be one of {', '.join(REWARDS)}")
    goal = InviteGoal(_int(raw, "target", 1, MAX_TARGET), raw["reward"], _int(raw, "cap", 1, MAX_CAP))
    return overlay, goal, True


def parse_coupons(body: dict[str, Any]) -> list[str]:
    """`{"codes": [STR, ...]}`: 1..MAX_COUPONS codes of 1..64 characters `[A-Za-z0-9_-]`, no repeats."""
    codes = body.get("codes")
    if not isinstance(codes, list) or not 1 <= len(codes) <= MAX_COUPONS:
        raise BadRequest("bad_field", f"codes must be a list of 1 to {MAX_COUPONS} coupon codes")
    for code in codes:
        if not isinstance(code, str) or not _COUPON.match(code):
            raise BadRequest("bad_field", f"a coupon code is 1-{MAX_COUPON} characters of A-Z a-z 0-9 _ -")
    if len(set(codes)) != len(codes):
        raise BadRequest("bad_field", "codes repeat within the upload")
    return codes


def board_to_wire(board: dict[str, Any], currency: str) -> dict[str, Any]:
    """The board as invites.lua publishes it (money in minor units) -> as the wire shows it."""
    funnel = board.get("funnel") or {}
    return {
        "seq": int(board.get("seq", 0)),
        "overlay": bool(board.get("overlay")),
        "funnel": {"opens": int(funnel.get("opens", 0)), "joins": int(funnel.get("joins", 0)),
                   "buyers": int(funnel.get("buyers", 0)),
                   "gmv": from_minor(int(funnel.get("gmv_minor", 0)), currency)},
        "top": [{"user": str(row["user"]), "joins": int(row["joins"]), "buyers": int(row.get("buyers", 0)),
                 "gmv": from_minor(int(row.get("gmv_minor", 0)), currency)}
                for row in board.get("top") or []],
    }


def public_board(board: dict[str, Any]) -> dict[str, Any]:
    """What an overlay may show of a wire board: who invited how many, not money or buyers (an overlay
    never sees GMV, docs/protocol.md "What each role sees")."""
    funnel = board["funnel"]
    return {"seq": board["seq"], "overlay": board["overlay"],
            "funnel": {"opens": funnel["opens"], "joins": funnel["joins"]},
            "top": [{"user": row["user"], "joins": row["joins"]} for row in board["top"]]}


@dataclass
class InviteModel:
    """The reference the property tests hold invites.lua to: the same rules, in plain Python."""

    codes: dict[str, str] = field(default_factory=dict)  # code -> inviter
    touched: dict[str, str] = field(default_factory=dict)  # invitee -> inviter ("" = arrived directly)
    joins: dict[str, int] = field(default_factory=dict)
    opens: int = 0

    def open(self, code: str | None, user: str | None) -> str:
        """The script's answer to a viewer `user` (None: no user) arriving with `code` (None: direct)."""
        if code is None:
            if user is not None and user not in self.touched:
                self.touched[user] = ""
                return "direct"
            return "already" if user is not None else "opened"
        inviter = self.codes.get(code)
        if inviter is None:
            return "unknown"
        if inviter == user:
            return "self"
        self.opens += 1
        if user is None:
            return "opened"
        if user in self.touched:
            return "already"
        self.touched[user] = inviter
        self.joins[inviter] = self.joins.get(inviter, 0) + 1
        return "joined"
