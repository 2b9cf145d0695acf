"""Front ends' housekeeping prompts, recognised without running an agent.

Open WebUI sends its chat title, tag and follow-up generation prompts to the same model as
the conversation. The main app (to keep them out of the stored session) and `auto` (to send
them straight to `chat`) both need the check, so it lives here, apart from every agent.
"""

from __future__ import annotations

import re

__all__ = ["is_auxiliary_prompt"]

_AUX_TASK = re.compile(r"^\s*###\s*Task:", re.IGNORECASE)
_AUX_HISTORY = re.compile(r"###\s*Chat History:", re.IGNORECASE)
_AUX_KIND = re.compile(r"\b(title|tags?|follow[- ]?up|search quer(y|ies)|autocomplet\w*)\b", re.IGNORECASE)


def is_auxiliary_prompt(text: str) -> bool:
    """True for a front end's housekeeping prompt (Open WebUI title/tags/follow-up generation),
    which starts with "### Task:", names its job, and quotes the chat under "### Chat History:"."""
    return bool(_AUX_TASK.match(text) and _AUX_HISTORY.search(text) and _AUX_KIND.search(text))
