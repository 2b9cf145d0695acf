"""Open WebUI's task prompts are recognised by their structure, reworded or not; real user
messages that merely look a little like them are not.

The prompts below follow the structure of Open WebUI's default templates (`### Task:`,
`### Guidelines:`, `### Output:`, `<chat_history>`, the emoji and MoA shapes) in our own
words: matching must not depend on the exact wording."""

from __future__ import annotations

import pytest

from graphs.housekeeping import auxiliary_kind, is_auxiliary_prompt

HISTORY = "### Chat History:\n<chat_history>\nUSER: what is 2+2?\nASSISTANT: 4\n</chat_history>"


def task(what: str, output: str, history: str = HISTORY) -> str:
    return f"### Task:\n{what}\n### Guidelines:\n- Be accurate.\n- JSON only.\n### Output:\n{output}\n{history}"


PROMPTS = {
    "title": task("Produce a short title for this conversation.", '{ "title": "..." }'),
    "tags": task("Produce 1-3 broad tags and a few subtopic tags for the chat.", '{ "tags": ["a"] }'),
    "follow_ups": task("Suggest 3-5 follow-up questions the user may ask next.", '{ "follow_ups": ["?"] }'),
    "queries": task("Decide whether search queries are needed; propose 1-3.", '{ "queries": [] }'),
    "image_prompt": task("Write a detailed prompt for an image generation task.", '{ "prompt": "..." }'),
    "autocomplete": (
        "### Task:\nYou complete text. Continue the text in <text> according to <type>.\n\n"
        '### **Instructions**:\n1. Continue naturally.\n\n### **Output Rules**:\n- JSON: { "text": "" }\n\n'
        "---\n### Context:\n<chat_history>\nUSER: hi\n</chat_history>\n<type>General</type>\n"
        "<text>The sun was</text>\n#### Output:\n"
    ),
    "emoji": "Pick one emoji that shows how the speaker probably looks while saying this.\n\nMessage: ```I won!```",
    "moa": (
        'Several models answered the latest user query: "why is the sky blue?"\n\nSynthesize them into one '
        "careful, accurate reply.\n\nResponses from models: A: Rayleigh scattering. B: reflection of the sea."
    ),
}


@pytest.mark.parametrize("kind", sorted(PROMPTS))
def test_every_task_prompt_is_recognised(kind: str) -> None:
    assert auxiliary_kind(PROMPTS[kind]) == kind


def test_history_block_alone_with_task_header_suffices() -> None:
    assert is_auxiliary_prompt("### Task:\nName this chat in three words.\n" + HISTORY)


def test_guidelines_and_output_without_history_suffice() -> None:
    assert auxiliary_kind("### Task: give a title\n### Guidelines:\n- short\n### Output:\nJSON") == "title"


@pytest.mark.parametrize(
    "text",
    [
        "### Task: write me a poem about titles",
        "Generate a title for my essay.\n### Chat History: none",
        "What emoji should I use for a birthday?",
        "Please synthesize these notes into a summary.",
        "Message: ```hello``` — what does this mean?",
        "Explain how Open WebUI generates follow-up questions and tags.",
    ],
)
def test_ordinary_messages_are_not_housekeeping(text: str) -> None:
    assert not is_auxiliary_prompt(text)
