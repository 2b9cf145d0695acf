"""Run a graph for one chat completion: reconcile history, stream, account, undo on failure.

One code path serves streaming and non-streaming requests: the graph runs in its own
task that feeds a queue of events (`content`, `reasoning`, `error`, `done`), so a client
disconnect or a cancel request stops the run, and a failed or cancelled run is rolled
back so the checkpoint never keeps a half-turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import Sequence
from typing import Any

from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, AIMessageChunk, AnyMessage, RemoveMessage
from langchain_core.runnables import RunnableConfig
from langgraph.graph.state import CompiledStateGraph

from app.services import client_tools, tool_results, transcripts
from app.services.archive import TranscriptArchive
from app.services.history import ArchiveEdit, reconcile
from app.services.run_types import RunEvent, RunHandle, RunLifecycle, RunRequest, RunResult, UsageLogger, cancel_once
from core.errors import APIError, storage_error
from core.llm import llm_error_to_api_error
from core.tracing import traced_run

__all__ = ["RunRequest", "RunEvent", "RunResult", "RunHandle", "Runner"]  # the first four: app.services.run_types

log = logging.getLogger(__name__)


async def _messages(graph: CompiledStateGraph[Any, Any, Any, Any], config: RunnableConfig) -> list[AnyMessage]:
    """The session's stored messages (one way to read them: `app.services.transcripts`)."""
    return await transcripts.read_messages(graph, config["configurable"]["thread_id"])


