"""A real Open WebUI in front of the platform: `make e2e-openwebui` (not in the default CI:
Open WebUI is a 2.9 GB install, into its own venv `.venv-openwebui`).

Open WebUI is configured as a user would (README "Open WebUI"): one OpenAI connection to the
main app's `/v1` with an API key, its defaults otherwise (no chat-id forwarding). Through Open
WebUI's own API, a two-turn chat with the `auto` agent, then the title request Open WebUI makes
for a chat. Checked on the platform: the two turns are ONE server session holding exactly the
four messages, the title prompt created and changed no session, and the agent's progress came
through Open WebUI as `reasoning_content` (what Open WebUI shows as thinking).

    .venv/bin/python -m tests.e2e.openwebui   # after `make e2e-openwebui` has installed it
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from tests.integration.conftest import serve_platform
from tests.scripted_llm import scripted_llm
from tests.servers import free_port

ROOT = Path(__file__).resolve().parents[2]
OPEN_WEBUI = ROOT / ".venv-openwebui" / "bin" / "open-webui"


def _wait(url: str, proc: subprocess.Popen[bytes], seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"Open WebUI exited with {proc.returncode}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(1)
    raise SystemExit(f"Open WebUI did not start within {seconds:.0f} s")


def _stream(client: httpx.Client, token: str, body: dict[str, Any]) -> tuple[str, str]:
    """Open WebUI's /api/chat/completions, streamed: (answer, reasoning) as it relayed them."""
    answer, reasoning = "", ""
    headers = {"Authorization": f"Bearer {token}"}
    with client.stream("POST", "/api/chat/completions", json={**body, "stream": True}, headers=headers) as resp:
        if resp.status_code != 200:
            raise SystemExit(f"Open WebUI answered {resp.status_code}: {resp.read()[:500]!r}")
        for line in resp.iter_lines():
            if not line.startswith("data: {"):
                continue
            for choice in json.loads(line[6:]).get("choices", []):
                delta = choice.get("delta") or {}
                answer += delta.get("content") or ""
                reasoning += delta.get("reasoning_content") or delta.get("reasoning") or ""
    return answer, reasoning


def main() -> int:
    if not OPEN_WEBUI.exists():
        print("Open WebUI is not installed: run `make e2e-openwebui`", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as tmp, scripted_llm() as llm:
        data = Path(tmp)
        with serve_platform(data / "platform", llm) as p:
            key = httpx.post(p.url + "/api/keys", json={"name": "open-webui"}, headers=p.headers()).json()["key"]
            port = free_port()
            env = {
                **os.environ,
                "DATA_DIR": str(data / "open-webui"),
                "OPENAI_API_BASE_URL": p.v1,
                "OPENAI_API_KEY": key,
                "ENABLE_OLLAMA_API": "false",
                "WEBUI_SECRET_KEY": "e2e-" + os.urandom(8).hex(),
                "OFFLINE_MODE": "true",
                "HF_HUB_OFFLINE": "1",
                "BYPASS_EMBEDDING_AND_RETRIEVAL": "true",
                "RAG_EMBEDDING_MODEL_AUTO_UPDATE": "false",
                "ENABLE_PERSISTENT_CONFIG": "false",
            }
            log = (data / "open-webui.log").open("wb")
            proc = subprocess.Popen([str(OPEN_WEBUI), "serve", "--port", str(port)], env=env, stdout=log, stderr=log)
            try:
                base = f"http://127.0.0.1:{port}"
                _wait(base + "/health", proc)
                with httpx.Client(base_url=base, timeout=300) as ow:
                    signup = ow.post(
                        "/api/v1/auths/signup",
                        json={"name": "e2e", "email": "e2e@example.com", "password": "e2e-pass-1"},
                    )
                    signup.raise_for_status()
                    token = signup.json()["token"]
                    models = ow.get("/api/models", headers={"Authorization": f"Bearer {token}"}).json()
                    ids = {m["id"] for m in models.get("data", [])}
                    assert {"auto", "chat", "react"} <= ids, f"Open WebUI lists {sorted(ids)}"

                    first = [{"role": "user", "content": "Hello from Open WebUI"}]
                    a1, thinking = _stream(ow, token, {"model": "auto", "messages": first})
                    second = [*first, {"role": "assistant", "content": a1}, {"role": "user", "content": "And again"}]
                    a2, _ = _stream(ow, token, {"model": "auto", "messages": second})
                    title = ow.post(
                        "/api/v1/tasks/title/completions",
                        json={"model": "auto", "messages": [*second, {"role": "assistant", "content": a2}]},
                        headers={"Authorization": f"Bearer {token}"},
                    )
                sessions = httpx.get(p.url + "/api/chat/sessions", headers=p.headers()).json()["data"]
                assert len(sessions) == 1, f"expected one server session, got {len(sessions)}: {sessions}"
                history = httpx.get(f"{p.url}/api/chat/history/{sessions[0]['id']}", headers=p.headers()).json()
                stored = [(m["role"], m["content"]) for m in history["messages"] if not m.get("tool_calls")]
                expected = [
                    ("user", "Hello from Open WebUI"),
                    ("assistant", a1),
                    ("user", "And again"),
                    ("assistant", a2),
                ]
                assert stored == expected, f"stored history {stored}"
                assert "echo: And again" in a2, a2
                assert thinking.strip(), "no agent progress (reasoning_content) came through Open WebUI"
                assert title.status_code == 200, f"title request: {title.status_code} {title.text[:300]}"
                titled = [r for r in llm.requests if "title" in json.dumps(r.get("messages", [])).lower()]
                print(
                    "Open WebUI e2e passed: 1 server session with 4 messages; "
                    f"thinking relayed ({len(thinking)} chars); title request kept out "
                    f"({len(titled)} title prompt(s) reached the model, no session made); "
                    f"answers {a1!r} / {a2!r}"
                )
                return 0
            finally:
                proc.terminate()
                try:
                    proc.wait(30)
                except subprocess.TimeoutExpired:
                    proc.kill()


if __name__ == "__main__":
    sys.exit(main())
