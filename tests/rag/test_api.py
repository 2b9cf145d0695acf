"""The RAG HTTP API end to end: collections, uploads, queries, deletes, per-user isolation."""

from __future__ import annotations

from tests.rag.conftest import API, ServerFactory

DOCS = {
    "cats.txt": b"Cats are small domesticated felines. Cats purr and chase mice around the barn.",
    "rockets.md": b"# Rockets\n\nLiquid fuel rockets burn kerosene and liquid oxygen to reach orbit.",
    "bread.txt": b"Sourdough bread rises slowly with wild yeast and flour and water.",
}


def test_collection_crud_and_query(rag_server: ServerFactory) -> None:
    with rag_server() as server:
        alice = server.client("alice")
        assert alice.create("kb").status_code == 201
        assert alice.create("kb").status_code == 409
        bad = alice.create("../etc")
        assert bad.status_code == 400 and bad.json()["error"]["message"]
        assert alice.http.post(f"{API}/query", json={"collection": "bad name", "query": "x"}).status_code == 400

        resp = alice.upload("kb", DOCS)
        assert resp.status_code == 200, resp.text
        ids = resp.json()["data"]["document_ids"]
        assert len(ids) == 3 and len(set(ids)) == 3
        listed = alice.documents("kb")
        assert {d["filename"] for d in listed} == set(DOCS)

        results = alice.results("kb", "why do cats purr", top_k=3)
        assert results[0]["filename"] == "cats.txt"
        assert set(results[0]) >= {"document_id", "filename", "chunk_id", "text", "score"}
        assert [r["score"] for r in results] == sorted((r["score"] for r in results), reverse=True)
        assert all(0 <= r["score"] <= 1 for r in results)

        collections = alice.http.get(f"{API}/collections").json()["data"]["collections"]
        assert collections == [{"name": "kb", "documents": 3, "chunks": 3}]

        cats_id = next(d["id"] for d in listed if d["filename"] == "cats.txt")
        assert alice.http.delete(f"{API}/collections/kb/documents/{cats_id}").status_code == 200
        assert alice.http.delete(f"{API}/collections/kb/documents/{cats_id}").status_code == 404
        for mode in ("hybrid", "dense", "sparse"):
            found = alice.results("kb", "cats purr mice felines", top_k=10, mode=mode)
            assert all(r["document_id"] != cats_id for r in found), mode

        assert alice.http.delete(f"{API}/collections/kb").status_code == 200
        assert alice.query("kb", "cats").status_code == 404
        assert alice.http.delete(f"{API}/collections/kb").status_code == 404
        assert alice.http.get(f"{API}/collections").json()["data"]["collections"] == []


def test_users_never_see_each_other(rag_server: ServerFactory) -> None:
    with rag_server() as server:
        alice, bob = server.client("alice"), server.client("bob")
        alice.create("private")
        alice.upload("private", {"secret.txt": b"alice secret launch codes"})
        assert bob.http.get(f"{API}/collections").json()["data"]["collections"] == []
        assert bob.query("private", "launch codes").status_code == 404
        assert bob.upload("private", {"x.txt": b"bob text"}).status_code == 404
        doc_id = alice.documents("private")[0]["id"]
        assert bob.http.delete(f"{API}/collections/private/documents/{doc_id}").status_code == 404
        assert bob.http.delete(f"{API}/collections/private").status_code == 404
        # the same name is an independent collection for bob
        assert bob.create("private").status_code == 201
        assert bob.results("private", "launch codes") == []
        assert alice.results("private", "launch codes")[0]["filename"] == "secret.txt"
        # the service key acts for the user it names, no one else
        headers = {"X-API-Key": server.settings.tools_key, "X-User-Id": "bob"}
        service = bob.http.post(f"{API}/query", json={"collection": "private", "query": "launch"}, headers=headers)
        assert service.status_code == 200 and service.json()["data"]["results"] == []
        assert server.client("alice").http.get(f"{API}/collections", headers={"Authorization": ""}).status_code == 401


def test_upload_errors_refuse_the_whole_batch(rag_server: ServerFactory, data_dir) -> None:  # type: ignore[no-untyped-def]
    from tests.conftest import make_settings

    with rag_server(settings_=make_settings(data_dir, max_file_size_mb=1)) as server:
        alice = server.client()
        alice.create("kb")
        alice.upload("kb", {"keep.txt": b"already indexed text"})
        before = alice.documents("kb")

        resp = alice.upload("kb", {"ok.txt": b"fine", "virus.exe": b"MZ\x90\x00"})
        assert resp.status_code == 415 and "virus.exe" in resp.json()["error"]["message"]

        resp = alice.upload("kb", {"ok.txt": b"fine", "big.txt": b"a " * (1024 * 1024)})
        assert resp.status_code == 413 and "big.txt" in resp.json()["error"]["message"]

        resp = alice.upload("kb", {"ok.txt": b"fine text", "broken.pdf": b"%PDF-1.4 garbage", "bad.docx": b"PK nope"})
        assert resp.status_code == 422
        message = resp.json()["error"]["message"]
        assert "broken.pdf" in message and "bad.docx" in message and "ok.txt" not in message.split("could not")[1]
        assert "nothing was indexed" in message

        resp = alice.upload("kb", {"empty.txt": b"   \n  "})
        assert resp.status_code == 422 and "empty.txt" in resp.json()["error"]["message"]
        assert alice.documents("kb") == before
        assert alice.upload("nope", {"ok.txt": b"fine"}).status_code == 404


def test_tools_list_describes_rag(rag_server: ServerFactory) -> None:
    with rag_server() as server:
        tools = server.client().http.get("/api/tools/list").json()["tools"]
        rag = {t["name"]: t for t in tools if t["name"].startswith("rag_")}
        assert set(rag) == {"rag_query", "rag_list_collections"}
        status = rag["rag_query"]["status"]
        assert status["reranking"]["enabled"] is False and "RAG_RERANKER_MODEL" in status["reranking"]["reason"]
        assert status["embedding_model"].startswith("injected:")
