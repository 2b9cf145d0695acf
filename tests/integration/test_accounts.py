"""Accounts, roles and tokens over real HTTP: sign-up, admin API, forged tokens, default model."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path

import httpx
import jwt
import pytest
from pydantic import ValidationError

from app.main import create_app
from settings import WELL_KNOWN_SECRETS
from tests.conftest import make_settings
from tests.integration.conftest import Platform, platform_settings
from tests.scripted_llm import ScriptedLLM
from tests.servers import serve_app


def me(p: Platform, token: str) -> httpx.Response:
    return httpx.get(p.url + "/api/auth/me", headers=p.headers(token))


def admin_api(p: Platform, method: str, path: str, token: str | None = None, **kwargs: object) -> httpx.Response:
    return httpx.request(method, p.url + "/api/admin" + path, headers=p.headers(token), **kwargs)  # type: ignore[arg-type]


def assert_envelope(resp: httpx.Response, status: int) -> dict[str, object]:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    assert error["message"] and error["type"]
    return error  # type: ignore[no-any-return]


# -- sign-up and password rules ------------------------------------------------------------


def test_signup_with_role_admin_creates_a_plain_user(platform: Platform) -> None:
    resp = httpx.post(
        platform.url + "/api/auth/signup", json={"username": "mallory", "password": "long-enough-pw", "role": "admin"}
    )
    assert resp.status_code == 201
    assert resp.json()["user"]["role"] == "user"
    token = resp.json()["access_token"]
    assert me(platform, token).json()["role"] == "user"
    assert_envelope(admin_api(platform, "GET", "/users", token), 403)


def test_duplicate_username_is_409(platform: Platform) -> None:
    platform.signup("alice")
    resp = httpx.post(platform.url + "/api/auth/signup", json={"username": "alice", "password": "another-password"})
    assert assert_envelope(resp, 409)["code"] == "username_taken"
    same_but_case = httpx.post(platform.url + "/api/auth/signup", json={"username": "ADMIN", "password": "p" * 10})
    assert_envelope(same_but_case, 409)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({"username": "bob", "password": "short"}, "password must be at least 8 characters"),
        ({"username": "bob", "password": " " * 12}, "password must not be only spaces"),
        ({"username": "b", "password": "long-enough-pw"}, "username must be 3 to 64 characters"),
        ({"username": "bob/../x", "password": "long-enough-pw"}, "username must be 3 to 64 characters"),
        ({"username": "bob"}, "password"),
    ],
)
def test_bad_signup_gets_a_clear_422(platform: Platform, body: dict[str, str], fragment: str) -> None:
    resp = httpx.post(platform.url + "/api/auth/signup", json=body)
    error = assert_envelope(resp, 422)
    assert fragment in str(error["message"])
    assert "Value error" not in str(error["message"])


def test_long_passwords_are_not_truncated_at_72_bytes(platform: Platform) -> None:
    password = "é" * 40 + "-tail-one"  # 89 bytes: bcrypt would have ignored the tail
    platform.signup("longpw", password)
    assert platform.login("longpw", password)
    wrong = httpx.post(
        platform.url + "/api/auth/login", json={"username": "longpw", "password": "é" * 40 + "-tail-two"}
    )
    assert_envelope(wrong, 401)


# -- tokens ---------------------------------------------------------------------------------


def _b64(data: dict[str, object]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


@pytest.mark.filterwarnings("ignore:The HMAC key")
def test_forged_tampered_expired_and_none_tokens_are_401(platform: Platform) -> None:
    token = platform.signup("carol")
    user_id = me(platform, token).json()["id"]
    admin_id = me(platform, platform.token).json()["id"]
    secret = platform.settings.jwt_secret
    now = int(time.time())

    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = admin_id
    tampered = f"{header}.{_b64(claims)}.{signature}"
    none_token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': admin_id, 'iat': now, 'exp': now + 600})}."
    expired = jwt.encode({"sub": user_id, "iat": now - 7200, "exp": now - 3600}, secret, algorithm="HS256")
    other_alg = jwt.encode({"sub": admin_id, "iat": now, "exp": now + 600}, secret, algorithm="HS512")
    no_exp = jwt.encode({"sub": admin_id, "iat": now}, secret, algorithm="HS256")
    forged = [tampered, none_token, expired, other_alg, no_exp, "garbage", token + "x"]
    forged += [
        jwt.encode({"sub": admin_id, "iat": now, "exp": now + 600, "role": "admin"}, weak, algorithm="HS256")
        for weak in WELL_KNOWN_SECRETS
    ]
    for bad in forged:
        for resp in (
            me(platform, bad),
            admin_api(platform, "GET", "/users", bad),
            httpx.get(platform.v1 + "/models", headers=platform.headers(bad)),
        ):
            assert_envelope(resp, 401)
    assert me(platform, token).status_code == 200


def test_role_claim_is_not_trusted(platform: Platform) -> None:
    """A token correctly signed for a user but claiming `role: admin` still gets 403: the
    role comes from the database, not from the token."""
    token = platform.signup("dave")
    claims = jwt.decode(token, options={"verify_signature": False})
    claims["role"] = "admin"
    boosted = jwt.encode(claims, platform.settings.jwt_secret, algorithm="HS256")
    assert_envelope(admin_api(platform, "GET", "/users", boosted), 403)


def test_short_or_well_known_jwt_secret_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="at least 32 bytes"):
        make_settings(tmp_path, jwt_secret_key="x" * 31)
    with pytest.raises(ValidationError, match="well-known"):
        make_settings(tmp_path, jwt_secret_key="09d25e094faa6ca2556c818166b7a9563b93f7099f6f0f4caa6cf63b88e8d3e7")
    assert make_settings(tmp_path, jwt_secret_key="y" * 32).jwt_secret == "y" * 32


# -- the admin API --------------------------------------------------------------------------


def test_admin_manages_users_and_changes_void_old_tokens(platform: Platform) -> None:
    eve = platform.signup("eve")
    assert_envelope(admin_api(platform, "POST", "/users", eve, json={"username": "x1", "password": "p" * 10}), 403)

    made = admin_api(platform, "POST", "/users", json={"username": "ops", "password": "ops-password", "role": "admin"})
    assert made.status_code == 201 and made.json()["role"] == "admin"
    dup = admin_api(platform, "POST", "/users", json={"username": "ops", "password": "ops-password"})
    assert_envelope(dup, 409)
    bad_role = admin_api(platform, "POST", "/users", json={"username": "x2", "password": "p" * 10, "role": "root"})
    assert_envelope(bad_role, 422)

    listed = admin_api(platform, "GET", "/users").json()
    assert {u["username"] for u in listed["data"]} >= {"admin", "eve", "ops"}
    assert all("hashed_password" not in u for u in listed["data"])

    # promote eve: her old token is void (even one issued in the same second: iat is
    # sub-second), and a new login carries the admin role
    promoted = admin_api(platform, "PATCH", "/users/eve", json={"role": "admin"})
    assert promoted.json()["role"] == "admin"
    assert_envelope(me(platform, eve), 401)
    eve = platform.login("eve", "correct-horse-battery")
    assert admin_api(platform, "GET", "/users", eve).status_code == 200

    # disable: token and login stop working; enable again: login works
    admin_api(platform, "PATCH", "/users/eve", json={"disabled": True}).raise_for_status()
    assert_envelope(me(platform, eve), 401)
    assert_envelope(
        httpx.post(platform.url + "/api/auth/login", json={"username": "eve", "password": "correct-horse-battery"}), 401
    )
    enable = {"disabled": False, "password": "a-new-password"}
    admin_api(platform, "PATCH", "/users/eve", json=enable).raise_for_status()
    eve = platform.login("eve", "a-new-password")

    # delete: the token stops working and the user is gone
    deleted = admin_api(platform, "DELETE", "/users/eve")
    assert deleted.json()["deleted"] is True
    assert_envelope(me(platform, eve), 401)
    assert_envelope(admin_api(platform, "GET", "/users/eve"), 404)


def test_last_admin_cannot_be_removed(platform: Platform) -> None:
    for change in ({"role": "user"}, {"disabled": True}):
        assert assert_envelope(admin_api(platform, "PATCH", "/users/admin", json=change), 409)["code"] == "last_admin"
    assert_envelope(admin_api(platform, "DELETE", "/users/admin"), 409)
    assert me(platform, platform.token).json()["role"] == "admin"


def test_default_model_is_admin_only_and_shared_by_every_worker(
    platform: Platform, data_dir: Path, llm_server: ScriptedLLM
) -> None:
    user = platform.signup("frank")
    assert_envelope(admin_api(platform, "POST", "/model", user, json={"model": "other-model"}), 403)
    assert_envelope(admin_api(platform, "GET", "/model", user), 403)
    assert_envelope(admin_api(platform, "POST", "/model", json={"model": "chat"}), 400)

    # A second app instance on the same database plays a second worker.
    second = create_app(
        platform_settings(data_dir, llm_server).model_copy(update={"jwt_secret_key": platform.settings.jwt_secret_key})
    )
    with serve_app(second) as url2:
        set_resp = admin_api(platform, "POST", "/model", json={"model": "other-model"})
        assert set_resp.json()["model"] == "other-model"
        assert set_resp.json()["listed_by_backend"] is False
        body = {"model": "chat", "messages": [{"role": "user", "content": "hi"}]}
        httpx.post(url2 + "/v1/chat/completions", headers=platform.headers(user), json=body).raise_for_status()
        assert llm_server.requests[-1]["model"] == "other-model"
        assert httpx.get(url2 + "/api/admin/model", headers=platform.headers()).json()["model"] == "other-model"

    admin_api(platform, "POST", "/model", json={"model": None}).raise_for_status()
    httpx.post(platform.v1 + "/chat/completions", headers=platform.headers(user), json=body).raise_for_status()
    assert llm_server.requests[-1]["model"] == "scripted-model"