def _text(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(p.get("text", "") if isinstance(p, dict) else str(p) for p in content)
    return ""


async def _none() -> None:
    return None


class Runner:
    def __init__(
        self,
        graphs: dict[str, CompiledStateGraph[Any, Any, Any, Any]],
        backend: str,
        callbacks: Sequence[BaseCallbackHandler] | None = None,
        archive: TranscriptArchive | None = None,
    ) -> None:
        self.archive = archive
        self.graphs = graphs
        self.backend = backend
        self.callbacks = list(callbacks or [])
        self._locks: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self._active: dict[str, asyncio.Task[None]] = {}
        self.lifecycle: RunLifecycle | None = None  # set by the app (app.services.cancellation)

    def _lock(self, key: str) -> asyncio.Lock:
        lock = self._locks.get(key)
        if lock is None:
            lock = asyncio.Lock()
            self._locks[key] = lock
        return lock

    @staticmethod
    def config(thread_id: str) -> RunnableConfig:
        return transcripts.thread_config(thread_id)

    def cancel(self, thread_id: str) -> bool:
        """Cancel the running request of a session (the per-run stop switch)."""
        task = self._active.get(thread_id)
        return task is not None and cancel_once(task)

    async def stop(self, thread_id: str, timeout: float) -> None:
        """Cancel the session's running request and wait, up to `timeout` seconds, until it has
        rolled back (so nothing it writes can land after, say, the session is deleted)."""
        task = self._active.get(thread_id)
        if task is not None and self.cancel(thread_id):
            await asyncio.wait({task}, timeout=timeout)

    def is_running(self, thread_id: str) -> bool:
        task = self._active.get(thread_id)
        return task is not None and not task.done()

    def start(self, req: RunRequest, thread_id: str, *, ephemeral: bool = False) -> RunHandle:
        """Start the run in its own task; read its events from the handle. An ephemeral run's
        thread is deleted when it ends (one-off prompts that must not become a session)."""
        queue: asyncio.Queue[RunEvent] = asyncio.Queue()
        run = traced_run(lambda: self._run(req, thread_id, queue, ephemeral), req.agent, thread_id)  # span if on
        return RunHandle(queue, asyncio.create_task(run))

    async def _run(self, req: RunRequest, thread_id: str, queue: asyncio.Queue[RunEvent], ephemeral: bool) -> None:
        graph = self.graphs[req.agent]
        config = self.config(thread_id)
        async with self._lock(thread_id):
            self._active[thread_id] = asyncio.current_task()  # type: ignore[assignment]
            if self.lifecycle is not None:
                self.lifecycle.started(thread_id)
            usage_log = UsageLogger(self.backend)
            pre_ids: set[str] = set()
            removed: list[AnyMessage] = []
            committed = False
            result = RunResult()
            try:
                # Two stores, read at once: the checkpoint and the archive's index (a new thread has neither).
                stored, archived = (
                    ([], None)
                    if req.new_thread
                    else await asyncio.gather(
                        _messages(graph, config),
                        self.archive.state(thread_id) if self.archive is not None else _none(),
                    )
                )
                pre_ids = {m.id for m in stored if m.id}
                # The caller's results for the client tool calls this session paused for: a resume.
                graph_input = await tool_results.resume_input(graph, config, stored, req.messages, archived)
                if graph_input is None:
                    try:
                        plan = reconcile(stored, req.messages, archived)
                    except ArchiveEdit as exc:
                        raise APIError(
                            409, f"{exc}: start a new session to change it", code="history_edit_too_old"
                        ) from exc
                    removed_ids = {r.id for r in plan.removed}
                    removed = [m for m in stored if m.id in removed_ids]
                    # Nothing new is fine only when the last user turn never got an answer: it gets one now.
                    if not plan.new and not plan.removed and (not stored or isinstance(stored[-1], AIMessage)):
                        raise APIError(400, "no new message to answer", param="messages", code="no_new_message")
                    if plan.new and isinstance(plan.new[-1], AIMessage):
                        raise APIError(400, "the last message must not be an assistant message", param="messages")
                    graph_input = tool_results.turn_input(stored, plan, req.messages)
                result = await self._stream(graph, graph_input, config, req, usage_log, queue)
                result.usage = usage_log.usage
                if req.on_commit is not None:
                    await req.on_commit(result)
                committed = True  # from here on the turn stands, whatever happens to the caller
                await self._archive(graph, config, result)
                await queue.put(RunEvent("done", result.answer, data={"result": result}))
            except asyncio.CancelledError:
                if committed:
                    await queue.put(RunEvent("done", result.answer, data={"result": result}))
                    raise
                await asyncio.shield(self._undo(graph, config, pre_ids, removed, req))
                log.info("run cancelled, session %s rolled back", thread_id)
                await queue.put(RunEvent("error", error=APIError(409, "the request was cancelled", code="cancelled")))
                raise
            except Exception as exc:
                await asyncio.shield(self._undo(graph, config, pre_ids, removed, req))
                await queue.put(RunEvent("error", error=self._as_api_error(exc)))
            finally:
                if self._active.get(thread_id) is asyncio.current_task():
                    del self._active[thread_id]
                if self.lifecycle is not None:
                    self.lifecycle.ended(thread_id)
                if ephemeral and graph.checkpointer:
                    with contextlib.suppress(Exception):
                        await asyncio.shield(graph.checkpointer.adelete_thread(thread_id))  # type: ignore[union-attr]

    async def _stream(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        graph_input: Any,
        config: RunnableConfig,
        req: RunRequest,
        usage_log: UsageLogger,
        queue: asyncio.Queue[RunEvent],
    ) -> RunResult:
        run_config: RunnableConfig = {**config, "callbacks": [usage_log, *self.callbacks]}
        result = RunResult()
        streamed_ids: set[str] = set()
        final: dict[str, Any] | None = None
        # durability="exit": one checkpoint write per turn, not one per step (each write
        # serialises the whole history); a process killed mid-run leaves the turn absent.
        async for ns, mode, data in graph.astream(
            graph_input,
            run_config,
            context=req.context,
            stream_mode=["messages", "custom", "values"] if req.stream_tokens else ["custom", "values"],
            subgraphs=True,
            durability="exit",
        ):
            if mode == "values":
                if not ns:  # the top graph's state after each step: its last one is the turn's end
                    final = data  # type: ignore[assignment]
                continue
            if mode == "custom":
                if isinstance(data, dict) and data.get("text"):
                    result.steps.append(data)
                    await queue.put(RunEvent("reasoning", str(data["text"]).rstrip() + "\n", data=data))
                continue
            chunk, meta = data  # type: ignore[misc,str-unpack]
            # Only tokens are streamed as the answer. Whole messages in this stream are node
            # outputs (a plan step's result, a subgraph's state): internal work, narrated as progress.
            if not isinstance(chunk, AIMessageChunk) or "internal" in (meta.get("tags") or []):  # type: ignore[union-attr]
                continue
            text = _text(chunk.content)
            if text:
                streamed_ids.add(chunk.id or "")
                await queue.put(RunEvent("content", text))
        messages = list(final.get("messages", [])) if final is not None else await _messages(graph, config)
        result.tool_calls = client_tools.paused_calls(final)
        if result.tool_calls:  # paused for the caller's tools: its answer is the tool-calling turn
            result.finish_reason = "tool_calls"
            answers = [m for m in messages if isinstance(m, AIMessage) and m.tool_calls][-1:]
        else:
            answers = [m for m in messages if isinstance(m, AIMessage) and not m.tool_calls]
        result.answer = _text(answers[-1].content) if answers else ""
        if answers and answers[-1].response_metadata.get("finish_reason") == "length" and not result.tool_calls:
            result.finish_reason = "length"
        result.message_count = len(messages)
        result.messages = messages
        if result.answer and (answers[-1].id or "") not in streamed_ids:
            # The answer was not token-streamed (a node built it, or the model does not stream).
            await queue.put(RunEvent("content", result.answer))
        return result

    async def _archive(
        self, graph: CompiledStateGraph[Any, Any, Any, Any], config: RunnableConfig, result: RunResult
    ) -> None:
        """Keep the checkpoint a bounded window (app/services/archive.py). Shielded: a client
        that hangs up now must not cut it between its two writes. A failure only costs speed."""
        if self.archive is None:
            return
        try:
            await asyncio.shield(self.archive.maybe_archive(graph, config, result.messages))
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("archiving session %s failed", config["configurable"]["thread_id"])

    async def _undo(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        config: RunnableConfig,
        pre_ids: set[str],
        removed: list[AnyMessage],
        req: RunRequest,
    ) -> None:
        await self._rollback(graph, config, pre_ids, removed)
        if req.on_failure is not None:
            try:
                await req.on_failure()
            except Exception:
                log.exception("clean-up after a failed run of %s failed", config["configurable"]["thread_id"])

    async def _rollback(
        self,
        graph: CompiledStateGraph[Any, Any, Any, Any],
        config: RunnableConfig,
        pre_ids: set[str],
        removed: list[AnyMessage],
    ) -> None:
        """Undo a failed turn: drop what it added, restore what reconciliation removed."""
        try:
            messages = await _messages(graph, config)
            added = [RemoveMessage(id=m.id) for m in messages if m.id and m.id not in pre_ids]
            if added or removed:
                await graph.aupdate_state(config, {"messages": [*added, *removed]}, as_node="__start__")
        except Exception:
            log.exception("rollback of session %s failed", config["configurable"]["thread_id"])

    @staticmethod
    def _as_api_error(exc: BaseException) -> APIError:
        if isinstance(exc, APIError):
            return exc
        stored = storage_error(exc)
        if stored is not None:
            log.warning("storage unavailable during a run: %s", exc)
            return stored
        mapped = llm_error_to_api_error(exc)
        if mapped is None:
            cause = exc.__cause__ or exc.__context__
            mapped = llm_error_to_api_error(cause) if cause else None
        if mapped is not None:
            log.warning("backend failure: %s", exc)
            return mapped
        log.exception("agent run failed", exc_info=exc)
        return APIError(500, f"the agent failed: {type(exc).__name__}", type_="api_error", code="agent_error")
