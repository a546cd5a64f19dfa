"""Blocked words without Redis: normalisation (case, full-width forms, zero-width characters), where a
word matches, and the console's word list."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.errors import BadRequest
from livecart.moderation import BlockedWords, check_user_id, normalise, parse_word_list


@pytest.mark.parametrize("text,expected", [
    ("BAD", "bad"), ("ＢＡＤ", "bad"), ("b\u200bad", "bad"), ("  a \t b ", "a b"), ("１２３", "123"),
    ("Straße", "strasse"), ("假货", "假货"),
])
def test_normalise_folds_case_widths_and_invisible_characters(text, expected):
    assert normalise(text) == expected


WORDS = BlockedWords.of(["scam", "假货", "Fake Brand", "ass"])


@pytest.mark.parametrize("text", ["this is a SCAM", "ｓｃａｍ!!", "s\u200bcam", "这是假货吧",
                                  "fake  brand here", "这个scam", "scam!!!", "ASS"])
def test_blocked_words_are_found_however_they_are_written(text):
    assert WORDS.matches(text)


@pytest.mark.parametrize("text", ["scampi for dinner", "first class", "scam2", "假的货", "fakebrand", "",
                                  "hello"])
def test_words_inside_other_latin_words_are_not_blocked(text):
    assert not WORDS.matches(text)


def test_an_empty_list_blocks_nothing():
    assert not BlockedWords.of([]).matches("anything at all")
    assert BlockedWords.of([]).find("scam") is None


def test_the_longest_word_is_the_one_named():
    assert BlockedWords.of(["fake", "fake brand"]).find("a FAKE BRAND bag") == "fake brand"


@given(st.lists(st.text(min_size=1, max_size=8), max_size=6), st.text(max_size=40))
def test_matching_never_fails_and_is_blind_to_case_and_width(words, text):
    blocked = BlockedWords.of(words)
    assert blocked.matches(text) == blocked.matches(text.upper()) or not text.isascii()
    found = blocked.find(text)
    assert found is None or found in normalise(text)


@given(st.lists(st.text(alphabet="abc假货 ", min_size=1, max_size=5), min_size=1, max_size=5))
def test_every_word_of_the_list_blocks_itself(words):
    blocked = BlockedWords.of(words)
    for word in blocked.words:
        assert blocked.matches(word)


def test_the_console_word_list_is_normalised_and_deduplicated():
    assert parse_word_list({"words": ["Scam", "ＳＣＡＭ", " 假货 "]}) == ["scam", "假货"]


@pytest.mark.parametrize("body", [None, [], {"words": "scam"}, {"words": [1]}, {"words": ["  "]},
                                  {"words": ["x" * 51]}, {"words": ["w"] * 501}])
def test_bad_word_lists_are_refused(body):
    with pytest.raises(BadRequest):
        parse_word_list(body)


@pytest.mark.parametrize("user", ["", "x" * 201, 7, None, "a\nb", "a\x00"])
def test_bad_user_ids_are_refused(user):
    with pytest.raises(BadRequest):
        check_user_id(user)


def test_a_user_id_is_kept_as_it_is():
    assert check_user_id("Lin 林") == "Lin 林"
