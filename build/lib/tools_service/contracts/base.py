"""`ToolContract`: one tool as the model, the client and the tools app all see it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

__all__ = ["ToolContract", "NoArgs"]


class NoArgs(BaseModel):
    """The arguments of a tool the model calls without any (e.g. listing collections)."""


@dataclass(frozen=True)
class ToolContract:
    """A tool the agents may call.

    `args` is what the *model* fills: it is the wrapper's `args_schema`, the published
    `parameters`, and the part of the route's request model the model controls (the request
    model subclasses it, adding the `context` fields). Limits live on its fields, once.
    """

    name: str
    description: str  # written for the model
    path: str  # the endpoint on the tools app
    args: type[BaseModel]
    method: Literal["GET", "POST"] = "POST"
    # Body fields the caller fills from the run's context, never the model (the user always
    # travels in X-User-Id / the token, so it is not listed here).
    context: tuple[str, ...] = ()
    # An argument that lengthens the HTTP call when the model asks for a longer run.
    timeout_arg: str | None = None
    # The wrapper hands the whole envelope to the agent as the ToolMessage's artifact.
    artifact: bool = False

    def parameters(self) -> dict[str, Any]:
        """JSON schema of `args` (what `/api/tools/list` publishes)."""
        schema = self.args.model_json_schema()
        schema.pop("title", None)
        schema.pop("description", None)
        schema.setdefault("properties", {})
        return schema

    def spec(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "parameters": self.parameters(),
            "context": ["user_id", *self.context],
        }

    def body(self, args: dict[str, Any], **context: str) -> dict[str, Any]:
        """The request body: the model's arguments that were given, plus the context fields."""
        missing = set(self.context) - set(context)
        if missing:
            raise ValueError(f"{self.name}: context field(s) {sorted(missing)} not given")
        body = {k: v for k, v in args.items() if v is not None and k in self.args.model_fields}
        body.update({k: context[k] for k in self.context})
        return body
