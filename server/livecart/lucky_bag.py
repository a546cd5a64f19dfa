"""Lucky bags (福袋): the rules of a giveaway and its draw, which anyone can verify. Pure: no I/O.

A bag has a prize (a product and a number of winners), an entry rule (comment the keyword; optionally
"follows the room"; optionally "still in the room at the draw") and a duration of 30 s to 30 min.
The store (store/bag_store.py, scripts/bag.lua) keeps its state; this module decides.

The draw, `livecart-draw-v1` (docs/protocol.md "Lucky bags" documents it for outside verifiers):
- When the bag opens the server picks a secret `seed` (64 hex digits) and publishes its `commitment`,
  the SHA-256 of the seed's ASCII text, in lowercase hex (`printf %s SEED | sha256sum`).
- At the draw it reveals the seed. Each entrant (a user id) gets the ticket
  SHA-256(seed + ":" + user id, UTF-8), in hex; the ranking is the entrants ordered by ticket, then by
  id. The ranking depends on the set of entrants only, never on the order they entered in.
- Round 1 walks the ranking and takes the first `winners` entrants that were present at the draw
  (absent ones are skipped). A redraw (round r > 1, for prizes unclaimed in time) walks the same ranking
  and takes, among entrants never drawn before and present at the redraw, as many as there were
  unclaimed prizes.
So a published record (seed, commitment, the sorted entrants, and per round the absent entrants and the
winners) is enough to check every winner: `verify` does it, and `livecart verify-draw FILE` runs it.

Calling contract: `parse_spec` turns a console request into a BagSpec or raises BadRequest;
`new_seed`/`commitment` when creating; `draw_round` for each round, with the entrants, the absent
entrants of that round and everyone drawn in earlier rounds; `verify(record)` returns the problems
found (an empty list: the record is consistent).
"""

from __future__ import annotations

import hashlib
import secrets
import unicodedata
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from livecart.cues import Cue, new_id
from livecart.errors import BadRequest
from livecart.protocol import load_json

__all__ = ["ALGORITHM", "MAX_DURATION_S", "MAX_WINNERS", "MIN_DURATION_S", "BagSpec", "BagState",
           "commitment", "draw_record", "draw_round", "is_bag_id", "keyword_in", "new_bag_id", "new_seed",
           "normalize", "parse_spec", "ranking", "report_rows", "ticket", "verify", "winners_cue"]

ALGORITHM = "livecart-draw-v1"
MIN_DURATION_S, MAX_DURATION_S = 30, 30 * 60
MAX_WINNERS = 1000
MAX_KEYWORD = 32
MIN_CLAIM_S, MAX_CLAIM_S, DEFAULT_CLAIM_S = 10, 600, 120
BAG_ID_HEX = 12
CUE_TTL_MS = 5 * 60_000


class BagState(StrEnum):
    OPEN = "open"  # taking entries until ends_at (or the console's draw)
    DRAWING = "drawing"  # entries closed, presence frozen for the round; a node is computing winners
    CLAIMING = "claiming"  # winners known, each may claim until claim_until; then unclaimed are redrawn
    DONE = "done"  # every prize claimed, nobody left to draw, or finished from the console
    CANCELLED = "cancelled"  # cancelled while open: no draw (the seed is revealed all the same)


@dataclass(frozen=True, slots=True)
class BagSpec:
    product_id: str
    product_name: str
    image_url: str
    winners: int
    keyword: str  # normalized (see `normalize`)
    follows: bool  # only users who follow the room may enter
    present: bool  # entrants who left before the draw are skipped
    duration_ms: int
    claim_ms: int  # how long each winner has to claim the prize


