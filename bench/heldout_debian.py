"""A second held-out retrieval collection: Debian package descriptions (bookworm, main).

The man-page collection (bench/heldout.py) was the first held-out test of the RAG
defaults. Once its results had been seen it could no longer be called held out, so it
became a tuning collection, and this one took its place. The recipe below was written
and committed before any retrieval ran on it.

- **Source**: `main/i18n/Translation-en.xz` of Debian bookworm (the English package
  descriptions, public), fetched from deb.debian.org (a package archive this machine
  reaches) or given with `--translation`, and checked against the SHA256 that this
  machine's signed apt index (`/var/lib/apt/lists/*bookworm_InRelease`) lists for it.
  The `Source:` field of each binary package comes from the same release's local
  `Packages` index.
- **Query** = a package's one-line synopsis with the package's name removed
  ("Real-time strategy game of ancient warfare").
- **Document** = its long description as text (paragraph marks " ." become blank lines),
  cut to its first `MAX_CHARS` characters at a word boundary; title = the package name.
- **Relevance** (grade 1) is derived: a query's relevant documents are the sampled
  packages whose synopsis is exactly that text (case-insensitive). Packages whose long
  description is identical become one document.
- **Sampling**: packages sorted by name and shuffled with a fixed seed, then taken in
  that order, at most `PER_SOURCE` per source package (a source's binaries share most
  of their description), skipping long descriptions under `MIN_CHARS` and synopses of
  fewer than 3 words, until `n_docs` documents are collected.

    .venv/bin/python bench/heldout_debian.py [--docs 2000] [--out DIR] [--translation FILE]
"""

from __future__ import annotations

import argparse
import hashlib
import lzma
import random
import re
import subprocess
import tempfile
from pathlib import Path

import httpx
from heldout import MAX_CHARS, MIN_CHARS, SEED, cut, write_beir

LISTS = Path("/var/lib/apt/lists")
RELEASE = "deb.debian.org_debian_dists_bookworm_"
MEMBER = "main/i18n/Translation-en.xz"
URL = f"https://deb.debian.org/debian/dists/bookworm/{MEMBER}"
PER_SOURCE = 1


def expected_sha256(in_release: Path, member: str = MEMBER) -> str:
    """The SHA256 the release file lists for `member`."""
    in_sha = False
    for line in in_release.read_text(errors="replace").splitlines():
        if not line.startswith(" "):
            in_sha = line.startswith("SHA256:")
            continue
        parts = line.split()
        if in_sha and len(parts) == 3 and parts[2] == member:
            return parts[0]
    raise LookupError(f"{member} is not listed in {in_release}")


def fetch_translation(cache: Path, in_release: Path) -> Path:
    """Translation-en.xz, downloaded once into `cache` and checked against the release."""
    want = expected_sha256(in_release)
    path = cache / f"Translation-en-{want[:16]}.xz"
    if not path.exists():
        cache.mkdir(parents=True, exist_ok=True)
        data = httpx.get(URL, timeout=300, follow_redirects=True).raise_for_status().content
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise RuntimeError(f"{URL}: sha256 {got}, the release lists {want} (has the archive moved on?)")
        path.write_bytes(data)
    return path


def parse_stanzas(text: str) -> list[dict[str, str]]:
    """Debian control stanzas (field -> value; continuation lines kept with their newline)."""
    out: list[dict[str, str]] = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        last = ""
        for line in block.splitlines():
            if line.startswith((" ", "\t")) and last:
                fields[last] += "\n" + line
            elif ":" in line:
                last, _, value = line.partition(":")
                fields[last] = value.strip()
        if fields:
            out.append(fields)
    return out


def long_text(description: str) -> tuple[str, str]:
    """(synopsis, long description as text) of a Description field."""
    synopsis, _, rest = description.partition("\n")
    paragraphs: list[list[str]] = [[]]
    for line in rest.splitlines():
        line = line[1:] if line.startswith(" ") else line
        if line.strip() == ".":
            paragraphs.append([])
        else:
            paragraphs[-1].append(line.strip())
    body = "\n\n".join(" ".join(p) for p in paragraphs if p)
    return synopsis.strip(), re.sub(r"[ \t]+", " ", body).strip()


