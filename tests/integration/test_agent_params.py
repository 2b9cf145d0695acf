"""Agents honour the request: `max_tokens` cuts the answer with `finish_reason: "length"`,
and `stop` ends it before the first stop sequence, streaming or not."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import scripted_llm


@pytest.fixture(scope="module")
def p(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with scripted_llm() as llm:
        with serve_platform(Path(tmp_path_factory.mktemp("agent-params")), llm) as platform:
            yield platform


def answer(p: Platform, stream: bool, **kwargs: Any) -> tuple[str, str | None]:
    c = openai.OpenAI(base_url=p.v1, api_key=p.token, max_retries=0)
    if not stream:
        resp = c.chat.completions.create(model="chat", **kwargs)
        return resp.choices[0].message.content or "", resp.choices[0].finish_reason
    chunks = list(c.chat.completions.create(model="chat", stream=True, **kwargs))
    text = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices and ch.choices[0].finish_reason]
    assert len(finishes) == 1
    return text, finishes[0]


@pytest.mark.parametrize("stream", [False, True])
def test_max_tokens_cut_is_length(p: Platform, stream: bool) -> None:
    p.llm.push("one two three four five six seven")
    got = answer(p, stream, max_tokens=3, messages=[{"role": "user", "content": "count"}])
    assert got == ("one two three", "length")
    sent = p.llm.requests[-1]
    assert sent.get("max_completion_tokens", sent.get("max_tokens")) == 3


@pytest.mark.parametrize("stream", [False, True])
def test_uncut_answer_is_stop(p: Platform, stream: bool) -> None:
    p.llm.push("short answer")
    assert answer(p, stream, max_tokens=30, messages=[{"role": "user", "content": "x"}]) == ("short answer", "stop")


@pytest.mark.parametrize("stream", [False, True])
def test_stop_sequence_ends_the_answer(p: Platform, stream: bool) -> None:
    p.llm.push("alpha beta END gamma delta")
    got = answer(p, stream, stop=["END", "never"], messages=[{"role": "user", "content": "x"}])
    assert got == ("alpha beta ", "stop")
    assert "stop" not in p.llm.requests[-1], "the agent's model calls are not cut"
