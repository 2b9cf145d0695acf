"""A scripted OpenAI-compatible HTTP server: the LLM that black-box tests talk to.

It speaks the real wire format (JSON and SSE streaming, native tool calls, usage), so the
app's real provider path (`LLM_BACKEND=openai`) is exercised. Each request takes the next
scripted reply; with the script empty it echoes the last user message, which lets a test
check exactly what the model saw. Every request body is recorded in `requests`.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from collections import deque
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.servers import serve_app

__all__ = ["Reply", "ScriptedLLM", "scripted_llm", "tool_call", "WEATHER"]

MODEL = "scripted-model"


# A client-side function tool, as the OpenAI SDK sends it (client-tools and pass-through tests).
WEATHER = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather in a city",
        "parameters": {"type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]},
    },
}


def tool_call(name: str, args: dict[str, Any], call_id: str | None = None) -> dict[str, Any]:
    return {"id": call_id or f"call_{uuid.uuid4().hex[:8]}", "name": name, "arguments": json.dumps(args)}


def instance(schema: dict[str, Any], root: dict[str, Any], name: str = "") -> Any:
    """A small valid instance of a JSON schema (first enum value, `print('ok')` for a
    field named `code`): what a well-behaved model returns for structured output."""
    if "$ref" in schema:
        ref = schema["$ref"].split("/")[-1]
        return instance(root.get("$defs", root.get("definitions", {}))[ref], root, name)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            options = [o for o in schema[key] if o.get("type") != "null"] or schema[key]
            return instance(options[0], root, name)
    if "enum" in schema:
        return schema["enum"][0]
    if "const" in schema:
        return schema["const"]
    kind = schema.get("type", "object")
    if kind == "object":
        props = schema.get("properties", {})
        return {k: instance(v, root, k) for k, v in props.items()}
    if kind == "array":
        n = int(schema.get("minItems", 0) or 0)
        return [instance(schema.get("items", {}), root, name) for _ in range(max(n, 1 if name == "steps" else 0))]
    if kind == "string":
        return "print('ok')" if name == "code" else "ok"
    if kind in ("integer", "number"):
        return schema.get("minimum", 1)
    if kind == "boolean":
        return True
    return None


def _text(content: Any) -> str:
    """A message's text (content parts joined)."""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content or "")


@dataclass
class Reply:
    content: str = ""
    tool_calls: list[dict[str, Any]] = field(default_factory=list)
    status: int = 200  # an HTTP error status makes the backend fail
    delay: float = 0.0
    cut_after: int | None = None  # stream this many content chunks, then hang up (no finish, no [DONE])
    finish_reason: str | None = None  # overrides the derived one ("stop", "tool_calls", "length")


