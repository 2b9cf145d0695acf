"""A held-out retrieval collection assembled from this machine's English manual pages.

No BEIR collection installs offline (no PyPI or npm package ships one), so the held-out
test of the RAG defaults is a known-item collection built from public text that is here:
the manual pages under /usr/share/man/man[1-8] (Debian's packages, GPL/BSD-licensed docs).

- **Query** = the one-line summary of a page's NAME section with the page names removed
  ("ls \\- list directory contents" -> "list directory contents").
- **Document** = the rest of the page as plain text (SYNOPSIS, DESCRIPTION, OPTIONS, ...;
  SEE ALSO, AUTHOR, COPYRIGHT, REPORTING BUGS, HISTORY and COLOPHON left out), the roff
  markup stripped by a rough parser (fonts, escapes and requests dropped; macro arguments
  kept), cut to its first `MAX_CHARS` characters at a word boundary; title = the page's
  name and section, e.g. "ls(1)".
- **Relevance** (grade 1) is derived, not judged: a query's relevant documents are the
  pages whose summary is exactly that text (case-insensitive). Pages whose text is
  identical (aliases, translations left in the English tree) become one document.
- Pages that are links or `.so` redirects, whose text is under `MIN_CHARS`, or whose
  summary has fewer than 3 words are skipped. The paths are sorted and shuffled with a
  fixed seed, and pages are taken in that order until `n_docs` documents are collected:
  the collection is the same on every run on the same set of installed packages.

It was the first held-out collection; once its results had been seen it became a tuning
collection (bench/rag_tune.py), and bench/heldout_debian.py took over as the held-out one.
Written in BEIR's layout (corpus.jsonl, queries.jsonl, qrels/test.tsv) so bench/rag_eval.py
reads it like any other collection.

    .venv/bin/python bench/heldout.py [--docs 1200] [--out DIR]
"""

from __future__ import annotations

import argparse
import gzip
import hashlib
import json
import random
import re
import tempfile
from pathlib import Path

MAN_ROOT = Path("/usr/share/man")
MAX_CHARS = 1000
MIN_CHARS = 200
SEED = 13
PER_FAMILY = 3  # pages per family (name up to its first "_ . : -"): 16k gcloud pages would swamp it
SKIP_SECTIONS = {"NAME", "SEE ALSO", "AUTHOR", "AUTHORS", "COPYRIGHT", "REPORTING BUGS", "HISTORY", "COLOPHON"}
# macros whose arguments are text (man and mdoc); every other request line is dropped
TEXT_MACROS = set(
    "B I BR BI IB IR RB RI SM SB SS SH Sh Ss IP Nm Nd Ar Fl Op Oo Xr Pa Em Sy Li Cm Dv Ev Fn Fa Ft Va Vt "
    "Ql Dq Sq Pq Qq It Ic Er Ad An Cd Tn Ux Bx St Ms Mt Lk Ux Aq Bq Brq Xo Ns No Dl D1".split()
)
_ESCAPES = [
    (re.compile(r'\\".*$'), ""),  # comment
    (re.compile(r"\\[fF](\[[^\]]*\]|\(..|.)"), ""),  # font
    (re.compile(r"\\s[+-]?(\d|\(\d\d|\[[^\]]*\])"), ""),  # size
    (re.compile(r"\\[*n](\[[^\]]*\]|\(..|.)"), ""),  # strings, registers
    (re.compile(r"\\[hvwlLNDHSxoXbkzZRAY]'[^']*'"), ""),  # motions, widths, device controls
    (re.compile(r"\\\((em|en|hy|mi)"), "-"),
    (re.compile(r"\\\((lq|rq|dq|oq|cq)"), '"'),
    (re.compile(r"\\\(..|\\\[[^\]]*\]"), " "),  # other special characters
    (re.compile(r"\\[-]"), "-"),
    (re.compile(r"\\e"), "\\\\"),
    (re.compile(r"\\[&:/,|^%c0dupt!]"), ""),
    (re.compile(r"\\(.)"), r"\1"),
    (re.compile(r"\\$"), ""),  # line continuation
]


def _unescape(line: str) -> str:
    for pattern, repl in _ESCAPES:
        line = pattern.sub(repl, line)
    return line


def _args(rest: str) -> str:
    """A macro's arguments as text (quotes dropped; mdoc's punctuation kept)."""
    return " ".join(a.strip('"') for a in re.findall(r'"[^"]*"|\S+', rest))


