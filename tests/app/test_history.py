"""History reconciliation: the client's resent history against the stored checkpoint."""

from __future__ import annotations

from langchain_core.messages import AIMessage, AnyMessage, HumanMessage, SystemMessage, ToolMessage

from app.schemas.openai import ChatMessageIn
from app.services.history import reconcile


def msgs(*pairs: tuple[str, str]) -> list[ChatMessageIn]:
    return [ChatMessageIn(role=r, content=c) for r, c in pairs]  # type: ignore[arg-type]


STORED: list[AnyMessage] = [
    SystemMessage("sys", id="s"),
    HumanMessage("q1", id="h1"),
    AIMessage("", tool_calls=[{"name": "t", "args": {}, "id": "c1"}], id="a0"),
    ToolMessage("42", tool_call_id="c1", id="t1"),
    AIMessage("a1", id="a1"),
]


def test_resent_history_only_tail_is_new() -> None:
    r = reconcile(STORED, msgs(("system", "sys"), ("user", "q1"), ("assistant", "a1"), ("user", "q2")))
    assert [m.content for m in r.new] == ["q2"] and r.removed == []


def test_whitespace_differences_do_not_count_as_edits() -> None:
    r = reconcile(STORED, msgs(("system", "sys"), ("user", "q1 "), ("assistant", "a1\n"), ("user", "q2")))
    assert [m.content for m in r.new] == ["q2"] and r.removed == []


def test_seed_style_only_new_message() -> None:
    r = reconcile(STORED, msgs(("user", "q2")))
    assert [m.content for m in r.new] == ["q2"] and r.removed == []


def test_seed_style_repeated_system_prompt_not_duplicated() -> None:
    r = reconcile(STORED, msgs(("system", "sys"), ("user", "q2")))
    assert [m.content for m in r.new] == ["q2"]


def test_edited_earlier_turn_replaces_the_rest() -> None:
    stored = [*STORED, HumanMessage("q2", id="h2"), AIMessage("a2", id="a2")]
    r = reconcile(stored, msgs(("system", "sys"), ("user", "q1"), ("assistant", "a1"), ("user", "q2 edited")))
    assert [m.content for m in r.new] == ["q2 edited"]
    assert [m.id for m in r.removed] == ["h2", "a2"]


def test_regenerate_removes_last_answer_only() -> None:
    stored = [*STORED, HumanMessage("q2", id="h2"), AIMessage("a2", id="a2")]
    r = reconcile(stored, msgs(("system", "sys"), ("user", "q1"), ("assistant", "a1"), ("user", "q2")))
    assert r.new == []
    assert [m.id for m in r.removed] == ["a2"]


def test_new_messages_get_fresh_ids() -> None:
    r = reconcile([], msgs(("user", "a"), ("user", "b")))
    ids = [m.id for m in r.new]
    assert all(ids) and len(set(ids)) == 2