class ScriptedLLM:
    def __init__(self) -> None:
        self.script: deque[Reply] = deque()
        self.requests: list[dict[str, Any]] = []
        self.url = ""
        # With the script empty and `tools` offered, call one (the `tool_choice` one, else the
        # first) with arguments filled from the last user message, as a well-behaved model does.
        self.auto_tools = False
        # Tools `auto_tools` never picks by itself (an agent's own tools, offered beside the
        # caller's): it calls one of those only when `tool_choice` names it.
        self.auto_tools_skip: set[str] = set()
        self.model_listings = 0  # GET /v1/models calls
        self._hold = 0
        self._waiting = 0
        self._cond: asyncio.Condition | None = None

    def hold_until(self, n: int) -> None:
        """Make requests wait until `n` of them are in flight at once, then answer them all:
        proof that `n` turns reached the model concurrently. A request that waits 60 s in vain
        gets a 500, so a test whose turns cannot all get here fails rather than hangs."""
        self._hold = n

    async def _gate(self) -> bool:
        if self._hold <= 0:
            return True
        if self._cond is None:
            self._cond = asyncio.Condition()
        async with self._cond:
            self._waiting += 1
            self._cond.notify_all()
            try:
                await asyncio.wait_for(self._cond.wait_for(lambda: self._waiting >= self._hold), 60)
                return True
            except TimeoutError:
                return False

    def push(self, *replies: Reply | str) -> None:
        for r in replies:
            self.script.append(Reply(content=r) if isinstance(r, str) else r)

    def user_messages(self, index: int = -1) -> list[str]:
        """The user messages the model saw in request `index`."""
        return [str(m.get("content")) for m in self.requests[index]["messages"] if m.get("role") == "user"]

    def _next(self, body: dict[str, Any]) -> Reply:
        if self.script:
            return self.script.popleft()
        if self.auto_tools and (call := self._auto_tool_call(body, self.auto_tools_skip)) is not None:
            return Reply(tool_calls=[call])
        fmt = body.get("response_format") or {}
        if fmt.get("type") == "json_schema":  # structured output: the smallest valid instance
            schema = fmt["json_schema"]["schema"]
            return Reply(content=json.dumps(instance(schema, schema)))
        users = [m for m in body.get("messages", []) if m.get("role") == "user"]
        last = _text(users[-1].get("content")) if users else ""
        if fmt.get("type") == "json_object":  # JSON mode: the keys the prompt asks for, else an echo
            # (the latest user message that names keys: a follow-up such as "now as JSON" keeps them)
            asked = [re.findall(r"'(\w+)'", _text(m.get("content"))) for m in reversed(users)]
            keys = next((k for k in asked if k), [])
            return Reply(content=json.dumps({k: "ok" for k in keys} if keys else {"echo": last}))
        return Reply(content=f"echo: {last}")

    @staticmethod
    def _auto_tool_call(body: dict[str, Any], skip: Collection[str] = ()) -> dict[str, Any] | None:
        tools = [t["function"] for t in body.get("tools") or [] if t.get("type") == "function"]
        choice = body.get("tool_choice", "auto")
        messages = body.get("messages") or []
        if isinstance(choice, dict):
            tools = [t for t in tools if t["name"] == choice.get("function", {}).get("name")] or tools
        else:
            tools = [t for t in tools if t["name"] not in skip]
        if not tools or choice == "none" or (messages and messages[-1].get("role") == "tool"):
            return None
        fn = tools[0]
        users = [m for m in messages if m.get("role") == "user"]
        text = users[-1].get("content") if users else ""
        text = text if isinstance(text, str) else " ".join(p.get("text", "") for p in text if isinstance(p, dict))
        numbers = [int(n) for n in re.findall(r"-?\d+", text)]
        schema = fn.get("parameters") or {"type": "object", "properties": {}}
        args = instance(schema, schema)
        words = re.findall(r"[^\x00-\x7f]+", text)  # names in other scripts, carried verbatim
        for key, prop in (schema.get("properties") or {}).items():
            if prop.get("type") == "integer" and numbers:
                args[key] = numbers.pop(0)
            elif prop.get("type") == "string" and words:
                args[key] = words.pop(0)
        return tool_call(fn["name"], args)

    @staticmethod
    def _limit(body: dict[str, Any], reply: Reply) -> Reply:
        """Honour `max_tokens`/`max_completion_tokens` (one word = one token here) and `stop`
        as a real backend does: the answer is cut, and a cut by the limit says `length`."""
        content, finish = reply.content, reply.finish_reason
        stops = body.get("stop") or []
        for stop in [stops] if isinstance(stops, str) else stops:
            if stop and stop in content:
                content, finish = content[: content.index(stop)], finish or "stop"
        cap = body.get("max_completion_tokens") or body.get("max_tokens")
        if cap and len(content.split(" ")) > int(cap):
            content, finish = " ".join(content.split(" ")[: int(cap)]), "length"
        return Reply(content, reply.tool_calls, reply.status, reply.delay, reply.cut_after, finish)

    async def completions(self, request: Request) -> Response:
        body = await request.json()
        self.requests.append(body)
        reply = self._limit(body, self._next(body))
        if not await self._gate():
            return JSONResponse({"error": {"message": "hold_until: not enough concurrent requests"}}, status_code=500)
        if reply.delay:
            await asyncio.sleep(reply.delay)
        if reply.status != 200:
            return JSONResponse(
                {"error": {"message": "scripted failure", "type": "server_error"}}, status_code=reply.status
            )
        usage = {
            "prompt_tokens": 11,
            "completion_tokens": max(1, len(reply.content.split())),
            "total_tokens": 11 + max(1, len(reply.content.split())),
        }
        cid = f"chatcmpl-{uuid.uuid4().hex[:12]}"
        calls = [
            {"id": c["id"], "type": "function", "function": {"name": c["name"], "arguments": c["arguments"]}}
            for c in reply.tool_calls
        ]
        finish = reply.finish_reason or ("tool_calls" if calls else "stop")
        if not body.get("stream"):
            message: dict[str, Any] = {"role": "assistant", "content": reply.content or None}
            if calls:
                message["tool_calls"] = calls
            choices = [
                {"index": i, "message": message, "finish_reason": finish} for i in range(int(body.get("n") or 1))
            ]
            return JSONResponse(
                {
                    "id": cid,
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": body.get("model") or MODEL,
                    "choices": choices,
                    "usage": usage,
                }
            )
        include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
        return StreamingResponse(
            self._sse(cid, reply, calls, finish, usage, include_usage), media_type="text/event-stream"
        )

    @staticmethod
    def _sse(
        cid: str, reply: Reply, calls: list[dict[str, Any]], finish: str, usage: dict[str, int], include_usage: bool
    ) -> Iterator[str]:
        def frame(**fields: Any) -> str:
            envelope = {"id": cid, "object": "chat.completion.chunk", "created": int(time.time()), "model": MODEL}
            return "data: " + json.dumps({**envelope, **fields}) + "\n\n"

        def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> str:
            return frame(choices=[{"index": 0, "delta": delta, "finish_reason": finish_reason}])

        yield chunk({"role": "assistant", "content": ""})
        words = reply.content.split(" ") if reply.content else []
        for i, word in enumerate(words):
            if reply.cut_after is not None and i >= reply.cut_after:
                return  # the connection ends here: no finish_reason, no [DONE]
            yield chunk({"content": word if i == 0 else " " + word})
        for i, call in enumerate(calls):
            yield chunk(
                {
                    "tool_calls": [
                        {
                            "index": i,
                            "id": call["id"],
                            "type": "function",
                            "function": {"name": call["function"]["name"], "arguments": ""},
                        }
                    ]
                }
            )
            yield chunk({"tool_calls": [{"index": i, "function": {"arguments": call["function"]["arguments"]}}]})
        yield chunk({}, finish)
        if include_usage:
            yield frame(choices=[], usage=usage)
        yield "data: [DONE]\n\n"

    async def models(self, request: Request) -> Response:
        self.model_listings += 1
        return JSONResponse({"object": "list", "data": [{"id": MODEL, "object": "model", "owned_by": "test"}]})

    def app(self) -> Starlette:
        return Starlette(
            routes=[
                Route("/v1/chat/completions", self.completions, methods=["POST"]),
                Route("/v1/models", self.models, methods=["GET"]),
            ]
        )


@contextmanager
def scripted_llm() -> Iterator[ScriptedLLM]:
    llm = ScriptedLLM()
    with serve_app(llm.app()) as url:
        llm.url = url + "/v1"
        yield llm


def main() -> None:
    """`python -m tests.scripted_llm --port N`: the echoing scripted server as its own process
    (benchmarks use it so the client, the platform and the backend don't share one GIL)."""
    import argparse

    import uvicorn

    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    uvicorn.run(ScriptedLLM().app(), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