def normalize(text: str) -> str:
    """Text as keywords are matched: NFKC (full-width letters and digits become ASCII), case-folded,
    spaces collapsed. "ＬＵＣＫＹ  Bag" and "lucky bag" are the same keyword."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def keyword_in(keyword: str, text: str) -> bool:
    """Whether a comment enters a bag whose (normalized) keyword is `keyword`: it contains it."""
    return bool(keyword) and keyword in normalize(text)


def _field(body: Mapping[str, Any], name: str, kind: type, default: Any = None) -> Any:
    value = body.get(name, default)
    if value is None or (kind is int and isinstance(value, bool)) or not isinstance(value, kind):
        raise BadRequest("bad_field", f"{name} must be a {kind.__name__}")
    return value


def parse_spec(body: Any) -> BagSpec:
    """A console's `POST …/bags` body as a BagSpec; BadRequest (400 bad_field / bad_body) naming the
    first field that is wrong."""
    if not isinstance(body, dict):
        raise BadRequest("bad_body", "the body must be an object {product, winners, keyword, duration_s}")
    product = body.get("product")
    if not isinstance(product, dict):
        raise BadRequest("bad_field", "product {id, name, image_url?} is required")
    name, product_id = product.get("name"), product.get("id", "")
    if not isinstance(name, str) or not 1 <= len(name.strip()) <= 200:
        raise BadRequest("bad_field", "product.name must be 1-200 characters")
    if not isinstance(product_id, str) or len(product_id) > 200:
        raise BadRequest("bad_field", "product.id must be a string of at most 200 characters")
    image = product.get("image_url") or ""
    if not isinstance(image, str) or len(image) > 2000 \
            or (image and not image.startswith(("http://", "https://", "/"))):
        raise BadRequest("bad_field", "product.image_url must be an http(s) URL of at most 2000 characters")
    winners = _field(body, "winners", int)
    if not 1 <= winners <= MAX_WINNERS:
        raise BadRequest("bad_field", f"winners must be an integer from 1 to {MAX_WINNERS}")
    keyword = _field(body, "keyword", str)
    keyword = normalize(keyword)
    if not 1 <= len(keyword) <= MAX_KEYWORD:
        raise BadRequest("bad_field", f"keyword must be 1-{MAX_KEYWORD} characters (not only spaces)")
    duration = body.get("duration_s")
    if isinstance(duration, bool) or not isinstance(duration, int | float) or duration != duration \
            or not MIN_DURATION_S <= duration <= MAX_DURATION_S:
        raise BadRequest("bad_field", f"duration_s must be from {MIN_DURATION_S} to {MAX_DURATION_S} seconds")
    claim_s = body.get("claim_s", DEFAULT_CLAIM_S)
    if isinstance(claim_s, bool) or not isinstance(claim_s, int | float) or claim_s != claim_s \
            or not MIN_CLAIM_S <= claim_s <= MAX_CLAIM_S:
        raise BadRequest("bad_field", f"claim_s must be from {MIN_CLAIM_S} to {MAX_CLAIM_S} seconds")
    rules = body.get("rules", {})
    if not isinstance(rules, dict):
        raise BadRequest("bad_field", "rules must be an object {follows?, present?}")
    follows, present = rules.get("follows", False), rules.get("present", True)
    if not isinstance(follows, bool) or not isinstance(present, bool):
        raise BadRequest("bad_field", "rules.follows and rules.present must be booleans")
    return BagSpec(product_id=product_id, product_name=name.strip(), image_url=image, winners=winners,
                   keyword=keyword, follows=follows, present=present, duration_ms=int(duration * 1000),
                   claim_ms=int(claim_s * 1000))


def new_bag_id() -> str:
    return secrets.token_hex(BAG_ID_HEX // 2)


def is_bag_id(value: str) -> bool:
    return len(value) == BAG_ID_HEX and all(c in "0123456789abcdef" for c in value)


def new_seed() -> str:
    """256 secret random bits, as 64 lowercase hex digits."""
    return secrets.token_hex(32)


def commitment(seed: str) -> str:
    """What the bag publishes when it opens: SHA-256 of the seed's text, lowercase hex."""
    return hashlib.sha256(seed.encode("ascii")).hexdigest()


def ticket(seed: str, user: str) -> str:
    return hashlib.sha256(f"{seed}:{user}".encode()).hexdigest()


def ranking(seed: str, entrants: Iterable[str]) -> list[str]:
    """Every entrant (duplicates count once) in draw order: by ticket, then by id."""
    return sorted(set(entrants), key=lambda user: (ticket(seed, user), user))


def draw_round(seed: str, entrants: Iterable[str], count: int, absent: Collection[str] = (),
               drawn_before: Collection[str] = ()) -> list[str]:
    """The winners of one round, in draw order: the first `count` entrants of the ranking who are
    neither absent now nor drawn in an earlier round (fewer when not enough remain)."""
    skip = set(absent) | set(drawn_before)
    winners: list[str] = []
    for user in ranking(seed, entrants):
        if len(winners) == count:
            break
        if user not in skip:
            winners.append(user)
    return winners


def verify(record: Mapping[str, Any]) -> list[str]:
    """Recompute a published draw record (GET …/bags/{bag}/record); the problems found, [] if none.

    Round 1 draws `winners` prizes; each later round draws as many as the previous round left
    unclaimed (its `unclaimed` list), skipping everyone drawn before."""
    problems: list[str] = []
    try:
        seed, promised = str(record["seed"]), str(record["commitment"])
        entrants = [str(u) for u in record["entrants"]]
        rounds = list(record["rounds"])
        prizes = int(record["winners"])
    except (KeyError, TypeError, ValueError) as exc:
        return [f"not a draw record: {exc!r}"]
    if record.get("algorithm", ALGORITHM) != ALGORITHM:
        problems.append(f"unknown algorithm {record.get('algorithm')!r} (this checks {ALGORITHM})")
    if commitment(seed) != promised:
        problems.append("the seed does not match the commitment published when the bag opened")
    if entrants != sorted(set(entrants)):
        problems.append("the entrant list is not sorted and free of duplicates")
    drawn: list[str] = []
    count = prizes
    for number, rnd in enumerate(rounds, start=1):
        absent = [str(u) for u in rnd.get("absent", [])]
        stranger = set(absent) - set(entrants)
        if stranger:
            problems.append(f"round {number}: absent users who never entered: {sorted(stranger)[:5]}")
        expected = draw_round(seed, entrants, count, absent, drawn)
        published = [str(u) for u in rnd.get("winners", [])]
        if published != expected:
            problems.append(f"round {number}: published winners {published[:10]} but the draw gives "
                            f"{expected[:10]}")
        drawn += expected
        count = len([u for u in rnd.get("unclaimed", []) if u in expected])
    return problems


