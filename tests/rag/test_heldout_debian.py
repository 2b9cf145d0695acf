"""The second held-out collection's builder (bench/heldout_debian.py): Debian descriptions."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"


@pytest.fixture
def debian() -> ModuleType:
    sys.path.insert(0, str(BENCH))  # it imports bench/heldout.py as `heldout`
    try:
        spec = importlib.util.spec_from_file_location("heldout_debian", BENCH / "heldout_debian.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(BENCH))


LONG = " Walks a tree and prints every entry it meets, sorted by name, with sizes.\n" * 4
TRANSLATION = f"""Package: walk
Description-md5: 1
Description-en: walk prints the entries of a tree
{LONG} .
 A second paragraph.

Package: walk-doc
Description-md5: 2
Description-en: documentation for the entries printer
{LONG}
Package: trek
Description-md5: 3
Description-en: prints the entries of a tree
{LONG.replace("Walks", "Treks")}
Package: alias
Description-md5: 4
Description-en: Prints the entries of a TREE
{LONG}
Package: tiny
Description-md5: 5
Description-en: a package with a tiny description
 Too short.
"""


def test_descriptions_become_text(debian: ModuleType) -> None:
    stanzas = debian.parse_stanzas(TRANSLATION)
    assert [s["Package"] for s in stanzas] == ["walk", "walk-doc", "trek", "alias", "tiny"]
    synopsis, body = debian.long_text(stanzas[0]["Description-en"])
    assert synopsis == "walk prints the entries of a tree"
    assert body.startswith("Walks a tree and prints") and body.endswith("with sizes.\n\nA second paragraph.")
    assert debian.strip_name(synopsis, "walk") == "prints the entries of a tree"
    assert debian.strip_name("walk-doc: walk docs", "walk") == "walk-doc: docs"  # whole names only


def test_collection_merges_duplicates_caps_sources_and_is_deterministic(debian: ModuleType) -> None:
    stanzas = debian.parse_stanzas(TRANSLATION)
    corpus, queries, qrels = debian.collect(stanzas, {}, 10)
    assert len(corpus) == 3  # walk-doc and alias share their text: one document; tiny is too short
    by_text = {t.lower(): q for q, t in queries.items()}
    assert set(by_text) == {"prints the entries of a tree", "documentation for the entries printer"}
    merged = qrels[by_text["documentation for the entries printer"]]
    assert len(merged) == 1
    # walk (its name removed), trek, and alias (same synopsis up to case), which is the merged document
    assert len(qrels[by_text["prints the entries of a tree"]]) == 3
    assert merged <= qrels[by_text["prints the entries of a tree"]]
    assert debian.collect(stanzas, {}, 10) == (corpus, queries, qrels)

    capped, _, _ = debian.collect(stanzas, {"walk-doc": "walk"}, 10)  # one source package: one of them
    titles = [d["title"] for d in capped]
    assert len({"walk", "walk-doc"} & set(titles)) == 1 and "trek" in titles


def test_the_release_file_names_the_checksum(debian: ModuleType, tmp_path: Path) -> None:
    release = tmp_path / "InRelease"
    release.write_text(
        "Origin: Debian\nMD5Sum:\n aaaa 10 main/i18n/Translation-en.xz\n"
        "SHA256:\n bbbb 10 main/i18n/Translation-en\n cccc 10 main/i18n/Translation-en.xz\n"
    )
    assert debian.expected_sha256(release) == "cccc"
    with pytest.raises(LookupError):
        debian.expected_sha256(release, "main/i18n/Translation-de.xz")
