"""The post-stream report's part on room interactions (pure): each poll's results over time, how many
buyer shows were posted and approved, and who was muted. web/interactions.py reads what it needs from
Redis; the report (report.py) shows this section in its page and under `interactions` in its JSON."""

from __future__ import annotations

import time
from collections.abc import Mapping
from html import escape
from typing import Any

from livecart.polls import results_over_time

__all__ = ["build", "html_section"]


def build(polls: list[dict[str, Any]], moves: Mapping[str, dict[str, int]], shows: list[dict[str, Any]],
          muted: Mapping[str, Mapping[str, Any]], step_s: int = 10) -> dict[str, Any]:
    """`polls`: POLL maps (newest first, as listed); `moves`: each poll's timeline hash by id;
    `shows`: SHOW maps; `muted`: user -> {"at", "by"}."""
    by_state: dict[str, int] = {}
    for show in shows:
        by_state[show.get("state", "pending")] = by_state.get(show.get("state", "pending"), 0) + 1
    return {
        "polls": [{"id": p["id"], "question": p["question"], "options": [o["label"] for o in p["options"]],
                   "votes": p["votes"], "voters": p["voters"], "opens_at": p["opens_at"],
                   "closes_at": p["closed_at"] or p["closes_at"], "change_vote": p["change_vote"],
                   "over_time": results_over_time(p["opens_at"], len(p["options"]), moves.get(p["id"], {}),
                                                  step_s)}
                  for p in reversed(polls)],
        "shows": {"posted": len(shows), "approved": by_state.get("approved", 0),
                  "rejected": by_state.get("rejected", 0), "pending": by_state.get("pending", 0),
                  "hidden": sum(1 for s in shows if s.get("hidden"))},
        "muted": [{"user": user, "at": m["at"], "by": m["by"]} for user, m in sorted(muted.items())],
    }


def _time(ms: int) -> str:
    return time.strftime("%H:%M:%S", time.gmtime(ms / 1000))


def html_section(section: Mapping[str, Any] | None) -> str:
    """The report page's "Polls, shows and moderation" part; every string from a user escaped."""
    if not section:
        return ""
    parts = ["<h2>Polls</h2>"]
    if not section["polls"]:
        parts.append('<p class="muted">None.</p>')
    for poll in section["polls"]:
        head = "".join(f'<th>{escape(label)}</th>' for label in poll["options"])
        rows = "".join(f"<tr><td class=\"l\">{_time(row['t'])}</td>"
                       + "".join(f"<td>{n}</td>" for n in row["votes"]) + "</tr>"
                       for row in poll["over_time"])
        parts.append(f"<h3>{escape(poll['question'])}</h3>"
                     f"<p class=\"muted\">{poll['voters']} voters, {_time(poll['opens_at'])}–"
                     f"{_time(poll['closes_at'])} UTC; final: "
                     + escape(", ".join(f"{label} {n}" for label, n in zip(poll["options"], poll["votes"],
                                                                            strict=True)))
                     + f"</p><table><tr><th class=\"l\">at</th>{head}</tr>{rows}</table>")
    shows = section["shows"]
    parts.append(f"<h2>Buyer shows</h2><p>{shows['posted']} posted, {shows['approved']} approved, "
                 f"{shows['rejected']} rejected, {shows['pending']} pending, {shows['hidden']} hidden by "
                 "blocked words.</p>")
    parts.append("<h2>Muted</h2>")
    if section["muted"]:
        parts.append("<table><tr><th class=\"l\">user</th><th>at</th><th class=\"l\">by</th></tr>"
                     + "".join(f"<tr><td class=\"l\">{escape(m['user'])}</td><td>{_time(m['at'])}</td>"
                               f"<td class=\"l\">{escape(m['by'])}</td></tr>" for m in section["muted"])
                     + "</table>")
    else:
        parts.append('<p class="muted">Nobody.</p>')
    return "".join(parts)
