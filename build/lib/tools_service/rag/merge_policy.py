"""Which segments to merge (size tiers, purge of deleted rows), building the merged segment,
and committing it: the store-level half of `tools_service.rag.merging`."""

from __future__ import annotations

import math
import os
import shutil
import uuid
from pathlib import Path

import numpy as np

from tools_service.rag import segment as seg_io
from tools_service.rag.segment import Segment
from tools_service.rag.store import SegmentView, Snapshot, _commit, _views

__all__ = ["plan_merge", "build_merged", "commit_merge"]


def plan_merge(snap: Snapshot, factor: int, floor_rows: int, purge_ratio: float) -> list[str] | None:
    """Segments to merge next, or None. Size tiers are powers of `factor` above
    `floor_rows`; `factor` segments in one tier merge. A segment whose deleted share
    reaches `purge_ratio` is rewritten (with the small segments, which cost little)."""
    tiers: dict[int, list[SegmentView]] = {}
    for view in snap.views:
        live = view.live_rows
        if view.segment.size and 1 - live / view.segment.size >= purge_ratio:
            small = [v.segment.name for v in snap.views if v is not view and v.segment.size < floor_rows]
            return [view.segment.name, *small]
        tier = int(math.log(max(live, floor_rows) / floor_rows, factor)) if factor > 1 else 0
        tiers.setdefault(tier, []).append(view)
    for tier in sorted(tiers):
        if len(tiers[tier]) >= factor:
            return [v.segment.name for v in tiers[tier]]
    return None


def build_merged(path: Path, snap: Snapshot, names: list[str]) -> tuple[Path | None, Segment | None]:
    """The merge of segments `names` without their deleted rows, under a temporary name
    (no lock: segments are immutable). (None, None) when nothing in them is live."""
    chosen = [v for v in snap.views if v.segment.name in names]
    parts = [(v.segment, v.live if v.live is not None else np.ones(v.segment.size, bool)) for v in chosen]
    if not any(keep.any() for _, keep in parts):
        return None, None
    seg_id = uuid.uuid4().hex
    tmp = path / f".tmp-{seg_id}"
    try:
        return tmp, seg_io.write_merged(tmp, f"seg-{seg_id}", parts, snap.index_type)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def commit_merge(path: Path, cur: Snapshot, names: list[str], tmp: Path | None, merged: Segment | None) -> Snapshot:
    """Swap the merged segment in for its sources. Documents deleted while the merge ran
    stay tombstoned in it; if another worker merged any source first, this merge is
    dropped (its sources are gone) and `cur` is kept."""
    present = {v.segment.name for v in cur.views}
    if not set(names) <= present:
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
        return cur
    if tmp is not None and merged is not None:
        os.rename(tmp, path / merged.name)
    entries: list[tuple[Segment, frozenset[str]]] = []
    placed = merged is None
    for view in cur.views:
        if view.segment.name not in names:
            entries.append((view.segment, view.deleted))
        elif not placed and merged is not None:  # where the first source was
            late = frozenset(d for v in cur.views if v.segment.name in names for d in v.deleted)
            entries.append((merged, late & frozenset(merged.docs)))
            placed = True
    return _commit(path, cur, cur.documents, _views(entries), cur.dim)
