"""`bearer_token`: the one parser of `Authorization` headers, used by both apps."""

from __future__ import annotations

import pytest

from core.security import bearer_token


@pytest.mark.parametrize(
    ("header", "token"),
    [
        ("Bearer abc.def.ghi", "abc.def.ghi"),
        ("bearer abc", "abc"),  # the scheme is case-insensitive (RFC 6750 / 7235)
        ("BEARER   abc  ", "abc"),
        (None, None),
        ("", None),
        ("Bearer", None),
        ("Bearer    ", None),
        ("Basic dXNlcjpwYXNz", None),
        ("Bearerabc", None),
        ("Token abc", None),
    ],
)
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_a_verified_token_is_still_checked_for_expiry_and_its_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """Verified tokens are remembered (core/security.py); a remembered one still expires on
    time, and stays bound to the secret it was verified with."""
    import core.security as security

    token = security.create_access_token("u1", "secret-a" * 4, hours=1)
    claims = security.decode_access_token(token, "secret-a" * 4)
    assert claims["sub"] == "u1" and (token, "secret-a" * 4) in security._VERIFIED
    claims["sub"] = "someone else"  # a caller changing its copy changes nothing remembered
    assert security.decode_access_token(token, "secret-a" * 4)["sub"] == "u1"
    with pytest.raises(security.TokenError):
        security.decode_access_token(token, "secret-b" * 4)  # another secret: verified afresh, refused
    with pytest.raises(security.TokenError):
        security.decode_access_token(token[:-2] + ("AA" if token[-2:] != "AA" else "BB"), "secret-a" * 4)
    later = security.time.time() + 2 * 3600
    monkeypatch.setattr(security.time, "time", lambda: later)
    with pytest.raises(security.TokenError, match="expired"):
        security.decode_access_token(token, "secret-a" * 4)
