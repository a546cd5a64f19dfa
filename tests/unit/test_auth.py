"""Tokens and the one authorization check."""

from __future__ import annotations

import pytest

from livecart import auth
from livecart.auth import ROLES, Action, Claims, authorize, issue, may, verify
from livecart.errors import BadRequest, Forbidden, Unauthorized

SECRET = "s3cret"
NOW = 1_800_000_000.0


def test_issue_then_verify_gives_the_claims():
    token = issue(SECRET, role="viewer", room="r1", user="lin", ttl_s=60, now=NOW)
    claims = verify(SECRET, token, now=NOW + 59.9)
    assert (claims.role, claims.room, claims.user) == ("viewer", "r1", "lin")


def test_a_token_is_invalid_once_its_ttl_has_passed_without_leeway():
    token = issue(SECRET, role="viewer", room="r1", ttl_s=60, now=NOW)
    with pytest.raises(Unauthorized, match="expired"):
        verify(SECRET, token, now=NOW + 60)


@pytest.mark.parametrize("mangle", [
    lambda t: t[:-2] + ("AA" if not t.endswith("AA") else "BB"),
    lambda t: t.split(".")[0] + "." + t.split(".")[1][::-1] + "." + t.split(".")[2],
    lambda t: "",
    lambda t: "a.b",
    lambda t: "x" * 5000,
    lambda t: "!!.@@.##",
])
def test_tampered_or_malformed_tokens_are_unauthorized(mangle):
    token = issue(SECRET, role="assistant", room="r1", now=NOW)
    with pytest.raises(Unauthorized):
        verify(SECRET, mangle(token), now=NOW)


@pytest.mark.parametrize("header", [b"[" * 1500, b'{"alg": NaN}', b'{"alg": "HS256", "kid": 1e999}', b"\xff"])
def test_a_header_no_json_parser_should_take_is_a_malformed_token(header):
    token = issue(SECRET, role="viewer", room="r1", now=NOW)
    forged = auth._b64(header) + token[token.index("."):]
    with pytest.raises(Unauthorized, match="malformed"):
        verify(SECRET, forged, now=NOW)


def test_another_secret_does_not_verify():
    with pytest.raises(Unauthorized, match="signature"):
        verify("other", issue(SECRET, role="viewer", room="r1", now=NOW), now=NOW)


