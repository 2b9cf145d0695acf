"""What an uploaded file contains, for the model's prompt: `core.documents` does the work.

The descriptions are built by the same parser as RAG's text, in a child process with
memory, CPU and time limits (never on the thread pool that serves logins). A corrupt file
gets a "could not read" line; a file past the limits (a parser bomb) raises `TooLarge`,
which the upload answers with 413 naming the file.
"""

from __future__ import annotations

from core.documents import DocumentError, DocumentLimits, Source, TooLarge, describe_file
from core.documents.describe import MAX_CHARS
from settings import Settings

__all__ = ["describe", "MAX_CHARS", "DocumentError", "TooLarge"]


async def describe(filename: str, source: Source, settings: Settings) -> str:
    """`source` is the file's bytes or, for uploads, the path of the staged file (read by the child)."""
    return await describe_file(filename, source, DocumentLimits.from_settings(settings))
