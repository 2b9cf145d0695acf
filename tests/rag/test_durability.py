"""Concurrent clients lose nothing; crashes leave the previous index usable; restarts reload."""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from settings import Settings
from tests.rag.conftest import API, ServerFactory
from tests.rag.helpers import HashEmbeddings
from tools_service.rag import store


def _doc(i: int) -> bytes:
    return f"Document {i} is about the unique subject word{i}x and nothing else.".encode()


def test_concurrent_uploads_queries_and_deletes_lose_nothing(rag_server: ServerFactory, settings: Settings) -> None:
    with rag_server() as server:
        setup = server.client()
        setup.create("kb")
        doomed = setup.upload("kb", {f"old{i}.txt": _doc(1000 + i) for i in range(6)}).json()["data"]["document_ids"]

        def upload(i: int) -> list[str]:
            client = server.client()
            resp = client.upload("kb", {f"new{i}a.txt": _doc(i), f"new{i}b.txt": _doc(100 + i)})
            assert resp.status_code == 200, resp.text
            return resp.json()["data"]["document_ids"]  # type: ignore[no-any-return]

        def delete(doc_id: str) -> None:
            resp = server.client().http.delete(f"{API}/collections/kb/documents/{doc_id}")
            assert resp.status_code == 200, resp.text

        def query(i: int) -> None:
            resp = server.client().query("kb", f"subject word{i}x", top_k=5)
            assert resp.status_code == 200, resp.text

        with ThreadPoolExecutor(12) as pool:
            uploads = [pool.submit(upload, i) for i in range(12)]
            deletes = [pool.submit(delete, d) for d in doomed]
            queries = [pool.submit(query, i) for i in range(30)]
            added = [doc for f in uploads for doc in f.result()]
            for f in deletes + queries:
                f.result()

        listed = {d["id"] for d in setup.documents("kb")}
        assert listed == set(added)
        for i in range(12):
            top = setup.results("kb", f"word{i}x", top_k=1)[0]
            assert top["filename"] == f"new{i}a.txt"
        for i in range(6):
            assert all(r["document_id"] not in doomed for r in setup.results("kb", f"word{1000 + i}x", top_k=50))

    # what is on disk is exactly what was committed: a fresh load agrees
    snap = store.load(settings.data_dir / "rag" / "alice" / "kb")
    assert set(snap.documents) == set(added) and snap.size == 24
    assert sum(v.live_rows for v in snap.views) == 24
    assert all(v.segment.index.ntotal == v.segment.size for v in snap.views)


def test_embedder_crash_mid_upload_keeps_previous_index(rag_server: ServerFactory, settings: Settings) -> None:
    embeddings = HashEmbeddings(fail_after=None)
    with rag_server(embeddings=embeddings) as server:
        alice = server.client()
        alice.create("kb")
        alice.upload("kb", {"first.txt": b"the first document mentions giraffes"})
        embeddings.fail_after = embeddings.embedded + 1  # the next batch dies midway
        resp = alice.upload("kb", {"a.txt": b"alpha zebra text", "b.txt": b"beta zebra text", "c.txt": b"gamma"})
        assert resp.status_code == 503 and "nothing was indexed" in resp.json()["error"]["message"]
        assert [d["filename"] for d in alice.documents("kb")] == ["first.txt"]
        assert alice.results("kb", "giraffes")[0]["filename"] == "first.txt"
        assert all(r["filename"] == "first.txt" for r in alice.results("kb", "zebra", top_k=10))
        embeddings.fail_after = None
        assert alice.upload("kb", {"later.txt": b"zebra later"}).status_code == 200
        assert alice.results("kb", "zebra later", top_k=1)[0]["filename"] == "later.txt"