def parse_page(raw: str) -> tuple[str, str] | None:
    """(summary, body) of one roff page, or None when it is not a usable page."""
    if raw.lstrip().startswith((".so ", "'so ")):
        return None
    sections: list[tuple[str, list[str]]] = [("", [])]
    skipping = False
    for line in raw.splitlines():
        if skipping:
            skipping = not line.startswith("..")
            continue
        if line.startswith((".", "'")):
            parts = line[1:].strip().split(None, 1)
            if not parts:
                continue
            name, rest = parts[0], (parts[1] if len(parts) > 1 else "")
            if name in ("de", "de1", "ig", "am"):
                skipping = True
                continue
            if name in ("SH", "Sh"):
                sections.append((_args(_unescape(rest)).upper(), []))
                continue
            if name not in TEXT_MACROS:
                continue
            line = _args(rest) if name != "IP" else _args(rest).split(" ")[0]  # IP: tag, indent
            if name == "Nd":  # mdoc's one-line summary: "name - summary", as in man pages
                line = f"- {line}"
        text = _unescape(line).strip()
        if text:
            sections[-1][1].append(text)
    named = [(title, " ".join(lines)) for title, lines in sections]
    name_text = next((text for title, text in named if title == "NAME"), "")
    summary = re.split(r"\s+-+\s+", name_text, maxsplit=1)
    if len(summary) < 2:
        return None
    body = " ".join(text for title, text in named if title not in SKIP_SECTIONS and text)
    return re.sub(r"\s+", " ", summary[1]).strip(), re.sub(r"\s+", " ", body).strip()


def _pages() -> list[Path]:
    files = sorted(p for d in sorted(MAN_ROOT.glob("man[1-8]")) for p in d.iterdir() if p.is_file())
    return [p for p in files if not p.is_symlink()]


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0]


def collect(n_docs: int, seed: int = SEED) -> tuple[list[dict], dict[str, str], dict[str, set[str]]]:
    """Corpus rows, queries (id -> text) and relevance (query id -> document ids)."""
    pages = _pages()
    random.Random(seed).shuffle(pages)
    docs: dict[str, dict] = {}  # text hash -> corpus row
    by_summary: dict[str, set[str]] = {}  # lower-cased summary -> document ids
    texts: dict[str, str] = {}
    families: dict[str, int] = {}
    for path in pages:
        if len(docs) >= n_docs:
            break
        family = re.split(r"[_.:-]", path.name, maxsplit=1)[0].lower()
        if families.get(family, 0) >= PER_FAMILY:
            continue
        try:
            raw = gzip.decompress(path.read_bytes()).decode("utf-8", "replace") if path.suffix == ".gz" else ""
        except OSError:
            continue
        parsed = parse_page(raw)
        if parsed is None:
            continue
        summary, body = parsed
        body = cut(body, MAX_CHARS)
        if len(body) < MIN_CHARS or len(re.findall(r"[A-Za-z]+", summary)) < 3:
            continue
        families[family] = families.get(family, 0) + 1
        key = hashlib.sha1(body.encode()).hexdigest()[:16]
        if key not in docs:
            page = path.name.removesuffix(".gz")
            stem, _, section = page.rpartition(".")
            docs[key] = {"_id": f"m{len(docs) + 1}", "title": f"{stem}({section})", "text": body}
        by_summary.setdefault(summary.lower(), set()).add(docs[key]["_id"])
        texts.setdefault(summary.lower(), summary)
    queries = {str(i): texts[s] for i, s in enumerate(sorted(by_summary), start=1)}
    qrels = {str(i): by_summary[s] for i, s in enumerate(sorted(by_summary), start=1)}
    return list(docs.values()), queries, qrels


def build_manpages(n_docs: int = 1200, out: Path | None = None) -> Path:
    """Write the collection in BEIR's layout (into a temp folder unless `out`); its path."""
    out = out or Path(tempfile.gettempdir()) / f"rag-heldout-manpages-{n_docs}"
    write_beir(out, *collect(n_docs))
    return out


def write_beir(out: Path, corpus: list[dict], queries: dict[str, str], qrels: dict[str, set[str]]) -> None:
    """corpus.jsonl, queries.jsonl and qrels/test.tsv (grade 1) under `out`."""
    (out / "qrels").mkdir(parents=True, exist_ok=True)
    (out / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (out / "queries.jsonl").write_text("".join(json.dumps({"_id": q, "text": t}) + "\n" for q, t in queries.items()))
    rows = [f"{q}\t{d}\t1\n" for q, docs in qrels.items() for d in sorted(docs)]
    (out / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\n" + "".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=1200)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    out = build_manpages(args.docs, args.out)
    n_docs = sum(1 for _ in (out / "corpus.jsonl").open())
    n_queries = sum(1 for _ in (out / "queries.jsonl").open())
    print(f"{out}: {n_docs} documents, {n_queries} queries")


if __name__ == "__main__":
    main()
