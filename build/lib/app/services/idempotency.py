"""`Idempotency-Key` for chat turns: a retried request gets the stored answer, not a second turn.

The key is scoped to its owner (stored hashed with the user id). The first request claims it
(`running`), the turn's commit stores the answer with it (`done`) in the same transaction as
the session index, and a failed turn releases it, so a retry after a reported failure runs
again. A duplicate that arrives while the first is still running gets 409; a claim left
`running` by a crashed process is taken over once it is older than `stale_after` seconds.
Without a key, a client retry is reconciled like any resent history (DESIGN section 5): a
client that resends the whole conversation regenerates the last answer rather than storing
a second turn; a client that sends only the new message stores it again.
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import delete, update
from sqlmodel.ext.asyncio.session import AsyncSession

from app.db import Database, IdempotencyRecord
from core.errors import APIError

__all__ = ["MAX_KEY_LENGTH", "record_key", "claim", "complete", "release"]

MAX_KEY_LENGTH = 255


def record_key(user_id: str, key: str) -> str:
    if not key or len(key) > MAX_KEY_LENGTH or not key.isascii() or not key.isprintable():
        raise APIError(
            400, f"Idempotency-Key: 1 to {MAX_KEY_LENGTH} printable ASCII characters", param="Idempotency-Key"
        )
    return hashlib.sha256(f"{user_id}\0{key}".encode()).hexdigest()


async def claim(
    db: Database, user_id: str, rkey: str, session_id: str, *, stale_after: float, now: float | None = None
) -> dict[str, Any] | None:
    """Claim `rkey` for a new turn (None), or return the stored answer of the turn that has it."""
    now = time.time() if now is None else now
    async with db.session() as s:
        s.add(IdempotencyRecord(key=rkey, user_id=user_id, session_id=session_id, created_at=now))
        try:
            await s.commit()
            return None
        except IntegrityError:
            await s.rollback()
        found = await s.get(IdempotencyRecord, rkey)
        if found is None:  # released between our insert and this read: try once more
            s.add(IdempotencyRecord(key=rkey, user_id=user_id, session_id=session_id, created_at=now))
            await s.commit()
            return None
        if found.state == "done":
            stored: dict[str, Any] = json.loads(found.response)
            return stored
        if found.created_at > now - stale_after:
            raise APIError(
                409,
                "a request with this Idempotency-Key is still running",
                code="idempotency_key_in_use",
                headers={"Retry-After": "1"},
            )
        # Left running by a process that died: this request takes it over.
        taken = await s.exec(
            update(IdempotencyRecord)
            .where(IdempotencyRecord.key == rkey, IdempotencyRecord.created_at == found.created_at)  # type: ignore[arg-type]
            .values(created_at=now, session_id=session_id)
        )
        await s.commit()
        if taken.rowcount != 1:  # type: ignore[attr-defined]
            raise APIError(409, "a request with this Idempotency-Key is still running", code="idempotency_key_in_use")
        return None


async def complete(s: AsyncSession, rkey: str, response: dict[str, Any]) -> None:
    """Store the answer with the key, in the caller's transaction (the turn's commit)."""
    await s.exec(
        update(IdempotencyRecord)
        .where(IdempotencyRecord.key == rkey)  # type: ignore[arg-type]
        .values(state="done", response=json.dumps(response, ensure_ascii=False))
    )


async def release(db: Database, rkey: str) -> None:
    """Forget a claim whose turn failed, so a retry runs again."""
    async with db.session() as s:
        await s.exec(
            delete(IdempotencyRecord).where(IdempotencyRecord.key == rkey, IdempotencyRecord.state == "running")  # type: ignore[arg-type]
        )  # type: ignore[arg-type]
        await s.commit()


async def prune(db: Database, older_than: float) -> None:
    async with db.session() as s:
        await s.exec(delete(IdempotencyRecord).where(IdempotencyRecord.created_at < older_than))  # type: ignore[arg-type]
        await s.commit()
