"""What a `python_coder` run did, read from the tool's structured result, never from its wording.

The `python_coder` wrapper (`graphs.tools`) returns the model-facing text as the ToolMessage's
content and the tools app's whole envelope (`success`, `answer`, `data` with `exit_code`,
`stdout`, `stderr`, `files`; `metadata` with `stopped`, `timeout`) as its `artifact`.
`ultrawork` judges runs from that artifact: a run that exited non-zero, was stopped (timeout,
quota, output limit), never completed, or did not write a file the program promised can
never count as done, whatever a verifier model says.
"""

from __future__ import annotations

from typing import Any

from langchain_core.messages import ToolMessage

__all__ = ["run_facts", "failure_reason", "MAX_EVIDENCE_CHARS"]

MAX_EVIDENCE_CHARS = 6000

_STOPPED = {
    "timeout": "it ran past its time limit{limit} and was stopped",
    "quota": "it outgrew the workspace quota and was stopped",
    "output": "it printed more than the output limit and was stopped",
    "error": "the sandbox could not start",
}


def _name(path: str) -> str:
    return path.strip().removeprefix("./")


def run_facts(message: ToolMessage) -> dict[str, Any]:
    """Exit code, stop reason, output, files of a run, from the ToolMessage's envelope artifact.

    A result without an envelope (the tools app unreachable, a tool error before the run)
    has no exit code: `failure_reason` then reports that the run did not complete.
    """
    text = message.content if isinstance(message.content, str) else str(message.content)
    envelope: dict[str, Any] = message.artifact if isinstance(message.artifact, dict) else {}
    data: dict[str, Any] = envelope["data"] if isinstance(envelope.get("data"), dict) else {}
    meta: dict[str, Any] = envelope["metadata"] if isinstance(envelope.get("metadata"), dict) else {}
    exit_code = data.get("exit_code")
    exit_code = exit_code if isinstance(exit_code, int) and not isinstance(exit_code, bool) else None
    stopped = meta.get("stopped") or ("timeout" if meta.get("error") == "timeout" else None)
    entries = [f if isinstance(f, dict) else {"name": f} for f in data.get("files") or []]
    changed = [_name(str(f.get("name"))) for f in entries if f.get("changed")]
    error = "" if envelope.get("success") else str(envelope.get("answer") or text)[:500]
    stderr = [line.strip() for line in str(data.get("stderr") or "").splitlines() if line.strip()]
    return {
        "exit_code": exit_code,
        "stopped": stopped,
        "timed_out": stopped == "timeout",
        "timeout": meta.get("timeout"),
        "success": bool(envelope.get("success")) and message.status != "error",
        "error": error,
        "stderr_tail": stderr[-1][:300] if stderr else "",
        "output": text[-MAX_EVIDENCE_CHARS:],
        "files": changed or [_name(str(f.get("name"))) for f in entries],
        "changed": changed,
    }


def failure_reason(run: dict[str, Any], expected_files: list[str] | None = None) -> str | None:
    """Why this run cannot have accomplished its task, or None when the run itself succeeded.

    Exit code, stop reason and files are facts the tools app reported; the verifier model
    only judges runs that pass this check.
    """
    if not run:
        return "no program was produced, so nothing ran"
    if run.get("stopped") in _STOPPED:
        limit = f" of {run['timeout']:g} s" if isinstance(run.get("timeout"), int | float) else ""
        return _STOPPED[str(run["stopped"])].format(limit=limit)
    exit_code = run.get("exit_code")
    if exit_code is None:
        detail = f": {run['error']}" if run.get("error") else ""
        return f"the run did not complete{detail}"
    if exit_code != 0:
        tail = run.get("stderr_tail")
        return f"the program exited with code {exit_code}" + (f" ({tail})" if tail else "")
    written = set(run.get("changed") or [])
    missing = [name for name in (_name(f) for f in expected_files or []) if name and name not in written]
    if missing:
        return f"the program did not write the expected file(s): {', '.join(missing)}"
    return None
