"""Every supported format parses with the network off, and is searchable over HTTP."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from tests.rag.conftest import ServerFactory
from tests.rag.helpers import sample_files
from tools_service.rag.parsing import SUPPORTED_EXTENSIONS, ParseError, UnsupportedType, parse_document

MARKERS = {
    "notes.txt": "alphatxt",
    "readme.md": "betamd",
    "data.json": "gammajson",
    "table.csv": "deltacsv",
    "paper.pdf": "epsilonpdf",
    "letter.docx": "zetadocx",
    "old.xls": "etaxls",
    "sheet.xlsx": "thetaxlsx",
}


@pytest.fixture
def network_off(monkeypatch: pytest.MonkeyPatch) -> list[Any]:
    """Refuse every connection that leaves the machine (loopback stays, for our own server)."""
    attempts: list[Any] = []
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if isinstance(host, str) and host not in ("127.0.0.1", "::1", "localhost") and self.family != socket.AF_UNIX:
            attempts.append(address)
            raise OSError("network is off in this test")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)
    real_getaddrinfo = socket.getaddrinfo

    def local_only(host: Any, *args: Any, **kwargs: Any) -> Any:
        if host not in ("127.0.0.1", "::1", "localhost", None):
            attempts.append(host)
            raise socket.gaierror("no DNS: network is off in this test")
        return real_getaddrinfo(host, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", local_only)
    return attempts


def test_every_format_parses_offline(network_off: list[Any]) -> None:
    files = sample_files()
    assert {name[name.rindex(".") :] for name in files} == set(SUPPORTED_EXTENSIONS)
    for name, data in files.items():
        assert MARKERS[name] in parse_document(name, data)
    assert network_off == []


def test_every_format_is_searchable_over_http(rag_server: ServerFactory, network_off: list[Any]) -> None:
    with rag_server() as server:
        alice = server.client()
        alice.create("formats")
        resp = alice.upload("formats", sample_files())
        assert resp.status_code == 200, resp.text
        # Sparse: each marker is a word only its own file contains, so BM25 must find it (the
        # test's hash embeddings carry no meaning, and fused rankings would mix them in).
        for name, marker in MARKERS.items():
            assert alice.results("formats", marker, top_k=1, mode="sparse")[0]["filename"] == name
    assert network_off == []


def test_parse_errors_name_the_file() -> None:
    with pytest.raises(UnsupportedType, match=r"tool\.exe"):
        parse_document("tool.exe", b"MZ")
    for name, data in {
        "x.pdf": b"not a pdf",
        "x.docx": b"zip?",
        "x.xlsx": b"zip?",
        "x.xls": b"\xd0\xcf\x11\xe0",
        "x.json": b"{nope",
        "blank.txt": b"  ",
    }.items():
        with pytest.raises(ParseError, match=name.replace(".", r"\.")):
            parse_document(name, data)
    # undecodable bytes are kept (latin-1), not dropped
    assert "caf\xe9" in parse_document("legacy.txt", b"caf\xe9 au lait")
