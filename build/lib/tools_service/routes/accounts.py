"""What the tools app holds for a user, removed when the main app deletes the account.

A deleted user's RAG collections and workspaces (also those whose session row was
already gone) must not outlive the account. Only the main app may ask (service key +
`X-User-Id`): a user's own token cannot wipe data the account still lists.
"""

from __future__ import annotations

import asyncio
import logging
import shutil
from typing import Any

from fastapi import APIRouter, Request

from core.errors import APIError
from settings import Settings
from tools_service.auth import CurrentCaller
from tools_service.envelope import ToolResult, ok

__all__ = ["router", "SPECS"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tools/accounts", tags=["accounts"])
SPECS: list[dict[str, Any]] = []  # not a tool the model can call


@router.delete("/me", response_model=ToolResult)
async def delete_account_data(request: Request, caller: CurrentCaller) -> ToolResult:
    if caller.via != "service":
        raise APIError(403, "only the main app removes a user's data (delete the account there)", code="forbidden")
    settings: Settings = request.app.state.settings
    user = caller.user_id
    rag: Any = getattr(request.app.state, "rag", None)
    collections = await rag.list_collections(user) if rag is not None else []
    for collection in collections:  # through the engine: its cached snapshots go too
        await rag.delete_collection(user, collection["name"])
    for area in ("rag", "scratch"):
        await asyncio.to_thread(shutil.rmtree, settings.data_dir / area / user, True)
    log.info("removed the data of deleted user %s: %d collection(s) and workspaces", user, len(collections))
    return ok(f"removed {len(collections)} collection(s) and every workspace", {"collections": len(collections)})
