"""The multi-replica topology of `deploy/run-local-cluster`: two main-app and two tools-app
processes on one PostgreSQL and one DATA_DIR, HAProxy in front, a scripted LLM behind.
Every request here goes to a chosen replica (or the balancer) over real HTTP."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.pg import postgres_bin
from tests.scale.test_cancel_across_replicas import SLOW
from tests.scripted_llm import Reply, ScriptedLLM, scripted_llm

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.skipif(
    postgres_bin() is None or shutil.which("haproxy") is None,
    reason="PostgreSQL and HAProxy are needed (`make test-deps` installs them)",
)


@dataclass
class Cluster:
    url: str
    main: list[str]
    tools: list[str]
    llm: ScriptedLLM

    def login(self, base: str, name: str, password: str = "correct-horse-battery") -> dict[str, str]:
        resp = httpx.post(base + "/api/auth/login", json={"username": name, "password": password})
        resp.raise_for_status()
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}

    def signup(self, base: str, name: str) -> dict[str, str]:
        resp = httpx.post(base + "/api/auth/signup", json={"username": name, "password": "correct-horse-battery"})
        resp.raise_for_status()
        return {"Authorization": f"Bearer {resp.json()['access_token']}"}


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with scripted_llm() as llm:
        env = {
            **os.environ,
            "LLM_BACKEND": "openai",
            "OPENAI_BASE_URL": llm.url,
            "OPENAI_API_KEY": "test",
            "OPENAI_MODEL": "scripted-model",
            "DEFAULT_AGENT": "chat",
            "PYTHONPATH": str(ROOT),
        }
        data_dir = tmp_path_factory.mktemp("cluster")
        cmd = [sys.executable, str(ROOT / "deploy" / "run-local-cluster"), "--data-dir", str(data_dir)]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, text=True, cwd=ROOT)
        try:
            assert proc.stdout is not None
            info: dict[str, Any] = {}
            for line in proc.stdout:
                if line.startswith("cluster-ready "):
                    info = json.loads(line.removeprefix("cluster-ready "))
                    break
            assert info, "the cluster did not start (see its logs under DATA_DIR/logs)"
            yield Cluster(url=info["url"], main=info["main"], tools=info["tools"], llm=llm)
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(120)


def _chat(base: str, h: dict[str, str], sid: str, *texts: str, **extra: Any) -> httpx.Response:
    messages = [{"role": "user", "content": t} for t in texts]
    body = {"model": "chat", "session_id": sid, "messages": messages, **extra}
    return httpx.post(base + "/v1/chat/completions", headers=h, json=body, timeout=120)


def test_a_conversation_alternating_between_replicas_keeps_its_history(cluster: Cluster) -> None:
    h = cluster.signup(cluster.url, "alternating")
    for i, text in enumerate(("one", "two", "three", "four")):
        resp = _chat(cluster.main[i % 2], h, "alt", text)
        assert resp.status_code == 200, resp.text
        assert cluster.llm.user_messages(-1) == ["one", "two", "three", "four"][: i + 1]
    history = httpx.get(cluster.main[0] + "/api/chat/history/alt", headers=h).json()["messages"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["one", "two", "three", "four"]


def test_session_made_on_one_replica_is_listed_cancelled_and_deleted_on_the_other(cluster: Cluster) -> None:
    a, b = cluster.main
    h = cluster.signup(a, "crossing")
    assert _chat(a, h, "shared", "first").status_code == 200
    listed = httpx.get(b + "/api/chat/sessions", headers=h).json()["data"]
    assert [s["id"] for s in listed] == ["shared"]

    out: dict[str, httpx.Response] = {}
    cluster.llm.push(Reply(content="too late", delay=SLOW))
    thread = threading.Thread(target=lambda: out.update(resp=_chat(a, h, "shared", "first", "second")))
    thread.start()
    while not httpx.get(b + "/api/chat/sessions/shared", headers=h).json()["running"]:
        assert thread.is_alive(), "the slow turn ended before it was seen running"
    assert httpx.post(b + "/api/chat/sessions/shared/cancel", headers=h).json()["cancelled"] is True
    thread.join(SLOW / 2)
    assert not thread.is_alive() and out["resp"].status_code == 409
    history = httpx.get(b + "/api/chat/history/shared", headers=h).json()["messages"]
    assert [m["content"] for m in history if m["role"] == "user"] == ["first"]

    assert httpx.delete(b + "/api/chat/sessions/shared", headers=h).json()["deleted"] is True
    assert httpx.get(a + "/api/chat/sessions", headers=h).json()["total"] == 0


def test_admin_model_change_and_key_revocation_apply_on_the_other_replica_at_once(cluster: Cluster) -> None:
    a, b = cluster.main
    admin = cluster.login(a, "admin", "administrator")
    assert httpx.post(a + "/api/admin/model", headers=admin, json={"model": "other-model"}).status_code == 200
    assert httpx.get(b + "/api/admin/model", headers=admin).json()["model"] == "other-model"
    assert _chat(b, admin, "model-check", "which model?").status_code == 200
    assert cluster.llm.requests[-1]["model"] == "other-model"
    httpx.post(a + "/api/admin/model", headers=admin, json={"model": ""}).raise_for_status()

    h = cluster.signup(a, "keyholder")
    made = httpx.post(a + "/api/keys", headers=h, json={"name": "ci"}).json()
    key = {"Authorization": f"Bearer {made['key']}"}
    assert httpx.get(b + "/v1/models", headers=key).status_code == 200
    assert httpx.get(cluster.tools[1] + "/api/tools/list", headers=key).status_code == 200
    assert httpx.delete(a + f"/api/keys/{made['id']}", headers=h).status_code == 200
    assert httpx.get(b + "/v1/models", headers=key).status_code == 401
    # The tools app caches account rows for IDENTITY_CACHE_SECONDS (at most 2 s, core/identity.py):
    # there the revocation lands once that entry expires, on every tools replica.
    for tools in cluster.tools:
        while httpx.get(tools + "/api/tools/list", headers=key).status_code != 401:
            pass


def test_concurrent_uploads_to_one_collection_through_both_tools_replicas_lose_nothing(cluster: Cluster) -> None:
    h = cluster.signup(cluster.url, "uploader")
    rag = [t + "/api/tools/rag" for t in cluster.tools]
    assert httpx.post(rag[0] + "/collections", headers=h, json={"name": "shared"}).status_code == 201

    def upload(i: int) -> int:
        files = [("files", (f"doc{i}.txt", f"Document number {i} talks about topic{i}.".encode()))]
        resp = httpx.post(rag[i % 2] + "/upload", headers=h, data={"collection": "shared"}, files=files, timeout=120)
        return resp.status_code

    with ThreadPoolExecutor(8) as pool:
        assert list(pool.map(upload, range(8))) == [200] * 8
    for base in rag:  # each replica sees every document, whichever replica stored it
        docs = httpx.get(base + "/collections/shared/documents", headers=h).json()["data"]["documents"]
        assert sorted(d["filename"] for d in docs) == sorted(f"doc{i}.txt" for i in range(8))
        hit = httpx.post(base + "/query", headers=h, json={"collection": "shared", "query": "topic5"}, timeout=60)
        assert "doc5.txt" in [r["filename"] for r in hit.json()["data"]["results"]]


def test_32_sessions_at_once_through_the_balancer_lose_nothing(cluster: Cluster) -> None:
    h = cluster.signup(cluster.url, "crowd")
    cluster.llm.hold_until(32)  # answered only once all 32 reached the model together
    try:
        with ThreadPoolExecutor(32) as pool:
            results = list(pool.map(lambda i: _chat(cluster.url, h, f"s{i}", f"hello {i}"), range(32)))
    finally:
        cluster.llm.hold_until(0)
    assert [r.status_code for r in results] == [200] * 32
    assert sorted(r.json()["choices"][0]["message"]["content"] for r in results) == sorted(
        f"echo: hello {i}" for i in range(32)
    )
    listed = httpx.get(cluster.main[1] + "/api/chat/sessions?limit=100", headers=h).json()
    assert listed["total"] == 32