def test_crash_before_manifest_replace_keeps_previous_index(
    rag_server: ServerFactory, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Simulates the process dying after the new document and index files are written
    but before the manifest switch: the next start serves the previous version."""
    path = settings.data_dir / "rag" / "alice" / "kb"
    with rag_server() as server:
        alice = server.client()
        alice.create("kb")
        alice.upload("kb", {"first.txt": b"the first document mentions giraffes"})
        real_replace = os.replace

        def dying_replace(src: str, dst: str | Path) -> None:
            if Path(dst).name == store.MANIFEST:
                raise SystemExit("power cut")  # not an Exception: nothing of ours may catch it
            real_replace(src, dst)

        monkeypatch.setattr(store.os, "replace", dying_replace)
        resp = alice.upload("kb", {"second.txt": b"the second document mentions zebras"})
        assert resp.status_code >= 500
        monkeypatch.setattr(store.os, "replace", real_replace)
        assert len(list(path.glob("seg-*"))) == 2  # the new segment was written, never committed

    with rag_server() as server:  # restart on the same DATA_DIR
        alice = server.client()
        assert [d["filename"] for d in alice.documents("kb")] == ["first.txt"]
        assert alice.results("kb", "giraffes")[0]["filename"] == "first.txt"
        assert alice.upload("kb", {"third.txt": b"third mentions okapis"}).status_code == 200
        assert len(list(path.glob("seg-*"))) == 2  # the uncommitted segment was collected
        assert not list(path.glob(".tmp-*"))
        assert {d["filename"] for d in alice.documents("kb")} == {"first.txt", "third.txt"}
        assert all(r["filename"] != "second.txt" for r in alice.results("kb", "zebras", top_k=5))


def test_restart_reloads_collections(rag_server: ServerFactory, settings: Settings) -> None:
    with rag_server() as server:
        alice = server.client()
        alice.create("kb")
        alice.upload("kb", {f"d{i}.txt": _doc(i) for i in range(5)})
        before = alice.results("kb", "subject word3x", top_k=5)
    with rag_server() as server:
        after = server.client().results("kb", "subject word3x", top_k=5)
        assert after == before and after[0]["filename"] == "d3.txt"
        collections = server.client().http.get(f"{API}/collections").json()["data"]["collections"]
        assert collections == [{"name": "kb", "documents": 5, "chunks": 5}]


def test_two_workers_on_one_data_dir_see_each_others_commits(rag_server: ServerFactory) -> None:
    with rag_server() as first, rag_server() as second:
        a, b = first.client(), second.client()
        a.create("kb")
        a.upload("kb", {"one.txt": b"one mentions lemurs"})
        b.upload("kb", {"two.txt": b"two mentions otters"})
        assert {d["filename"] for d in a.documents("kb")} == {"one.txt", "two.txt"}
        assert a.results("kb", "otters", top_k=1)[0]["filename"] == "two.txt"
        doc = next(d["id"] for d in b.documents("kb") if d["filename"] == "one.txt")
        b.http.delete(f"{API}/collections/kb/documents/{doc}")
        assert all(r["filename"] != "one.txt" for r in a.results("kb", "lemurs", top_k=5))


@pytest.mark.parametrize("index_type", ["IVF", "HNSW"])
def test_approximate_indexes(rag_server: ServerFactory, data_dir: Path, index_type: str) -> None:
    from tests.conftest import make_settings

    s = make_settings(
        data_dir, rag_index_type=index_type, rag_chunking_strategy="sentence", rag_chunk_size=60, rag_chunk_overlap=0
    )
    text = " ".join(f"Line {i} names token{i}q." for i in range(2200)).encode()
    with rag_server(settings_=s, embeddings=HashEmbeddings(dim=4096)) as server:
        alice = server.client()
        alice.create("big")
        assert alice.upload("big", {"big.txt": text}).status_code == 200
        alice.upload("big", {"more.txt": b"An extra line names tokenextraq."})
        for mode in ("dense", "hybrid"):
            hits = alice.results("big", "token777q", top_k=3, mode=mode)
            assert any("token777q" in hit["text"] for hit in hits), (mode, hits)
        assert "tokenextraq" in alice.results("big", "tokenextraq", top_k=1)[0]["text"]
    snap = store.load(data_dir / "rag" / "alice" / "big")
    expected = "IndexIVFFlat" if index_type == "IVF" else "IndexHNSWFlat"
    big = max(snap.views, key=lambda v: v.segment.size).segment
    assert type(big.index).__name__ == expected and big.index.ntotal == big.size > 1024


def test_damaged_storage_answers_503_not_500(rag_server: ServerFactory, settings: Settings) -> None:
    with rag_server() as server:
        alice = server.client()
        alice.create("kb")
        alice.upload("kb", {"a.txt": b"some text"})
    (settings.data_dir / "rag" / "alice" / "kb" / store.MANIFEST).write_text("{not json")
    with rag_server() as server:
        alice = server.client()
        resp = alice.query("kb", "text")
        assert resp.status_code == 503 and "could not be loaded" in resp.json()["error"]["message"]
        assert alice.http.get(f"{API}/collections/kb/documents").status_code == 503
        assert alice.http.get(f"{API}/collections").json()["data"]["collections"] == []