def strip_name(synopsis: str, name: str) -> str:
    return re.sub(r"\s+", " ", re.sub(rf"(?<![\w.+-]){re.escape(name)}(?![\w+-])", " ", synopsis, flags=re.I)).strip()


def collect(
    translations: list[dict[str, str]], sources: dict[str, str], n_docs: int, seed: int = SEED
) -> tuple[list[dict], dict[str, str], dict[str, set[str]]]:
    """Corpus rows, queries (id -> text) and relevance (query id -> document ids)."""
    packages = sorted((t for t in translations if "Package" in t and "Description-en" in t), key=lambda t: t["Package"])
    random.Random(seed).shuffle(packages)
    docs: dict[str, dict] = {}  # text hash -> corpus row
    by_synopsis: dict[str, set[str]] = {}
    texts: dict[str, str] = {}
    per_source: dict[str, int] = {}
    for stanza in packages:
        if len(docs) >= n_docs:
            break
        name = stanza["Package"]
        source = sources.get(name, name)
        if per_source.get(source, 0) >= PER_SOURCE:
            continue
        synopsis, body = long_text(stanza["Description-en"])
        query = strip_name(synopsis, name)
        body = cut(body, MAX_CHARS)
        if len(body) < MIN_CHARS or len(re.findall(r"[A-Za-z]+", query)) < 3:
            continue
        per_source[source] = per_source.get(source, 0) + 1
        key = hashlib.sha1(body.encode()).hexdigest()[:16]
        if key not in docs:
            docs[key] = {"_id": f"d{len(docs) + 1}", "title": name, "text": body}
        by_synopsis.setdefault(query.lower(), set()).add(docs[key]["_id"])
        texts.setdefault(query.lower(), query)
    ordered = sorted(by_synopsis)
    queries = {str(i): texts[s] for i, s in enumerate(ordered, start=1)}
    qrels = {str(i): by_synopsis[s] for i, s in enumerate(ordered, start=1)}
    return list(docs.values()), queries, qrels


def source_packages(lists: Path = LISTS) -> dict[str, str]:
    """Binary package -> source package, from the local bookworm main Packages index."""
    index = next(lists.glob(f"{RELEASE}main_binary-amd64_Packages*"))
    raw = subprocess.run(["/usr/lib/apt/apt-helper", "cat-file", str(index)], capture_output=True, check=True).stdout
    return {
        s["Package"]: s.get("Source", s["Package"]).split(" ")[0]
        for s in parse_stanzas(raw.decode("utf-8", "replace"))
        if "Package" in s
    }


def build_debian(n_docs: int = 2000, out: Path | None = None, translation: Path | None = None) -> Path:
    """Write the collection in BEIR's layout (into a temp folder unless `out`); its path."""
    out = out or Path(tempfile.gettempdir()) / f"rag-heldout-debian-{n_docs}"
    in_release = LISTS / f"{RELEASE}InRelease"
    translation = translation or fetch_translation(Path(tempfile.gettempdir()) / "rag-heldout-cache", in_release)
    if hashlib.sha256(translation.read_bytes()).hexdigest() != expected_sha256(in_release):
        raise RuntimeError(f"{translation} is not the file the release lists")
    stanzas = parse_stanzas(lzma.decompress(translation.read_bytes()).decode("utf-8", "replace"))
    corpus, queries, qrels = collect(stanzas, source_packages(), n_docs)
    write_beir(out, corpus, queries, qrels)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=2000)
    parser.add_argument("--out", type=Path)
    parser.add_argument("--translation", type=Path, help="a local copy of bookworm's main Translation-en.xz")
    args = parser.parse_args()
    out = build_debian(args.docs, args.out, args.translation)
    n_docs = sum(1 for _ in (out / "corpus.jsonl").open())
    n_queries = sum(1 for _ in (out / "queries.jsonl").open())
    print(f"{out}: {n_docs} documents, {n_queries} queries")


if __name__ == "__main__":
    main()
