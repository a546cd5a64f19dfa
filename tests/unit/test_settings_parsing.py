"""Settings are parsed by their field's type, one test per kind, and a bad value names its setting."""

from __future__ import annotations

from pathlib import Path
from typing import get_type_hints

import pytest

from livecart.config import Secret, Settings, parse_setting


def settings(tmp_path: Path, **env: str) -> Settings:
    return Settings.from_env({"LIVECART_" + k.upper(): v for k, v in env.items()},
                             {"data_dir": str(tmp_path), "secret": "s"})


@pytest.mark.parametrize(("text", "value"), [
    ("1", True), ("true", True), ("Yes", True), ("ON", True), (" on ", True),
    ("0", False), ("false", False), ("No", False), ("off", False)])
def test_a_bool_reads_the_usual_words(text, value):
    assert parse_setting("flag", bool, text) is value
    assert parse_setting("flag", bool, value) is value  # a flag argparse already made a bool


@pytest.mark.parametrize("text", ["2", "maybe", "enabled", "tru"])
def test_a_bool_refuses_anything_else_and_names_the_setting(text):
    with pytest.raises(ValueError, match=r"setting flag: cannot read .* as a boolean \(1/0, true/false"):
        parse_setting("flag", bool, text)


def test_an_int_reads_digits_and_refuses_fractions_and_words(tmp_path):
    assert settings(tmp_path, history_max="20_000", port=" 9000 ").history_max == 20_000
    assert parse_setting("port", int, 9100) == 9100  # argparse's type=int
    for bad in ("1.5", "many"):
        with pytest.raises(ValueError, match=f"setting history_max: cannot read '{bad}' as an integer"):
            settings(tmp_path, history_max=bad)
    for bad in (9100.5, True):  # no silent truncation; a bool is no number here
        with pytest.raises(ValueError, match="setting port"):
            parse_setting("port", int, bad)


def test_a_float_reads_numbers(tmp_path):
    assert settings(tmp_path, ingest_rate="2500").ingest_rate == 2500.0
    assert settings(tmp_path, price_floor="0.25").price_floor == 0.25
    with pytest.raises(ValueError, match="setting price_floor: cannot read 'a quarter' as a number"):
        settings(tmp_path, price_floor="a quarter")


def test_a_duration_is_a_number_in_the_unit_its_name_says(tmp_path):
    got = settings(tmp_path, hold_s="90", tick_ms="40", deal_retention_days="0.5")
    assert (got.hold_s, got.tick_ms, got.deal_retention_days) == (90.0, 40, 0.5)
    with pytest.raises(ValueError, match=r"setting hold_s: cannot read '90s' as a number of seconds"):
        settings(tmp_path, hold_s="90s")
    with pytest.raises(ValueError, match=r"setting tick_ms: cannot read '1s' as a number of milliseconds"):
        settings(tmp_path, tick_ms="1s")
    with pytest.raises(ValueError, match=r"setting stats_retention_days: .* a number of days"):
        settings(tmp_path, stats_retention_days="1w")


def test_a_list_is_comma_separated_without_blanks(tmp_path):
    got = settings(tmp_path, allowed_origins=" https://a.example , ,https://b.example,",
                   previous_secrets="old-1,old-2")
    assert got.allowed_origins == ("https://a.example", "https://b.example")
    assert got.allowed_origin_list == frozenset({"https://a.example", "https://b.example"})
    assert got.previous_secrets == ("old-1", "old-2")
    assert all(isinstance(k, Secret) for k in got.previous_secrets)
    assert got.token_keys == ("s", "old-1", "old-2")
    assert "old-1" not in repr(got)
    assert parse_setting("ports", tuple[int, ...], "1, 2") == (1, 2)
    with pytest.raises(ValueError, match="setting ports: cannot read '1,two' as a comma-separated list"):
        parse_setting("ports", tuple[int, ...], "1,two")
    assert settings(tmp_path).allowed_origins == () and settings(tmp_path).token_keys == ("s",)


def test_an_optional_setting_is_its_default_until_given(tmp_path):
    assert settings(tmp_path).redis_url is None
    assert settings(tmp_path, redis_url="").redis_url is None
    assert settings(tmp_path, redis_url="redis://r:6379/0").redis_url == "redis://r:6379/0"
    assert parse_setting("limit", int | None, "3") == 3


def test_text_paths_and_secrets_keep_their_type(tmp_path):
    got = settings(tmp_path, cue_lang="en")
    assert got.cue_lang == "en" and isinstance(got.data_dir, Path) and isinstance(got.secret, Secret)


def test_every_setting_has_a_type_the_parser_reads_back_from_its_default():
    for name, kind in get_type_hints(Settings).items():
        default = getattr(Settings(), name)
        if default is None:
            continue
        text = ",".join(default) if isinstance(default, tuple) else str(default)
        assert parse_setting(name, kind, text) == default, name


def test_the_director_step_is_over_zero_and_at_most_a_second(tmp_path):
    assert settings(tmp_path).director_step_s == 1.0
    assert settings(tmp_path, director_step_s="0.2").director_step_s == 0.2
    for bad in ("0", "-1", "1.5"):  # a busy loop; a lease that could lapse between two steps
        with pytest.raises(ValueError, match="setting director_step_s must be over 0 and at most 1"):
            settings(tmp_path, director_step_s=bad)
