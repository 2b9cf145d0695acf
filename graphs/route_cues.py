"""Routing cues for small models: the request's own words name the agent it needs.

A 135M model asked to pick an agent under a JSON schema picked `chat` for nearly everything
(`bench/agent_tasks.py`, routing 1/4 right), so "use Python to compute 17*23" got an answer
computed by nobody. When tool calling is `structured` (the small-model mode, see
`graphs.decisions`), `auto` first looks for an explicit cue in the latest message; the model
decides only when there is none. A capable model (native tool calling) always decides itself.
"""

from __future__ import annotations

import re

__all__ = ["cue_route"]

# Checked in order, the first match wins (small talk last: a task cue beats a greeting).
# Each names what the user asked for, not a topic.
_CUES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "ultrawork",
        re.compile(
            r"\b(write|create|build|implement|make)\b.{0,40}\b(script|program|function|class|module|code)\b"
            r"|\b(plot|chart|graph)\b.{0,40}\b(data|csv|file|values?)\b"
            r"|\b(save|write|export)s?\b.{0,60}\.(csv|json|txt|png|xlsx)\b",
            re.I | re.S,
        ),
    ),
    (
        "react",
        re.compile(
            r"\b(python|run (the |this |some )?code|execute|compute|calculate|evaluate)\b"
            r"|\b(uploaded|my (document|file|handbook|notes|pdf)s?|the (document|collection|knowledge base))\b"
            r"|\b(search the web|look (it )?up online|latest news|current (price|weather))\b",
            re.I,
        ),
    ),
    # A greeting or thanks, and nothing else: no agent with tools for small talk.
    (
        "chat",
        re.compile(
            r"^\W*(hi|hello|hey|thanks|thank you|good (morning|afternoon|evening))\b[^.?!]{0,30}[.?!]*\W*$"
            r"|^\W*(hi|hello|hey)\W+how are you( today| doing)?\W*$",
            re.I,
        ),
    ),
)


def cue_route(text: str, allowed: list[str]) -> tuple[str, str] | None:
    """(agent, reason) when the message names what it needs and that agent is allowed."""
    for agent, pattern in _CUES:
        found = pattern.search(text)
        if found and agent in allowed:
            return agent, f"the request asks for it ({found.group(0).strip()[:40]!r})"
    return None
