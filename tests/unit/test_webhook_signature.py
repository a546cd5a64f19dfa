"""Webhook signatures: HMAC-SHA256 of the raw body, base64 (Shopify) or hex, compared in constant time."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from livecart.webhook_signature import BadSignature, check_signature, sign

SECRET = "shpss_0123456789abcdef0123456789abcdef"
HEADER = "X-Shopify-Hmac-Sha256"


def test_sign_is_shopifys_base64_hmac_sha256_of_the_raw_body():
    body = b'{"id":820982911946154508}'
    expected = base64.b64encode(hmac.new(SECRET.encode(), body, hashlib.sha256).digest()).decode()
    assert sign(SECRET, body) == expected
    assert sign(SECRET, body, "hex") == hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=2000), st.sampled_from(["base64", "hex"]))
def test_a_body_signed_with_the_secret_passes(body, encoding):
    check_signature(SECRET, body, sign(SECRET, body, encoding), header_name=HEADER, encoding=encoding)


@settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(min_size=1, max_size=500), st.data())
def test_any_changed_byte_of_the_body_fails(body, data):
    index = data.draw(st.integers(0, len(body) - 1))
    changed = body[:index] + bytes([body[index] ^ 0x01]) + body[index + 1:]
    with pytest.raises(BadSignature) as refused:
        check_signature(SECRET, changed, sign(SECRET, body), header_name=HEADER)
    assert refused.value.status == 401
    assert refused.value.code == "bad_signature"
    assert "does not match" in refused.value.detail


def test_another_secret_fails():
    body = b"{}"
    with pytest.raises(BadSignature, match="does not match"):
        check_signature(SECRET, body, sign(SECRET + "x", body), header_name=HEADER)


def test_re_encoded_json_fails_because_the_signature_is_over_the_bytes():
    raw = b'{"a": 1, "b": 2}'
    with pytest.raises(BadSignature):
        check_signature(SECRET, b'{"a":1,"b":2}', sign(SECRET, raw), header_name=HEADER)


@pytest.mark.parametrize(("header", "reason"), [
    (None, "is missing"), ("", "is missing"), ("not base64!!", "is not a base64"),
    (base64.b64encode(b"short").decode(), "is not a base64"), ("A" * 600, "too long"),
])
def test_a_missing_or_malformed_header_says_which(header, reason):
    with pytest.raises(BadSignature, match=reason) as refused:
        check_signature(SECRET, b"{}", header, header_name=HEADER)
    assert HEADER in refused.value.detail


def test_a_prefix_is_stripped_and_hex_is_read():
    body = b'{"id": 52}'
    check_signature(SECRET, body, "sha256=" + sign(SECRET, body, "hex"), header_name="X-Signature",
                    encoding="hex", prefix="sha256=")
    with pytest.raises(BadSignature):
        check_signature(SECRET, body, "sha256=" + sign(SECRET, body, "hex"), header_name="X-Signature",
                        encoding="hex")


def test_the_refusal_never_shows_the_expected_signature():
    body = b"{}"
    with pytest.raises(BadSignature) as refused:
        check_signature(SECRET, body, sign("other-secret-123456", body), header_name=HEADER)
    assert sign(SECRET, body) not in str(refused.value)
    assert SECRET not in str(refused.value)
