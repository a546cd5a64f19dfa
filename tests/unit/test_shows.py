"""Buyer show input without Redis: text limits and which image URLs the wall may load."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from livecart.errors import BadRequest
from livecart.shows import MAX_TEXT, check_image_url, parse_show


def test_a_show_keeps_its_trimmed_text_and_url():
    draft = parse_show({"text": "  Love it!\nFits well  ", "image_url": "https://img.example/a.jpg?x=1"})
    assert draft.text == "Love it!\nFits well" and draft.image_url == "https://img.example/a.jpg?x=1"
    assert parse_show({"text": "ok", "image_url": ""}).image_url is None
    assert parse_show({"text": "ok"}).image_url is None


@pytest.mark.parametrize("url", [
    "javascript:alert(1)", "JavaScript:alert(1)", " javascript:alert(1)", "data:image/png;base64,AAAA",
    "blob:https://x/1", "file:///etc/passwd", "//evil.example/a.png", "ftp://x/a.png", "https://",
    "https:///a.png", "https://user:pw@evil.example/a.png", "https://x.example/a b.png",
    "https:\\\\evil.example", "http://x.example/\u202ea.png", "https://x.example/" + "a" * 2000,
    "vbscript:msgbox", "https://<script>/", "relative/path.png",
])
def test_only_absolute_http_urls_with_a_host_are_accepted(url):
    with pytest.raises(BadRequest) as refused:
        parse_show({"text": "nice", "image_url": url})
    assert refused.value.code == "bad_image_url"


@pytest.mark.parametrize("url", ["http://a.example/x.png", "HTTPS://A.EXAMPLE/X.PNG", "https://[::1]:8443/a",
                                 "https://cdn.example:443/p/1.jpg#frag"])
def test_http_urls_are_accepted(url):
    assert check_image_url(url) == url


@pytest.mark.parametrize("body", [
    {"text": ""}, {"text": "   "}, {"text": "x" * (MAX_TEXT + 1)}, {"text": "x" * 10_240}, {"text": 5},
    {"text": "a\x00b"}, {}, None, "text", {"text": "ok", "image_url": 5},
])
def test_bad_shows_are_refused(body):
    with pytest.raises(BadRequest):
        parse_show(body)


@given(st.text(max_size=300))
def test_any_url_is_accepted_only_as_http_or_https(url):
    try:
        accepted = check_image_url(url)
    except BadRequest:
        return
    assert accepted.lower().startswith(("http://", "https://"))
