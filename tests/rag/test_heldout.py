"""The held-out collection builder (bench/heldout.py): roff to text, queries and relevance."""

from __future__ import annotations

import gzip
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "heldout.py"


@pytest.fixture
def heldout() -> ModuleType:
    spec = importlib.util.spec_from_file_location("heldout", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["heldout"] = module
    spec.loader.exec_module(module)
    return module


LONG = "It walks the tree and prints every entry it meets, sorted by name, with sizes. " * 4

MAN = f""".\\" a comment
.de Xx
.ft CW
..
.TH WALK 1
.SH NAME
walk, wk \\- print \\
the \\fBentries\\fR of a tree
.SH SYNOPSIS
.B walk
[\\fI\\,DIR\\/\\fR]
.SH DESCRIPTION
.PP
{LONG}
.TP 2m
\\fB\\-a\\fR
show hidden entries
.SH SEE ALSO
.BR ls (1)
"""

MDOC = f""".Dd May 1, 2020
.Dt FIND 1
.Sh NAME
.Nm hunt
.Nd search for files in a directory hierarchy
.Sh DESCRIPTION
The
.Nm
utility {LONG}
"""


def test_parse_page_keeps_text_and_drops_markup(heldout: ModuleType) -> None:
    summary, body = heldout.parse_page(MAN)
    assert summary == "print the entries of a tree"  # page names gone, continuation joined
    assert body.startswith("walk [DIR] It walks the tree")
    assert "-a show hidden entries" in body
    assert "\\" not in body and "ft CW" not in body and "2m" not in body
    assert "ls" not in body.split()  # SEE ALSO left out
    summary, body = heldout.parse_page(MDOC)
    assert summary == "search for files in a directory hierarchy"
    assert body.startswith("The utility It walks")  # a bare .Nm (the name again) is dropped
    assert heldout.parse_page(".so man1/walk.1\n") is None


def test_collection_merges_duplicates_and_is_deterministic(
    heldout: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "man1").mkdir()
    pages = {
        "walk.1": MAN,
        "walk2.1": MAN,  # same text: one document
        "trek.1": MAN.replace("It walks", "It treks"),  # same summary, other text: 2 relevant
        "hunt.1": MDOC,
        "alias.1": ".so man1/hunt.1\n",
        "short.1": ".SH NAME\nshort \\- a short page here\n.SH DESCRIPTION\ntoo short\n",
    }
    for name, text in pages.items():
        (tmp_path / "man1" / f"{name}.gz").write_bytes(gzip.compress(text.encode()))
    monkeypatch.setattr(heldout, "MAN_ROOT", tmp_path)
    corpus, queries, qrels = heldout.collect(10)
    assert len(corpus) == 3
    by_text = {t: q for q, t in queries.items()}
    assert set(by_text) == {"print the entries of a tree", "search for files in a directory hierarchy"}
    assert len(qrels[by_text["print the entries of a tree"]]) == 2
    assert len(qrels[by_text["search for files in a directory hierarchy"]]) == 1
    assert heldout.collect(10) == (corpus, queries, qrels)
    out = heldout.build_manpages(10, tmp_path / "beir")
    assert (out / "qrels" / "test.tsv").read_text().count("\n") == 1 + 3


def test_paired_bootstrap_interval_brackets_the_mean_difference(monkeypatch: pytest.MonkeyPatch) -> None:
    """bench/rag_eval.py's interval for "defaults minus BM25": per-query differences,
    resampled in pairs; identical runs give exactly 0, and the interval holds the mean."""
    monkeypatch.syspath_prepend(str(BENCH.parent))
    spec = importlib.util.spec_from_file_location("rag_eval", BENCH.parent / "rag_eval.py")
    assert spec is not None and spec.loader is not None
    rag_eval = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rag_eval)
    qrels = {str(i): {f"d{i}": 1} for i in range(40)}
    better = {q: [f"d{q}"] if int(q) % 4 else ["miss"] for q in qrels}  # 30 of 40 found first
    worse = {q: ["miss", f"d{q}"] if int(q) % 2 else ["miss"] for q in qrels}  # 20 found second
    assert rag_eval.paired_interval(better, better, qrels) == (0.0, 0.0, 0.0)
    mean, lo, hi = rag_eval.paired_interval(better, worse, qrels)
    expected = sum(rag_eval.ndcg_at(better[q], qrels[q]) - rag_eval.ndcg_at(worse[q], qrels[q]) for q in qrels) / 40
    assert mean == pytest.approx(expected) and lo < mean < hi
    assert rag_eval.paired_interval(better, worse, qrels) == (mean, lo, hi)  # fixed seed