def draw_record(room: str, fields: Mapping[str, str], entrants: Iterable[str],
                winners: Mapping[str, str]) -> dict[str, Any]:
    """The published record of a bag's draw, from its stored fields (bag.lua: `round:<r>` and
    `absent:<r>` as JSON lists), entrant ids and winner statuses (user -> "pending:R" | "claimed:R:MS"
    | "expired:R"). `verify` checks it; the seed is in it only once the bag has closed."""
    state = fields.get("state", BagState.OPEN.value)
    rounds = []
    for number in range(1, int(fields.get("round", 0)) + 1):
        won = _json_list(fields.get(f"round:{number}"))
        if won is None:
            break  # frozen but not committed yet
        rounds.append({"round": number, "absent": sorted(_json_list(fields.get(f"absent:{number}")) or []),
                       "winners": won, "drawn_at": int(fields.get(f"drawn_at:{number}", 0)),
                       "unclaimed": [u for u in won if winners.get(u, "").startswith("expired")],
                       "claimed": [u for u in won if winners.get(u, "").startswith("claimed")]})
    return {
        "algorithm": ALGORITHM, "room": room, "bag": fields.get("id", ""), "state": state,
        "prize": {"product_id": fields.get("product_id", ""), "name": fields.get("product_name", "")},
        "winners": int(fields.get("winners", 0)), "keyword": fields.get("keyword", ""),
        "rules": {"follows": fields.get("follows") == "1", "present": fields.get("present") == "1"},
        "opens_at": int(fields.get("opens_at", 0)), "ends_at": int(fields.get("ends_at", 0)),
        "closed_at": int(fields.get("closed_at", 0)),
        "commitment": fields.get("commitment", ""),
        "seed": fields.get("seed", "") if state != BagState.OPEN.value else None,
        "entrants": sorted(set(entrants)), "rounds": rounds,
    }


def _json_list(raw: str | None) -> list[str] | None:
    if raw is None:
        return None
    value = load_json(raw)
    return [str(u) for u in value] if isinstance(value, list) else []


def report_rows(records: Iterable[Mapping[str, Any]], paid: Iterable[tuple[int, str]],
                names: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The post-stream report's row per bag (report.py "lucky_bags"): from its draw record and the
    room's paid orders as (ts ms, user id), how many entrants bought while the bag was open."""
    orders = list(paid)
    rows = []
    for rec in records:
        until = rec["closed_at"] or rec["ends_at"]
        entrants = set(rec["entrants"])
        buyers = {user for ts, user in orders if user in entrants and rec["opens_at"] <= ts <= until}
        won = [(user, "claimed" if user in r["claimed"] else "unclaimed" if user in r["unclaimed"]
                else "pending") for r in rec["rounds"] for user in r["winners"]]
        rows.append({"bag": rec["bag"], "product": rec["prize"]["name"], "state": rec["state"],
                     "opens_at": rec["opens_at"], "closed_at": rec["closed_at"] or None,
                     "entrants": len(entrants), "prizes": rec["winners"],
                     "winners": ", ".join(f"{(names or {}).get(u, u)} ({s})" for u, s in won),
                     "bought_during_bag": len(buyers), "seed": rec["seed"] or "",
                     "commitment": rec["commitment"],
                     "verified": "yes" if rec["seed"] and not verify(rec) else "no"})
    return rows


def winners_cue(bag: Mapping[str, Any], round_: int, now_ms: int, lang: str = "zh") -> Cue:
    """The host's cue when a round is drawn: read the winners out (kind `lucky_bag`, once per round)."""
    names = [w["name"] for w in bag.get("winners", []) if w["round"] == round_]
    shown = names[:10] + (["…"] if len(names) > 10 else [])
    prize = bag["prize"]["name"]
    texts = {"en": f"Lucky bag {'redraw ' if round_ > 1 else ''}drawn ({prize}): announce the winners — "
                   + ", ".join(shown),
             "zh": f"福袋{'补抽' if round_ > 1 else '开奖'}（{prize}）：请公布中奖者 — " + "、".join(shown)}
    return Cue(id=new_id(), kind="lucky_bag", priority="high", text=texts.get(lang, texts["en"]),
               created_at=now_ms, expires_at=now_ms + CUE_TTL_MS, texts=texts,
               data={"bag": bag["id"], "round": round_, "winners": names},
               key=f"lucky_bag:{bag['id']}:{round_}", cooldown_ms=CUE_TTL_MS)
