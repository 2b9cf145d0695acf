"""Prompt templates from `prompts/<graph>/<role>.md`, loaded once and filled strictly."""

from __future__ import annotations

import string
from functools import cache
from pathlib import Path

__all__ = ["PROMPTS_DIR", "load_prompt", "render_prompt", "placeholders"]

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
