"""RAG over HTTP: per-user collections, uploads, queries (`/api/tools/rag/...`).

Upload policy: a batch is all-or-nothing. Every file is checked (type → 415, size →
413) and parsed before anything is indexed; if any file fails, the whole batch is
refused with an error that names each failing file, and nothing is indexed, so the
client can fix or drop that file and resend the batch without creating duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated, Any

from fastapi import APIRouter, FastAPI, File, Form, Query, Request, Response, UploadFile

from core import metrics, spool
from core.documents import SUPPORTED_EXTENSIONS, DocumentLimits
from core.errors import APIError
from core.quota import check_room
from settings import Settings
from tools_service.auth import CurrentCaller
from tools_service.contracts.rag import CONTRACTS, CollectionCreate, QueryRequest
from tools_service.deps import get_rag
from tools_service.envelope import ToolResult, ok
from tools_service.rag import uploads
from tools_service.rag.engine import ParsedFile, RagEngine

__all__ = ["router", "SPECS", "startup", "shutdown", "describe"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/api/tools/rag", tags=["rag"])

# What /api/tools/list publishes, from the contracts the bodies are validated with.
SPECS: list[dict[str, Any]] = [contract.spec() for contract in CONTRACTS]
MAX_JOB_WAIT_S = 60.0


_engine = get_rag


async def startup(app: FastAPI) -> None:
    """Tests (and embedders of the app) may preset `app.state.rag_embeddings`,
    `rag_llm` or `rag_reranker` before serving; otherwise models load on first use."""
    settings: Settings = app.state.settings
    app.state.rag = RagEngine(
        settings,
        embeddings=getattr(app.state, "rag_embeddings", None),
        llm=getattr(app.state, "rag_llm", None),
        reranker=getattr(app.state, "rag_reranker", None),
    )


async def shutdown(app: FastAPI) -> None:
    engine: RagEngine | None = getattr(app.state, "rag", None)
    if engine is not None:
        await engine.close()
    app.state.rag = None


def describe(app: FastAPI) -> list[dict[str, Any]]:
    engine: RagEngine | None = getattr(app.state, "rag", None)
    settings: Settings = app.state.settings
    reranker = settings.rag_reranker_model or ("injected" if engine and engine.reranking_enabled else "")
    status = {
        "embedding_model": engine.embedding_model_name if engine else settings.rag_embedding_model,
        "embedding_device": settings.rag_embedding_device,
        "index_type": settings.rag_index_type,
        "hybrid": settings.rag_use_hybrid,
        "reranking": {
            "enabled": bool(reranker),
            "model": reranker or None,
            "reason": None if reranker else "RAG_RERANKER_MODEL is not set; results are not reranked",
        },
        "multi_query": settings.rag_use_multi_query,
        "formats": list(SUPPORTED_EXTENSIONS),
    }
    return [{**spec, "status": status} for spec in SPECS]


@router.post("/collections", status_code=201)
async def create_collection(body: CollectionCreate, request: Request, caller: CurrentCaller) -> ToolResult:
    await _engine(request).create_collection(caller.user_id, body.name)
    return ok(f"created collection {body.name}", {"name": body.name})


@router.get("/collections")
async def list_collections(request: Request, caller: CurrentCaller) -> ToolResult:
    collections = await _engine(request).list_collections(caller.user_id)
    names = ", ".join(c["name"] for c in collections) or "none"
    return ok(f"{len(collections)} collection(s): {names}", {"collections": collections})


@router.delete("/collections/{name}")
async def delete_collection(name: str, request: Request, caller: CurrentCaller) -> ToolResult:
    await _engine(request).delete_collection(caller.user_id, name)
    return ok(f"deleted collection {name}", {"name": name})


@router.get("/collections/{name}/documents")
async def list_documents(name: str, request: Request, caller: CurrentCaller) -> ToolResult:
    documents = await _engine(request).list_documents(caller.user_id, name)
    return ok(f"{len(documents)} document(s) in {name}", {"documents": documents})


@router.delete("/collections/{name}/documents/{document_id}")
async def delete_document(name: str, document_id: str, request: Request, caller: CurrentCaller) -> ToolResult:
    await _engine(request).delete_document(caller.user_id, name, document_id)
    return ok(f"deleted document {document_id}", {"document_id": document_id})


async def _index(
    engine: RagEngine, user: str, collection: str, parsed: list[ParsedFile], progress: Any = None
) -> dict[str, Any]:
    try:
        documents = await engine.add_documents(user, collection, parsed, progress)
    except APIError:
        raise
    except Exception as exc:  # the embedder (or disk) failed: nothing was committed
        log.exception("indexing into %s failed", collection)
        raise APIError(
            503,
            f"indexing failed ({type(exc).__name__}); nothing was indexed and the collection is unchanged",
            code="indexing_failed",
        ) from exc
    return {"document_ids": [d["id"] for d in documents], "documents": documents}


@router.post("/upload")
async def upload(
    request: Request,
    response: Response,
    caller: CurrentCaller,
    collection: Annotated[str, Form()],
    files: Annotated[list[UploadFile], File()],
    background: Annotated[bool, Form(description="answer 202 with a job id to poll at /jobs/{id}")] = False,
) -> ToolResult:
    engine = _engine(request)
    settings: Settings = request.app.state.settings
    await engine.list_documents(caller.user_id, collection)  # 400/404 before staging large files
    limit, limit_mb = settings.max_file_size_bytes, settings.max_file_size_mb
    incoming = await uploads.check_files(files, limit, limit_mb)
    await asyncio.to_thread(check_room, settings, caller.user_id, sum(item.size for item in incoming))
    # Each file is copied in chunks to a temp file the parsing child reads; the temp files are
    # gone when this block ends, parsed or refused: only the extracted text stays in memory.
    with spool.staged() as temps:
        await uploads.stage_files(incoming, engine.root / caller.user_id / uploads.INCOMING, limit, limit_mb, temps)
        parsed = await uploads.parse_all(incoming, DocumentLimits.from_settings(settings))
    if background:
        user = caller.user_id

        async def work(progress: Any) -> dict[str, Any]:
            return await _index(engine, user, collection, parsed, progress)

        job = await engine.jobs.start(user, collection, [f.filename for f in parsed], work)
        response.status_code = 202
        return ok(f"indexing {len(parsed)} document(s) into {collection}: job {job['id']}", {"job": job})
    data = await _index(engine, caller.user_id, collection, parsed)
    return ok(
        f"indexed {len(data['documents'])} document(s) into {collection}",
        data,
        chunks=sum(d["chunks"] for d in data["documents"]),
    )


@router.get("/jobs/{job_id}")
async def get_job(
    job_id: str,
    request: Request,
    caller: CurrentCaller,
    wait: Annotated[float, Query(ge=0, le=MAX_JOB_WAIT_S, description="long-poll: seconds to wait for the end")] = 0,
) -> ToolResult:
    job = await _engine(request).jobs.get(caller.user_id, job_id, wait)
    return ok(f"job {job_id}: {job['status']}", {"job": job})


@router.post("/collections/{name}/optimize")
async def optimize(name: str, request: Request, caller: CurrentCaller) -> ToolResult:
    """Merge all segments into one now; deleted documents' text leaves the disk."""
    engine = _engine(request)
    await engine.optimize(caller.user_id, name)
    return ok(f"optimized {name}", await engine.stats(caller.user_id, name))


@router.get("/collections/{name}/stats")
async def stats(name: str, request: Request, caller: CurrentCaller) -> ToolResult:
    data = await _engine(request).stats(caller.user_id, name)
    return ok(f"{name}: {data['chunks']} chunk(s) in {len(data['segments'])} segment(s)", data)


@router.post("/query")
async def query(body: QueryRequest, request: Request, caller: CurrentCaller) -> ToolResult:
    try:
        with metrics.RAG_QUERY_LATENCY.time():
            results = await _engine(request).query(
                caller.user_id, body.collection, body.query, body.top_k, mode=body.mode, use_rerank=body.rerank
            )
    except APIError:
        raise
    except Exception as exc:
        log.exception("query on %s failed", body.collection)
        raise APIError(503, f"retrieval failed ({type(exc).__name__})", code="retrieval_failed") from exc
    if results:
        answer = "\n\n".join(
            f"[{i}] {r['filename']} (score {r['score']:.3f}): {r['text']}" for i, r in enumerate(results, start=1)
        )
    else:
        answer = f"no passages in {body.collection} matched the query"
    return ok(answer, {"results": results}, collection=body.collection, count=len(results))
