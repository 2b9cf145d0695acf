"""Format 1 collections (one FAISS index over `docs/<id>.json|.npy`) become one segment.

Runs once, on the first load after an upgrade, under the collection's file lock: the
stored embeddings are reused (no re-embedding), the new manifest is committed
atomically, and the old files are removed only after it.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from pathlib import Path
from typing import Any

import numpy as np

from tools_service.rag import segment as seg_io
from tools_service.rag.segment import SegmentDoc

__all__ = ["migrate_v1"]

log = logging.getLogger(__name__)


def migrate_v1(path: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    from tools_service.rag.files import FORMAT, MANIFEST, _atomic_write

    log.warning("migrating collection %s to segment format %d", path, FORMAT)
    docs = []
    for doc in manifest["documents"]:
        texts = json.loads((path / "docs" / f"{doc['id']}.json").read_text())
        vectors = np.load(path / "docs" / f"{doc['id']}.npy").astype(np.float32)
        docs.append(SegmentDoc(doc["id"], texts, texts, vectors))
    segments = []
    if docs:
        seg_id = uuid.uuid4().hex
        tmp = path / f".tmp-{seg_id}"
        seg = seg_io.write(tmp, f"seg-{seg_id}", docs, manifest["index_type"])
        os.rename(tmp, path / seg.name)
        segments.append({"name": seg.name, "rows": seg.size, "deleted": []})
    new = {
        "format": FORMAT,
        "version": manifest["version"] + 1,
        "dim": manifest["dim"],
        "index_type": manifest["index_type"],
        "embedding_model": manifest.get("embedding_model", ""),
        "documents": manifest["documents"],
        "segments": segments,
    }
    _atomic_write(path / MANIFEST, json.dumps(new).encode())
    seg_io.fsync_dir(path)
    shutil.rmtree(path / "docs", ignore_errors=True)
    for item in path.glob("index-*.faiss"):
        item.unlink(missing_ok=True)
    return new
