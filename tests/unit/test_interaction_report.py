"""The report's interactions section without Redis: polls in order with their results over time, show
counts, muted users, and a page part that escapes every string a user wrote."""

from __future__ import annotations

from livecart.interaction_report import build, html_section

NOW = 1_800_000_000_000
POLL = {"id": "p1", "question": "<script>x</script>", "options": [{"label": "Red"}, {"label": "<b>Blue</b>"}],
        "votes": [1, 2], "voters": 3, "opens_at": NOW, "closes_at": NOW + 60_000, "closed_at": NOW + 30_000,
        "change_vote": False}


def test_the_section_has_polls_oldest_first_show_counts_and_mutes():
    older = dict(POLL, id="p0", opens_at=NOW - 100_000, closed_at=None)
    section = build([POLL, older], {"p1": {"0:0": 1, "12:1": 2}},
                    [{"state": "approved"}, {"state": "pending", "hidden": True}, {"state": "rejected"}],
                    {"troll": {"at": NOW, "by": "amy"}})
    assert [p["id"] for p in section["polls"]] == ["p0", "p1"]
    assert section["polls"][1]["closes_at"] == NOW + 30_000  # closed early
    assert section["polls"][1]["over_time"] == [{"t": NOW + 10_000, "votes": [1, 0]},
                                                {"t": NOW + 20_000, "votes": [1, 2]}]
    assert section["shows"] == {"posted": 3, "approved": 1, "rejected": 1, "pending": 1, "hidden": 1}
    assert section["muted"] == [{"user": "troll", "at": NOW, "by": "amy"}]


def test_the_page_part_escapes_what_users_wrote():
    page = html_section(build([POLL], {}, [], {"<i>troll</i>": {"at": NOW, "by": "<amy>"}}))
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "<b>Blue</b>" not in page and "<i>troll</i>" not in page and "<amy>" not in page
    assert html_section(None) == ""
