"""Password hashing (Argon2id via pwdlib) and JWT access tokens (PyJWT, HS256 pinned).

The tools app verifies the same tokens with the same secret, so this module is
shared by both apps; it holds no state of its own.
"""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
from pwdlib import PasswordHash
from pwdlib.hashers.argon2 import Argon2Hasher

__all__ = [
    "ALGORITHM",
    "TokenError",
    "bearer_token",
    "hash_password",
    "verify_password",
    "create_access_token",
    "decode_access_token",
]

ALGORITHM = "HS256"
_hasher = PasswordHash((Argon2Hasher(),))


class TokenError(Exception):
    """The token is missing, malformed, forged or expired."""


def bearer_token(authorization: str | None) -> str | None:
    """The token of an `Authorization: Bearer <token>` header (scheme case-insensitive, RFC 6750),
    or None when the header is absent, another scheme, or carries no token. Both apps parse the
    header here, so they accept and refuse exactly the same headers."""
    if not authorization:
        return None
    scheme, _, token = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return None
    return token.strip() or None


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(password: str, hashed: str) -> bool:
    try:
        return _hasher.verify(password, hashed)
    except Exception:  # a malformed stored hash must not become a 500
        return False


def create_access_token(subject: str, secret: str, *, hours: float, extra: dict[str, Any] | None = None) -> str:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "sub": subject,
        # Sub-second `iat` (RFC 7519 NumericDate may be fractional), so revoking tokens
        # (password change, disable) also voids one issued earlier in the same second.
        "iat": now.timestamp(),
        "exp": now + timedelta(hours=hours),
        "jti": uuid.uuid4().hex,
    }
    claims.update(extra or {})
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


# Tokens whose signature and claims were verified: a client sends the same token on every
# request, and PyJWT's checks cost about 1 ms of CPU each time. The verdict on a signature
# never changes, so a hit only re-checks expiry. Bounded; cleared when full.
_VERIFIED: dict[tuple[str, str], dict[str, Any]] = {}
_VERIFIED_MAX = 4096


def decode_access_token(token: str, secret: str) -> dict[str, Any]:
    """Decode and verify; the algorithm list is pinned so `alg: none` or RS/HS confusion fails."""
    known = _VERIFIED.get((token, secret))
    if known is not None:
        if float(known["exp"]) <= time.time():
            raise TokenError("Signature has expired")
        return dict(known)
    try:
        claims: dict[str, Any] = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "iat", "sub"]}
        )
    except jwt.PyJWTError as exc:
        raise TokenError(str(exc)) from exc
    if len(_VERIFIED) >= _VERIFIED_MAX:
        _VERIFIED.clear()
    _VERIFIED[(token, secret)] = dict(claims)
    return claims
