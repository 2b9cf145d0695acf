"""Prompt templates from `prompts/<graph>/<role>.md`, loaded once and filled strictly, and
the system-prompt helper every agent shares (here, so agents never import each other for it)."""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

from langchain_core.messages import AnyMessage, SystemMessage

from graphs.deps import AgentContext, trim_history

__all__ = ["PROMPTS_DIR", "load_prompt", "render_prompt", "placeholders", "with_system_prompt"]

PROMPTS_DIR = Path(__file__).resolve().parent.parent / "prompts"


@cache
def load_prompt(graph: str, role: str) -> str:
    return (PROMPTS_DIR / graph / f"{role}.md").read_text(encoding="utf-8").strip()


def placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def render_prompt(graph: str, role: str, **values: object) -> str:
    """Fill every `{placeholder}`; a missing or unexpected value is a bug, so it raises."""
    template = load_prompt(graph, role)
    wanted = placeholders(template)
    missing = wanted - values.keys()
    extra = values.keys() - wanted
    if missing or extra:
        raise KeyError(f"prompt {graph}/{role}: missing {sorted(missing)}, unexpected {sorted(extra)}")
    return template.format(**values)


def with_system_prompt(messages: list[AnyMessage], ctx: AgentContext, graph: str = "chat") -> list[AnyMessage]:
    """Trimmed history, led by `graph`'s system prompt unless the client sent its own."""
    trimmed = trim_history(messages, ctx.max_history)
    if any(isinstance(m, SystemMessage) for m in trimmed):
        if ctx.attachments:
            return [SystemMessage(ctx.attachments.strip()), *trimmed]
        return trimmed
    attachments = f"\n\n{ctx.attachments.strip()}" if ctx.attachments else ""
    return [SystemMessage(render_prompt(graph, "system", attachments=attachments)), *trimmed]
