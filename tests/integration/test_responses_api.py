"""OpenAI's Responses API with the `openai` SDK: agents and backend models as `model`, text
and item input, `instructions`, streaming events, `previous_response_id` and retrieval."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import Reply, scripted_llm

MODEL = "scripted-model"


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    with scripted_llm() as llm:
        with serve_platform(Path(tmp_path_factory.mktemp("responses")), llm) as p:
            yield p


@pytest.fixture
def c(shared: Platform) -> openai.OpenAI:
    shared.llm.script.clear()
    return openai.OpenAI(base_url=shared.v1, api_key=shared.token, max_retries=0)


@pytest.mark.parametrize("model", ["chat", MODEL])
def test_text_input_with_instructions(shared: Platform, c: openai.OpenAI, model: str) -> None:
    shared.llm.push("Bonjour!")
    resp = c.responses.create(model=model, input="Say hello in French", instructions="Answer in French.")
    assert resp.output_text == "Bonjour!"
    assert resp.status == "completed" and resp.object == "response"
    assert resp.usage is not None and resp.usage.total_tokens > 0
    sent = shared.llm.requests[-1]["messages"]
    assert sent[-1] == {"role": "user", "content": "Say hello in French"}
    assert any(m["role"] == "system" and "Answer in French." in m["content"] for m in sent)
    assert c.responses.retrieve(resp.id).output_text == "Bonjour!"


@pytest.mark.parametrize("model", ["chat", MODEL])
def test_previous_response_id_continues(shared: Platform, c: openai.OpenAI, model: str) -> None:
    first = c.responses.create(
        model=model, input=[{"role": "user", "content": [{"type": "input_text", "text": "my name is Ada"}]}]
    )
    assert first.output_text == "echo: my name is Ada"
    second = c.responses.create(model=model, input="what is my name?", previous_response_id=first.id)
    users = [m["content"] for m in shared.llm.requests[-1]["messages"] if m["role"] == "user"]
    assert users == ["my name is Ada", "what is my name?"]
    assert second.previous_response_id == first.id
    if model == "chat":
        assert second.model_extra and first.model_extra
        assert second.model_extra["x_session_id"] == first.model_extra["x_session_id"]


@pytest.mark.parametrize("model", ["chat", MODEL])
def test_streaming_events(shared: Platform, c: openai.OpenAI, model: str) -> None:
    shared.llm.push("one two three")
    events = list(c.responses.create(model=model, input="count", stream=True))
    kinds = [e.type for e in events]
    assert kinds[:4] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.content_part.added",
    ]
    assert kinds[-4:] == [
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.completed",
    ]
    deltas = [e.delta for e in events if e.type == "response.output_text.delta"]  # type: ignore[union-attr]
    assert "".join(deltas) == "one two three" and len(deltas) > 1
    done = events[-1]
    assert done.type == "response.completed" and done.response.output_text == "one two three"
    assert c.responses.retrieve(done.response.id).output_text == "one two three"


def test_errors(shared: Platform, c: openai.OpenAI) -> None:
    with pytest.raises(openai.NotFoundError) as info:
        c.responses.create(model="no-such-model", input="x")
    assert info.value.code == "model_not_found"
    with pytest.raises(openai.NotFoundError):
        c.responses.retrieve("resp_missing")
    other = openai.OpenAI(base_url=shared.v1, api_key=shared.signup("responses-other"), max_retries=0)
    mine = c.responses.create(model="chat", input="private")
    with pytest.raises(openai.NotFoundError):
        other.responses.retrieve(mine.id)
    with pytest.raises(openai.NotFoundError):
        other.responses.create(model="chat", input="x", previous_response_id=mine.id)


def test_backend_failure_while_streaming_is_response_failed(shared: Platform, c: openai.OpenAI) -> None:
    shared.llm.push(Reply(content="a b c d", cut_after=2))
    events = list(c.responses.create(model=MODEL, input="x", stream=True))
    assert [e.type for e in events][-2:] == ["error", "response.failed"]
