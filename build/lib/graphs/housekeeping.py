"""Front ends' housekeeping prompts, recognised without running an agent.

Open WebUI sends its task prompts (chat title, tags, follow-ups, search/retrieval query
generation, image-prompt generation, autocomplete, emoji, mixture-of-agents synthesis) to the
same model as the conversation. The main app (to keep them out of the stored session and away
from tools) and `auto` (to send them straight to `chat`) both need the check, so it lives here,
apart from every agent.

Recognised by structure, not by exact wording, so an admin's reworded template still matches
(the defaults are `DEFAULT_*_PROMPT_TEMPLATE` in Open WebUI's `backend/open_webui/config.py`):
- the task family: starts with `### Task:` and has a chat-history block (`<chat_history>` or
  `### Chat History:`), or the `### Guidelines:`/`### Instructions` plus `### Output` sections
  the templates share;
- emoji: asks for an emoji and quotes the message as ``Message: ```...``` `` at the end;
- mixture of agents: quotes the models' answers under `Responses from models:` to synthesise.
"""

from __future__ import annotations

import re

__all__ = ["is_auxiliary_prompt", "auxiliary_kind"]

_TASK = re.compile(r"^\s*###\s*Task:", re.IGNORECASE)
_HISTORY = re.compile(r"<chat_history>|###\s*Chat History:", re.IGNORECASE)
_GUIDE = re.compile(r"^\s*###\s*\**\s*(Guidelines|Instructions)\b", re.IGNORECASE | re.MULTILINE)
_OUTPUT = re.compile(r"^\s*#{3,4}\s*\**\s*Output\b", re.IGNORECASE | re.MULTILINE)
_EMOJI = re.compile(r"\bemojis?\b.*\n\s*Message:\s*```.*```\s*$", re.IGNORECASE | re.DOTALL)
_MOA = re.compile(r"\bsynthesi[sz]e\b.*\bResponses from models:", re.IGNORECASE | re.DOTALL)

_KINDS = (
    ("autocomplete", re.compile(r"autocomplet|<type>|<text>", re.IGNORECASE)),
    ("title", re.compile(r"\btitle\b", re.IGNORECASE)),
    ("tags", re.compile(r"\btags?\b", re.IGNORECASE)),
    ("follow_ups", re.compile(r"follow[- _]?ups?", re.IGNORECASE)),
    ("queries", re.compile(r"\bquer(y|ies)\b", re.IGNORECASE)),
    ("image_prompt", re.compile(r"\bimage\b", re.IGNORECASE)),
)


def auxiliary_kind(text: str) -> str | None:
    """Which housekeeping task `text` is (`title`, `tags`, `follow_ups`, `queries`,
    `image_prompt`, `autocomplete`, `emoji`, `moa`, or `task` for another of the family),
    or None for a real user message."""
    if _TASK.match(text) and (_HISTORY.search(text) or (_GUIDE.search(text) and _OUTPUT.search(text))):
        task = text.split("###", 3)[1] if text.count("###") >= 2 else text  # the "### Task:" paragraph
        for kind, pattern in _KINDS:
            if pattern.search(task):
                return kind
        return "task"
    if _EMOJI.search(text):
        return "emoji"
    if _MOA.search(text):
        return "moa"
    return None


def is_auxiliary_prompt(text: str) -> bool:
    """True for a front end's housekeeping prompt (see the module docstring)."""
    return auxiliary_kind(text) is not None