def test_a_forged_wildcard_viewer_token_is_refused_even_with_the_right_signature():
    import base64
    import json

    from livecart.auth import _sign

    def b64(d: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()

    signing_input = b64({"alg": "HS256"}) + "." + b64({"role": "viewer", "room": "*", "exp": NOW + 60})
    token = signing_input + "." + base64.urlsafe_b64encode(_sign(SECRET, signing_input)).rstrip(b"=").decode()
    with pytest.raises(Unauthorized, match="every room"):
        verify(SECRET, token, now=NOW)


def test_wildcard_rooms_only_for_assistant_and_ingest():
    assert verify(SECRET, issue(SECRET, role="ingest", room="*", now=NOW), now=NOW).covers("any")
    for role in ("viewer", "host", "overlay"):
        with pytest.raises(ValueError):
            issue(SECRET, role=role, room="*")
    with pytest.raises(BadRequest):
        issue(SECRET, role="viewer", room="no spaces")


@pytest.mark.parametrize(("role", "user", "action", "allowed"), [
    ("viewer", "u", Action.WATCH, True),
    ("overlay", None, Action.WATCH, True),
    ("viewer", "u", Action.CLAIM, True),
    ("viewer", None, Action.CLAIM, False),
    ("viewer", None, Action.COMMENT, False),
    ("overlay", None, Action.COMMENT, False),
    ("host", None, Action.MANAGE, False),
    ("assistant", None, Action.MANAGE, True),
    ("viewer", "u", Action.INGEST, False),
    ("ingest", None, Action.INGEST, True),
])
def test_authorize_by_role(role, user, action, allowed):
    claims = auth.Claims(role=role, room="r1", user=user, expires_at=NOW)
    if allowed:
        authorize(claims, "r1", action)
    else:
        with pytest.raises(Forbidden):
            authorize(claims, "r1", action)


def test_authorize_refuses_another_room():
    with pytest.raises(Forbidden):
        authorize(auth.Claims("viewer", "r1", "u", NOW), "r2", Action.WATCH)


@pytest.mark.parametrize("room", ["", "a" * 65, "has space", "ü", "a/b"])
def test_bad_room_names(room):
    with pytest.raises(BadRequest):
        auth.check_room_name(room)


@pytest.mark.parametrize("action", list(Action))
def test_may_agrees_with_authorize_for_every_role_and_action(action):
    for role in ROLES:
        for user in (None, "u1"):
            try:
                authorize(Claims(role, "r1", user, 0), "r1", action)
                allowed = True
            except Forbidden:
                allowed = False
            assert may(role, user is not None, action) is allowed, (role, user, action)


def test_rotation_accepts_the_previous_secret_only_while_it_is_listed():
    old = issue("old-secret", role="overlay", room="r1", now=NOW)
    assert verify(("new-secret", "old-secret"), old, now=NOW).role == "overlay"
    with pytest.raises(Unauthorized):
        verify(("new-secret",), old, now=NOW)  # the grace period is over: the old key is gone


def test_tokens_name_their_key_and_tokens_from_before_kids_still_verify():
    import base64
    import json

    token = issue(SECRET, role="viewer", room="r1", now=NOW)
    header = json.loads(base64.urlsafe_b64decode(token.split(".")[0] + "=="))
    assert header["kid"] == auth.key_id(SECRET) != auth.key_id("other")
    # A token whose kid names no key here (as the fixed "k1" of earlier versions) is tried on each key.
    legacy_header = base64.urlsafe_b64encode(json.dumps({"alg": "HS256", "typ": "JWT", "kid": "k1"},
                                                        separators=(",", ":")).encode()).rstrip(b"=").decode()
    body = token.split(".")[1]
    signature = base64.urlsafe_b64encode(auth._sign(SECRET, legacy_header + "." + body)).rstrip(b"=").decode()
    assert verify(("new-secret", SECRET), f"{legacy_header}.{body}.{signature}", now=NOW).room == "r1"


@pytest.mark.parametrize("ttl", [float("nan"), float("inf"), -1.0, 0.0, auth.MAX_TTL_S + 1])
def test_a_ttl_that_is_not_finite_or_not_within_the_maximum_is_refused(ttl):
    with pytest.raises(ValueError, match="ttl"):
        issue(SECRET, role="overlay", room="r1", ttl_s=ttl, now=NOW)


def _signed(payload_json: str) -> str:
    import base64

    from livecart.auth import _sign

    def b64(raw: str) -> str:
        return base64.urlsafe_b64encode(raw.encode()).rstrip(b"=").decode()

    signing_input = b64('{"alg":"HS256"}') + "." + b64(payload_json)
    return signing_input + "." + base64.urlsafe_b64encode(_sign(SECRET, signing_input)).rstrip(b"=").decode()


@pytest.mark.parametrize("exp", ["NaN", "Infinity", "1e308", "true", f"{NOW + auth.MAX_TTL_S + 10}"])
def test_a_token_whose_exp_is_not_finite_or_too_far_away_is_invalid(exp):
    token = _signed('{"role":"overlay","room":"r1","exp":' + exp + "}")
    with pytest.raises(Unauthorized):
        verify(SECRET, token, now=NOW)


def test_every_token_has_its_own_id():
    first, second = (verify(SECRET, issue(SECRET, role="viewer", room="r1", now=NOW), now=NOW)
                     for _ in range(2))
    assert first.token_id and second.token_id and first.token_id != second.token_id


def test_revocations_by_role_user_or_token_id():
    tok = Claims("viewer", "r1", "lin", NOW + 60, issued_at=NOW, token_id="abc")

    def revoked(cutoffs: dict[str, float], claims: Claims = tok) -> bool:
        return auth.is_revoked(cutoffs, claims.role, claims.user, claims.token_id, claims.issued_at)

    assert not revoked({})
    assert revoked({auth.revocation_field(role="viewer"): NOW + 1})
    assert not revoked({auth.revocation_field(role="viewer"): NOW - 1})  # issued after the cut-off
    assert revoked({auth.revocation_field(user="lin"): NOW + 1})
    assert not revoked({auth.revocation_field(user="bo"): NOW + 1})
    assert revoked({auth.revocation_field(token_id="abc"): 1.0})
    assert not revoked({auth.revocation_field(token_id="abd"): NOW + 1})
    # A user id shaped like another field revokes nothing but that user.
    assert not revoked({auth.revocation_field(user="jti:abc"): NOW + 1})
    assert auth.revocation_field(user="viewer") != auth.revocation_field(role="viewer")


@pytest.mark.parametrize("ttl", ["nan", "inf", "-5", "0", str(auth.MAX_TTL_S + 1)])
def test_livecart_token_refuses_a_ttl_that_is_not_finite_or_within_the_maximum(ttl, tmp_path, capsys):
    from livecart.cli import main

    args = ["token", "--room", "r1", "--role", "overlay", "--data-dir", str(tmp_path), "--ttl"]
    assert main([*args, ttl]) != 0
    assert capsys.readouterr().out == ""
    assert main([*args, "60"]) == 0


def test_an_action_is_by_the_tokens_user_or_else_by_its_role():
    assert Claims(role="assistant", room="r", user="mei", expires_at=0).by_whom == "mei"
    assert Claims(role="host", room="r", user=None, expires_at=0).by_whom == "host"
