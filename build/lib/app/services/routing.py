"""Where a Chat Completions request goes: an agent (with the default or a named backend
model), or straight to the backend (pass-through), or nowhere (404 `model_not_found`).

- `agent_type` names an agent: that agent, with `model` as its backend model when `model`
  is a backend model (an unknown one is a 404, not silently the default).
- `model` names an agent: that agent on the default backend model.
- `model` names a backend model and no `agent_type`: pass-through to the backend, every
  parameter included (`app.services.passthrough`). A backend without an HTTP endpoint (a
  chat model handed to `create_app`) runs the default agent with that model instead.
- `model` absent: the default agent.
- anything else: 404 `model_not_found`, streaming or not, before anything runs.

The admin's allow-list (`check_model_allowed`) and `MAX_TOKENS_LIMIT` are checked here,
in one short transaction, for every route.
"""

from __future__ import annotations

from dataclasses import dataclass

from app.db import User
from app.schemas.openai import ChatCompletionRequest
from app.services import catalog, passthrough, runtime_settings
from app.services.container import Services

__all__ = ["Route", "route_request", "default_agent"]


@dataclass(frozen=True)
class Route:
    agent: str | None  # None: pass-through to the backend
    backend_model: str | None  # None: the default model
    default_model: str | None = None  # the admin's choice, if any

    @property
    def passthrough(self) -> bool:
        return self.agent is None


def default_agent(services: Services) -> str:
    return services.settings.default_agent if services.settings.default_agent in services.graphs else "chat"


async def route_request(services: Services, user: User, body: ChatCompletionRequest) -> Route:
    agents = services.graphs
    async with services.db.read_session() as db:
        admin_default = await runtime_settings.default_model(db)
    model = body.model or None

    async def known(name: str) -> bool:
        return name == admin_default or await catalog.is_backend_model(services, name)

    if body.agent_type:
        if body.agent_type not in agents:
            error = catalog.model_not_found(body.agent_type, "agent_type")
            error.message += f" Agents: {', '.join(agents)}."
            raise error
        backend = model if model and model not in agents else None
        if backend is not None and not await known(backend):
            raise catalog.model_not_found(backend)
        route = Route(body.agent_type, backend, admin_default)
    elif model is None or model in agents:
        route = Route(model or default_agent(services), None, admin_default)
    elif await known(model):
        agent = None if passthrough.backend_target(services.llm) is not None else default_agent(services)
        route = Route(agent, model, admin_default)
    else:
        raise catalog.model_not_found(model)
    if route.backend_model and user.role != "admin":  # admins set the list; agents on the default: open
        async with services.db.session() as db:
            await runtime_settings.check_model_allowed(db, user, route.backend_model)
    runtime_settings.check_max_tokens(services.settings, body.token_limit)
    return route
