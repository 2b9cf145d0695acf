"""Agents honour the request: `max_tokens` cuts the answer with `finish_reason: "length"`,
and `stop` ends it before the first stop sequence, streaming or not."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
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


SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city", "population"],
    "additionalProperties": False,
}


@pytest.mark.parametrize("stream", [False, True])
def test_response_format_json_schema_shapes_the_answer(p: Platform, stream: bool) -> None:
    p.llm.push("Paris has about 2 million people.", '{"city": "Paris", "population": 2100000}')
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA, "strict": True}}
    text, finish = answer(p, stream, response_format=fmt, messages=[{"role": "user", "content": "Paris?"}])
    assert json.loads(text) == {"city": "Paris", "population": 2100000} and finish == "stop"
    formatting = p.llm.requests[-1]
    assert formatting["response_format"] == fmt
    assert formatting["messages"][-2] == {"role": "assistant", "content": "Paris has about 2 million people."}


def test_answer_not_matching_the_schema_is_502(p: Platform) -> None:
    p.llm.push("Paris.", '{"city": "Paris"}')
    fmt = {"type": "json_schema", "json_schema": {"name": "city", "schema": SCHEMA}}
    resp = httpx.post(
        p.v1 + "/chat/completions",
        headers=p.headers(),
        json={"model": "chat", "response_format": fmt, "messages": [{"role": "user", "content": "Paris?"}]},
    )
    assert resp.status_code == 502 and resp.json()["error"]["code"] == "invalid_structured_output"


def test_json_object_mode_and_bad_schema(p: Platform) -> None:
    p.llm.push("The answer is yes.")  # then the scripted backend's JSON mode answers
    text, _ = answer(
        p, False, response_format={"type": "json_object"}, messages=[{"role": "user", "content": "say 'answer'"}]
    )
    assert isinstance(json.loads(text), dict)
    assert p.llm.requests[-1]["response_format"] == {"type": "json_object"}
    assert p.llm.requests[-1]["messages"][-2]["content"] == "The answer is yes."
    bad = {"type": "json_schema", "json_schema": {"name": "x", "schema": {"type": "nonsense"}}}
    resp = httpx.post(
        p.v1 + "/chat/completions",
        headers=p.headers(),
        json={"model": "chat", "response_format": bad, "messages": [{"role": "user", "content": "x"}]},
    )
    assert resp.status_code == 400 and resp.json()["error"]["param"] == "response_format"
