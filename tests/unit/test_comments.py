"""Question detection and clustering on a zh/en corpus, answered topics, and hot words."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from livecart.comments import (
    MAX_WORD_CHARS,
    MAX_WORDS,
    QuestionBoard,
    Segmenter,
    WordWindow,
    hot_words,
    is_question,
    topic_of,
)

CORPUS = json.loads((Path(__file__).parent.parent / "fixtures" / "comments_corpus.json").read_text("utf-8"))


@pytest.fixture(scope="module")
def segmenter() -> Segmenter:
    s = Segmenter()
    s.warm()
    return s


@pytest.mark.parametrize("item", CORPUS["comments"], ids=lambda c: c["text"])
def test_each_comment_gets_the_topic_it_asks_about(item):
    assert topic_of(item["text"]) == item["topic"]
    assert is_question(item["text"]) is (item["topic"] is not None)


def test_the_same_question_asked_different_ways_forms_one_cluster():
    board = QuestionBoard(window_ms=300_000)
    for i, c in enumerate(CORPUS["comments"]):
        board.add(1_000 + i, c["user"], c["text"])
    clusters = board.clusters(now_ms=2_000)
    assert {c.topic: c.askers for c in clusters} == CORPUS["clusters"]
    assert clusters[0].topic == "size"  # the biggest first
    price = next(c for c in clusters if c.topic == "price")
    assert price.asked == 5 and price.askers == 4  # u1 asked twice: one asker
    assert len(price.examples) == 3 and price.to_wire()["label_zh"] == "价格"


def test_an_answered_topic_counts_only_questions_asked_after_the_answer():
    board = QuestionBoard(window_ms=300_000)
    for i in range(6):
        board.add(1_000 + i, f"u{i}", "尺码怎么选？")
    board.answer("size", 2_000)
    assert board.clusters(3_000) == []
    board.add(2_500, "late", "what size?")
    assert [(c.topic, c.askers) for c in board.clusters(3_000)] == [("size", 1)]


def test_questions_leave_the_window():
    board = QuestionBoard(window_ms=60_000)
    board.add(0, "u1", "多少钱？")
    assert board.clusters(59_000) and not board.clusters(61_000)


def test_hot_words_are_words_not_character_pairs(segmenter):
    texts = ["尺码怎么选", "尺码偏大吗", "这个尺码好", "发货快吗", "发货了吗", "scarf so soft", "Scarf!"]
    words = dict(hot_words(texts, segmenter))
    assert words["尺码"] == 3 and words["发货"] == 2 and words["scarf"] == 2
    assert "码怎" not in words and "吗" not in words


def test_a_word_repeated_in_one_comment_counts_once(segmenter):
    assert hot_words(["链接链接链接链接"], segmenter) == [("链接", 1)]


def test_a_comments_words_are_bounded_in_length_and_number_whatever_its_size():
    segmenter = Segmenter()
    many = " ".join("w" + "".join(chr(97 + int(d)) for d in f"{n:03d}") for n in range(500))  # 500 words
    words = segmenter.words("x" * 4000 + " " + many + " 尺码偏大吗")
    assert all(len(w) <= MAX_WORD_CHARS for w in words)
    assert len(words) == MAX_WORDS and len(set(words)) == len(words)
    assert "x" * 4000 not in words


def test_the_word_window_is_bounded_in_bytes_and_drops_the_oldest_first():
    window = WordWindow(max_bytes=10_000)
    for ts in range(1000):
        window.add(ts, [f"w{ts}", "same"])
    assert window.bytes <= 10_000
    kept = list(window.lists())
    assert kept[-1] == ["w999", "same"] and 0 < len(kept) < 1000
    window.trim(999)
    assert list(window.lists()) == [["w999", "same"]]
