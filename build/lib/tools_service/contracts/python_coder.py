"""python_coder's contract: run model-written Python in the session's sandboxed workspace."""

from __future__ import annotations

from pydantic import BaseModel, Field

from tools_service.contracts.base import ToolContract

__all__ = ["PythonCoderArgs", "PythonCoderRequest", "PYTHON_CODER", "CONTRACTS"]


class PythonCoderArgs(BaseModel):
    code: str = Field(min_length=1, description="The complete Python program to run.")
    timeout: float | None = Field(default=None, gt=0, description="Wall-clock limit in seconds (optional).")


class PythonCoderRequest(PythonCoderArgs):
    """The route's body: the model's arguments plus the session, filled from the run's context."""

    session_id: str


PYTHON_CODER = ToolContract(
    name="python_coder",
    description=(
        "Run Python 3 code in a sandboxed workspace and get stdout, stderr, the exit code and the "
        "workspace's files. Files persist between runs in this conversation; files the user uploaded "
        "are in the working directory. numpy, pandas and matplotlib (save figures with savefig) are "
        "available; there is no network access. Print what you want to see."
    ),
    path="/api/tools/python_coder",
    args=PythonCoderArgs,
    context=("session_id",),
    timeout_arg="timeout",
    artifact=True,  # ultrawork's verifier reads exit code and files from the envelope
)

CONTRACTS = (PYTHON_CODER,)
