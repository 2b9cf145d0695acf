"""Every shell and Python example in README.md and docs/*.md runs as printed.

The examples run against a live platform: the main app and the tools app over real HTTP, with
the scripted OpenAI-compatible backend (`tests/scripted_llm.py`) as the LLM, the default admin
password, and secrets generated into `DATA_DIR` as on a fresh clone. Only the host:port of the
documented defaults (main app 10007, tools app 10006, Ollama 11434) is rewritten to the test
servers'. Shell blocks of one page run in order in one `bash -euo pipefail` (the pages say
"in one shell"); each Python block runs on its own with the project's interpreter as the docs
name it, `.venv/bin/python`, with the apps' `DATA_DIR` and `TOOLS_URL` in its environment (a
user runs it from the clone, next to `./data`).

A block that cannot run in a test (it starts a server, runs the whole suite, is a module to
create) says so in the markdown, on the line before it:
`<!-- docs-test: skip (why) -->`. Every other block runs, and must have an entry in `EXPECT`
saying what its output shows, so a new example is either checked or explicitly skipped.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import ScriptedLLM, scripted_llm

ROOT = Path(__file__).resolve().parents[2]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]

FENCE = re.compile(r"^(?P<indent>[ \t]*)```(?P<lang>[^\n`]*)\n(?P<body>.*?)^(?P=indent)```[ \t]*$", re.M | re.S)
RUNNABLE = {"bash": "shell", "sh": "shell", "python": "python"}
# Tags that would hide a runnable example from this test: use bash/sh/python, or a bare fence
# for a synopsis that is not meant to be typed as is.
EVASIVE = {"shell", "console", "zsh", "py", "python3", "pycon", "ipython"}
SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip\s*\((?P<reason>.*\S.*)\)\s*-->\s*$")
MARKER = "@@docs-test block {}@@"


@dataclass
class Block:
    page: str
    line: int
    kind: str  # "shell" or "python"
    code: str
    skip: str | None


@dataclass
class Expect:
    """What a block's output must show. `errors`: how many OpenAI error envelopes it prints on
    purpose (any other is a failure)."""

    shows: list[str] = field(default_factory=list)
    errors: int = 0


# (page, a text that identifies the block) -> what its output shows.
EXPECT: dict[tuple[str, str], Expect] = {
    ("README.md", "curl -s http://127.0.0.1:10007/v1/chat/completions"): Expect(['"content":"echo: Hello!"']),
    ("README.md", 'extra_body={"session_id": "readme"}'): Expect(["echo: Hello!"]),
    ("README.md", 'build_graph("chat", llm=llm)'): Expect(["echo: Hello!"]),
    ("docs/agents.md", 'build_graph("react"'): Expect(["echo: What is 12.5 times 8?"]),
    ("docs/tools.md", "ToolsClient(settings.tools_url"): Expect(
        ["['python_coder', 'websearch', 'rag_query', 'rag_list_collections']", "True 42", "plot.png: 404"]
    ),
    ("docs/api.md", "# Sign up"): Expect(['"username":"alice","role":"user"']),
    ("docs/api.md", '-d \'{"model": "chat", "session_id": "demo"'): Expect(['"content":"echo: Say hello"']),
    ("docs/api.md", "-F files=@cities.csv"): Expect(['"x_session_id":"demo"']),
    ("docs/api.md", "Idempotency-Key: 3f1c2a"): Expect(['"x_session_id":"retry-demo"']),
    ("docs/api.md", "$BASE/v1/responses"): Expect(['"object":"response"', "echo: Name a prime number"]),
    ("docs/api.md", "$BASE/v1/embeddings"): Expect(['"model":"all-MiniLM-L6-v2"', '"object":"embedding"']),
    ("docs/api.md", "# The caller's sessions"): Expect(
        ['"title":"Cities"', '"cancelled":false', '"deleted":true', '"code":"session_not_found"'], errors=1
    ),
    ("docs/api.md", "# List: "): Expect(['"username":"ops","role":"admin"', '"disabled":true', '"sessions_deleted"']),
    ("docs/rag.md", "$BASE/api/tools/rag/collections"): Expect(
        [
            "created collection walkthrough",
            "indexed 1 document(s) into walkthrough",
            "Zebras are striped animals",
            '"filename":"zebras.txt"',
            "deleted collection walkthrough",
        ]
    ),
}


def collect(page: Path) -> list[Block]:
    text = page.read_text()
    lines = text.splitlines()
    blocks: list[Block] = []
    name = page.relative_to(ROOT).as_posix()
    for fence in FENCE.finditer(text):
        lang = fence["lang"].strip().lower()
        line = text.count("\n", 0, fence.start())  # 0-based line of the opening fence
        assert lang not in EVASIVE, f"{name}:{line + 1}: tag the block bash, sh or python (or leave it bare)"
        if lang not in RUNNABLE:
            continue
        before = next((lines[i] for i in range(line - 1, -1, -1) if lines[i].strip()), "")
        skip = SKIP.match(before)
        indent = len(fence["indent"])
        code = "\n".join(x[indent:] for x in fence["body"].splitlines())
        blocks.append(Block(name, line + 1, RUNNABLE[lang], code, skip["reason"].strip() if skip else None))
    return blocks


def expectation(block: Block) -> Expect:
    found = [e for (page, key), e in EXPECT.items() if page == block.page and key in block.code]
    assert len(found) == 1, (
        f"{block.page}:{block.line}: {len(found)} EXPECT entries match this block; give it one saying what "
        "its output shows, or mark it `<!-- docs-test: skip (why) -->` in the markdown"
    )
    return found[0]


ALL = [b for page in PAGES for b in collect(page)]


def test_every_block_runs_or_says_why_not() -> None:
    """The inventory: a block is run (and checked) or skipped with a reason; skipped blocks that
    name the test covering them name one that exists."""
    assert {b.page for b in ALL} >= {"README.md", "docs/api.md", "docs/rag.md", "docs/tools.md", "docs/agents.md"}
    run = [b for b in ALL if b.skip is None]
    for block in run:
        expectation(block)
    for (page, key), _ in EXPECT.items():
        assert any(b.page == page and key in b.code for b in run), f"EXPECT entry {page}: {key!r} matches no block"
    for block in ALL:
        if block.skip:
            for path in re.findall(r"tests/[\w/.]+\.py|tests/[\w/]+", block.skip):
                assert (ROOT / path).exists(), f"{block.page}:{block.line}: the skip reason names {path}, missing"
    assert len(run) >= 14 and len(ALL) - len(run) <= 10


@dataclass
class Servers:
    platform: Platform
    tools_url: str
    workdir: Path


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    root = tmp_path_factory.mktemp("docs")
    (root / "data").mkdir()
    workdir = root / "clone"  # where the examples run: `.venv/bin/...` as in a set-up clone
    workdir.mkdir()
    (workdir / ".venv").symlink_to(Path(sys.prefix))
    with (
        scripted_llm() as llm,
        serve_platform(root / "data", llm, with_tools=True, jwt_secret_key=None, tools_api_key=None) as platform,
    ):
        yield Servers(platform, platform.settings.tools_url, workdir)


def _rewrite(code: str, servers: Servers) -> str:
    llm_base = servers.platform.llm.url.removesuffix("/v1")
    for host in ("http://localhost", "http://127.0.0.1"):
        code = code.replace(f"{host}:10007", servers.platform.url)
        code = code.replace(f"{host}:10006", servers.tools_url)
        code = code.replace(f"{host}:11434", llm_base)
    return code


@dataclass
class Outcome:
    block: Block
    rc: int
    out: str
    err: str


@pytest.fixture(scope="module")
def outcomes(servers: Servers) -> list[Outcome]:
    """Run every block at once: one shell per page, one interpreter per Python block."""
    env = {
        **os.environ,
        "DATA_DIR": str(servers.platform.settings.data_dir),
        "TOOLS_URL": servers.tools_url,
        "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
    }
    python = str(servers.workdir / ".venv" / "bin" / "python")
    jobs: list[tuple[list[Block], subprocess.Popen[str]]] = []
    run = [b for b in ALL if b.skip is None]
    for page in dict.fromkeys(b.page for b in run):
        shell = [b for b in run if b.page == page and b.kind == "shell"]
        if shell:
            script = "\n".join(
                f"printf '\\n{MARKER.format(i)}\\n'\n{_rewrite(b.code, servers)}" for i, b in enumerate(shell)
            )
            proc = subprocess.Popen(
                ["bash", "-euo", "pipefail", "-c", script],
                cwd=servers.workdir,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            jobs.append((shell, proc))
    for block in (b for b in run if b.kind == "python"):
        proc = subprocess.Popen(
            [python, "-c", _rewrite(block.code, servers)],
            cwd=servers.workdir,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        jobs.append(([block], proc))
    results: list[Outcome] = []
    for blocks, proc in jobs:
        out, err = proc.communicate(timeout=300)
        if len(blocks) == 1 and blocks[0].kind == "python":
            results.append(Outcome(blocks[0], proc.returncode, out, err))
            continue
        parts = re.split(r"\n@@docs-test block (\d+)@@\n", out)
        outputs = dict(zip((int(i) for i in parts[1::2]), parts[2::2], strict=True))
        for i, block in enumerate(blocks):
            # A page's shell stops at its first failing command: that block fails, the rest never ran.
            last = max(outputs) if outputs else -1
            rc = 0 if i < last or (i == last and proc.returncode == 0) else (proc.returncode or 1)
            results.append(Outcome(block, rc, outputs.get(i, ""), err if i == last else ""))
    return results


def _error_envelopes(text: str) -> int:
    return len(re.findall(r'"error"\s*:\s*\{', text))


@pytest.mark.parametrize("page", sorted({b.page for b in ALL if b.skip is None}))
def test_page_examples_work_as_printed(page: str, outcomes: list[Outcome]) -> None:
    mine = [o for o in outcomes if o.block.page == page]
    assert mine and len(mine) == len([b for b in ALL if b.page == page and b.skip is None])
    for o in mine:
        where = f"{o.block.page}:{o.block.line}"
        assert o.rc == 0, f"{where} failed (exit {o.rc}):\n{o.err[-3000:]}\n{o.out[-3000:]}"
        expect = expectation(o.block)
        for shown in expect.shows:
            assert shown in o.out, f"{where}: {shown!r} not in its output:\n{o.out[-3000:]}"
        assert _error_envelopes(o.out) == expect.errors, f"{where}: unexpected error answer:\n{o.out[-3000:]}"


def test_what_the_examples_did_is_stored(servers: Servers, outcomes: list[Outcome]) -> None:
    """Effects the outputs alone do not prove, read back through the API."""
    assert all(o.rc == 0 for o in outcomes)
    p = servers.platform
    llm: ScriptedLLM = p.llm
    # The upload example: the model was told about the file.
    assert any("cities.csv" in str(r["messages"][0]["content"]) for r in llm.requests)
    # The Idempotency-Key example sends its request twice; one turn is stored.
    alice = p.login("alice", "alice-password-1")
    history = httpx.get(p.url + "/api/chat/history/retry-demo", headers=p.headers(alice)).json()
    assert [m["role"] for m in history["messages"]] == ["user", "assistant"]
    retry = next(o for o in outcomes if "Idempotency-Key: 3f1c2a" in o.block.code)
    assert len(set(re.findall(r'"id":"(chatcmpl-[^"]+)"', retry.out))) == 1
    # The SDK example's extra_body session_id named the session.
    session = httpx.get(p.url + "/api/chat/sessions/readme", headers=p.headers())
    assert session.status_code == 200 and session.json()["message_count"] == 2
    # The RAG walkthrough went through the main app's port and cleaned up after itself.
    listed = httpx.get(p.url + "/api/tools/rag/collections", headers=p.headers()).json()
    assert listed["success"] and listed["data"]["collections"] == []
