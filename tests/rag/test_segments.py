"""Segmented indexes: uploads write small segments, deletes tombstone, merges purge."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from settings import Settings
from tests.conftest import make_settings
from tests.rag.conftest import API, RagClient, ServerFactory
from tools_service.rag import sparse, store

MODES = ("hybrid", "dense", "sparse")


def _doc(i: int) -> bytes:
    return f"Document {i} is about the unique subject word{i}x and nothing else.".encode()


def _files_under(path: Path) -> dict[str, tuple[int, int, int]]:
    return {
        str(p.relative_to(path)): (p.stat().st_ino, p.stat().st_mtime_ns, p.stat().st_size)
        for p in path.rglob("*")
        if p.is_file()
    }


def _on_disk(path: Path, needle: bytes) -> bool:
    return any(needle in p.read_bytes() for p in path.rglob("*") if p.is_file())


def _stats(client: RagClient, name: str) -> dict:  # type: ignore[type-arg]
    resp = client.http.get(f"{API}/collections/{name}/stats")
    assert resp.status_code == 200, resp.text
    return resp.json()["data"]  # type: ignore[no-any-return]


def test_deleted_text_is_unfindable_then_purged_from_disk(rag_server: ServerFactory, data_dir: Path) -> None:
    path = data_dir / "rag" / "alice" / "kb"
    with rag_server(settings_=make_settings(data_dir, rag_purge_ratio=1.0)) as server:  # no automatic purge
        alice = server.client()
        alice.create("kb")
        ids = alice.upload("kb", {"secret.txt": b"the quokkamarker plan", "other.txt": b"an unrelated otter note"})
        secret = ids.json()["data"]["document_ids"][0]
        alice.upload("kb", {"more.txt": b"another quokka free document about otters"})
        assert alice.results("kb", "quokkamarker", top_k=1)[0]["document_id"] == secret

        assert alice.http.delete(f"{API}/collections/kb/documents/{secret}").status_code == 200
        for mode in MODES:
            assert all(
                r["document_id"] != secret for r in alice.results("kb", "quokkamarker plan", top_k=10, mode=mode)
            )
        stats = _stats(alice, "kb")
        assert stats["chunks"] == 2 and sum(s["deleted_documents"] for s in stats["segments"]) == 1
        assert _on_disk(path, b"quokkamarker")  # tombstoned: still inside its segment, never served

        assert alice.http.post(f"{API}/collections/kb/optimize").status_code == 200
        assert not _on_disk(path, b"quokkamarker")  # the merge dropped it physically
        stats = _stats(alice, "kb")
        assert len(stats["segments"]) == 1 and stats["segments"][0]["rows"] == 2
        assert {r["filename"] for r in alice.results("kb", "otter", top_k=5)} == {"other.txt", "more.txt"}


def test_deleting_a_segments_last_document_drops_the_segment(rag_server: ServerFactory, settings: Settings) -> None:
    path = settings.data_dir / "rag" / "alice" / "kb"
    with rag_server() as server:
        alice = server.client()
        alice.create("kb")
        alice.upload("kb", {"keep.txt": b"kept text about herons"})
        doomed = alice.upload("kb", {"gone.txt": b"the pelicanmarker memo"}).json()["data"]["document_ids"][0]
        assert len(list(path.glob("seg-*"))) == 2
        alice.http.delete(f"{API}/collections/kb/documents/{doomed}")
        assert len(list(path.glob("seg-*"))) == 1 and not _on_disk(path, b"pelicanmarker")


def test_adding_to_a_large_collection_leaves_its_segments_untouched(
    rag_server: ServerFactory, settings: Settings
) -> None:
    path = settings.data_dir / "rag" / "alice" / "kb"
    with rag_server() as server:
        alice = server.client()
        alice.create("kb")
        assert alice.upload("kb", {f"d{i}.txt": _doc(i) for i in range(300)}).status_code == 200
        (old_segment,) = path.glob("seg-*")
        before = _files_under(old_segment)

        assert alice.upload("kb", {"new.txt": b"a new document about word9999x"}).status_code == 200
        stats = _stats(alice, "kb")
        assert [s["rows"] for s in stats["segments"]] == [300, 1]
        assert stats["merges"] == 0
        assert _files_under(old_segment) == before  # not rewritten, not even touched
        assert alice.results("kb", "word9999x", top_k=1)[0]["filename"] == "new.txt"
        assert alice.results("kb", "word123x", top_k=1)[0]["filename"] == "d123.txt"


def test_merges_keep_the_segment_count_bounded(rag_server: ServerFactory, data_dir: Path) -> None:
    s = make_settings(data_dir, rag_merge_factor=3, rag_merge_floor_rows=1, rag_merge_in_background=False)
    with rag_server(settings_=s) as server:
        alice = server.client()
        alice.create("kb")
        ids = {}
        for i in range(9):
            ids[i] = alice.upload("kb", {f"d{i}.txt": _doc(i)}).json()["data"]["document_ids"][0]
            assert len(_stats(alice, "kb")["segments"]) <= 2 * (3 - 1)  # at most factor-1 per tier
        assert len(_stats(alice, "kb")["segments"]) == 1  # 9 = 3^2: merged all the way up
        alice.http.delete(f"{API}/collections/kb/documents/{ids[4]}")
        alice.http.delete(f"{API}/collections/kb/documents/{ids[5]}")
        alice.http.delete(f"{API}/collections/kb/documents/{ids[6]}")  # 3/9 deleted: past the purge ratio
        stats = _stats(alice, "kb")
        assert stats["chunks"] == 6 and [seg["rows"] for seg in stats["segments"]] == [6]
        for i in range(9):
            top = alice.results("kb", f"word{i}x", top_k=1)
            assert (top[0]["filename"] == f"d{i}.txt") is (i not in (4, 5, 6))
    hits = [p for p in (s.data_dir / "rag" / "alice" / "kb").rglob("*") if p.is_file() and b"word5x" in p.read_bytes()]
    assert not hits, hits


def test_crash_before_a_merge_commits_keeps_the_segments(
    rag_server: ServerFactory, data_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = make_settings(data_dir)
    path = data_dir / "rag" / "alice" / "kb"
    with rag_server(settings_=s) as server:
        alice = server.client()
        alice.create("kb")
        for i in range(3):
            alice.upload("kb", {f"d{i}.txt": _doc(i)})
        real_replace = os.replace

        def dying_replace(src: str, dst: str | Path) -> None:
            if Path(dst).name == store.MANIFEST:
                raise SystemExit("power cut")
            real_replace(src, dst)

        monkeypatch.setattr(store.os, "replace", dying_replace)
        assert alice.http.post(f"{API}/collections/kb/optimize").status_code >= 500
        monkeypatch.setattr(store.os, "replace", real_replace)
        assert len(list(path.glob("seg-*"))) == 4  # the merged segment was written, never committed

    with rag_server(settings_=s) as server:
        alice = server.client()
        assert len(_stats(alice, "kb")["segments"]) == 3
        assert alice.results("kb", "word1x", top_k=1)[0]["filename"] == "d1.txt"
        assert alice.upload("kb", {"d3.txt": _doc(3)}).status_code == 200
        assert len(list(path.glob("seg-*"))) == 4  # three old + one new; the orphan is gone


def test_upload_job_reports_progress_and_result(rag_server: ServerFactory) -> None:
    with rag_server() as server:
        alice, bob = server.client("alice"), server.client("bob")
        alice.create("kb")
        parts = [("files", (f"d{i}.txt", _doc(i))) for i in range(40)]
        resp = alice.http.post(f"{API}/upload", data={"collection": "kb", "background": "true"}, files=parts)
        assert resp.status_code == 202, resp.text
        job_id = resp.json()["data"]["job"]["id"]
        assert bob.http.get(f"{API}/jobs/{job_id}").status_code == 404  # not bob's job

        job = alice.http.get(f"{API}/jobs/{job_id}", params={"wait": 60}).json()["data"]["job"]
        assert job["status"] == "done", job
        assert job["progress"] == {"chunks_embedded": 40, "chunks_total": 40}
        assert len(job["result"]["document_ids"]) == 40
        assert alice.results("kb", "word17x", top_k=1)[0]["filename"] == "d17.txt"
        assert alice.http.get(f"{API}/jobs/nope").status_code == 404


def test_failed_upload_job_indexes_nothing(rag_server: ServerFactory) -> None:
    from tests.rag.helpers import HashEmbeddings

    with rag_server(embeddings=HashEmbeddings(fail_after=0)) as server:
        alice = server.client()
        alice.create("kb")
        resp = alice.http.post(
            f"{API}/upload", data={"collection": "kb", "background": "true"}, files=[("files", ("a.txt", b"text"))]
        )
        job = alice.http.get(f"{API}/jobs/{resp.json()['data']['job']['id']}", params={"wait": 60}).json()
        assert job["data"]["job"]["status"] == "failed"
        assert job["data"]["job"]["error"]["status"] == 503
        assert alice.documents("kb") == []


def test_format_1_collection_is_migrated(rag_server: ServerFactory, settings: Settings) -> None:
    """A collection written by the previous release (one index over docs/*.npy) loads."""
    from tests.rag.helpers import HashEmbeddings

    path = settings.data_dir / "rag" / "alice" / "old"
    (path / "docs").mkdir(parents=True)
    texts = ["an old document about lighthouses", "a second chunk about foghorns"]
    np.save(path / "docs" / "abc.npy", np.asarray(HashEmbeddings().embed_documents(texts), dtype=np.float32))
    (path / "docs" / "abc.json").write_text(json.dumps(texts))
    doc = {"id": "abc", "filename": "old.txt", "chunks": 2, "size": 10, "created_at": 0.0}
    manifest = {"format": 1, "version": 3, "dim": 256, "index_type": "Flat", "embedding_model": "x", "index_file": None}
    (path / store.MANIFEST).write_text(json.dumps({**manifest, "documents": [doc]}))
    with rag_server() as server:
        alice = server.client()
        assert alice.results("old", "foghorns", top_k=1)[0]["chunk_id"] == "abc:1"
    assert not (path / "docs").exists() and json.loads((path / store.MANIFEST).read_text())["format"] == 2


def test_bm25_statistics_span_segments() -> None:
    """A chunk scores the same whether the collection is one segment or several."""
    texts = [f"alpha beta {'gamma ' * (i % 3)} delta{i % 5} epsilon" for i in range(30)]
    tokens = [sparse.tokenize(t) for t in texts]
    whole = sparse.build(tokens)
    parts = [sparse.build(tokens[:7]), sparse.build(tokens[7:20]), sparse.build(tokens[20:])]
    avgdl = float(whole.lengths.mean())
    query = {"gamma": 1.0, "delta3": 2.0, "beta": 0.5}
    (one,) = sparse.bm25_scores([whole], query, 30, avgdl)
    split = sparse.bm25_scores(parts, query, 30, avgdl)
    assert one is not None and all(s is not None for s in split)
    np.testing.assert_allclose(np.concatenate(split), one, rtol=1e-6)  # type: ignore[arg-type]
    merged = sparse.merge([(p, np.ones(p.n_rows, bool)) for p in parts])
    np.testing.assert_allclose(sparse.bm25_scores([merged], query, 30, avgdl)[0], one, rtol=1e-6)  # type: ignore[arg-type]


def test_auto_index_is_exact_for_small_segments_and_ivf_for_large(monkeypatch: pytest.MonkeyPatch) -> None:
    from tools_service.rag import index

    monkeypatch.setattr(index, "AUTO_IVF_MIN_VECTORS", 1500)
    rng = np.random.default_rng(0)  # clustered, like real embeddings (topics), not uniform noise
    centers = rng.standard_normal((30, 32)).astype(np.float32)
    vectors = centers[rng.integers(0, 30, 2000)] + 0.3 * rng.standard_normal((2000, 32)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    assert type(index.build_index("auto", vectors[:1400])).__name__ == "IndexFlatIP"
    clustered = index.build_index("auto", vectors)
    assert type(clustered).__name__ == "IndexIVFFlat"
    exact = index.build_index("Flat", vectors)
    _, want = index.search(exact, vectors[:50], 5)
    _, got = index.search(clustered, vectors[:50], 5)
    assert np.mean([len(set(a) & set(b)) / 5 for a, b in zip(want, got, strict=True)]) > 0.9
    # tombstoned rows are skipped inside the clustered search too
    params = index.exclusion_params(clustered, np.asarray(want[:, 0]))
    _, filtered = index.search(clustered, vectors[:50], 5, params)
    assert not set(filtered.ravel().tolist()) & set(want[:, 0].tolist())


def test_written_segments_keep_one_copy_of_their_vectors(tmp_path: Path) -> None:
    """After writing, a segment reads its vectors from its file (memory-mapped): FAISS
    holds the in-memory copy, and a second one on the heap doubled every collection."""
    from tools_service.rag import segment

    rng = np.random.default_rng(1)
    vectors = rng.standard_normal((12, 16)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    docs = [
        segment.SegmentDoc(
            f"d{i}", [f"text {i}a", f"text {i}b"], [f"text {i}a", f"text {i}b"], vectors[2 * i : 2 * i + 2]
        )
        for i in range(6)
    ]
    written = segment.write(tmp_path / "seg-1", "seg-1", docs, "Flat")
    assert isinstance(written.vectors, np.memmap)
    np.testing.assert_array_equal(np.asarray(written.vectors), vectors)
    merged = segment.write_merged(tmp_path / "seg-2", "seg-2", [(written, np.arange(12) % 3 != 0)], "Flat")
    assert isinstance(merged.vectors, np.memmap)
    np.testing.assert_array_equal(np.asarray(merged.vectors), vectors[np.arange(12) % 3 != 0])
    assert merged.index.ntotal == 8


async def test_stats_say_while_a_background_merge_runs(data_dir: Path) -> None:
    """`merging` in the stats: true from the commit that schedules a merge until it lands
    (benchmarks wait for it before timing queries; operators see why a query is slower)."""
    from tools_service.rag.engine import RagEngine
    from tools_service.rag.ingest import ParsedFile

    s = make_settings(data_dir, rag_merge_factor=3, rag_merge_floor_rows=1, rag_merge_in_background=True)
    engine = RagEngine(s)
    try:
        await engine.create_collection("alice", "kb")
        for i in range(2):
            await engine.add_documents("alice", "kb", [ParsedFile(f"d{i}.txt", 60, _doc(i).decode())])
            await engine.merger.wait("alice", "kb")
        before = await engine.stats("alice", "kb")
        assert (before["merging"], len(before["segments"]), before["merges"]) == (False, 2, 0)
        # The third segment makes a tier of three: the commit schedules a merge, which can
        # only start once this task yields. The stats come from the cached snapshot (the
        # commit refreshed it) without yielding, so they see the merge pending.
        await engine.add_documents("alice", "kb", [ParsedFile("d2.txt", 60, _doc(2).decode())])
        during = await engine.stats("alice", "kb")
        assert (during["merging"], len(during["segments"]), during["merges"]) == (True, 3, 0)
        await engine.merger.wait("alice", "kb")
        after = await engine.stats("alice", "kb")
        assert (after["merging"], len(after["segments"]), after["merges"]) == (False, 1, 1)
    finally:
        await engine.close()
