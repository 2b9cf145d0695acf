"""Stop sequences on a streamed agent answer: split across chunks, several of them, none."""

from __future__ import annotations

import pytest

from app.services.stops import StopFilter, cut


def stream(chunks: list[str], stops: list[str]) -> str:
    f = StopFilter(stops)
    return "".join(f.feed(c) for c in chunks) + f.flush()


@pytest.mark.parametrize(
    ("chunks", "stops", "expected"),
    [
        (["alpha be", "ta E", "ND gamma"], ["END"], "alpha beta "),
        (["a", "b", "c", "d"], ["x"], "abcd"),
        (["one\n", "\ntwo"], ["\n\n", "two"], "one"),
        (["abc"], ["c", "b"], "a"),  # the earliest stop wins, whatever its order in the list
        (["E", "N", "D"], ["END"], ""),
        (["xEN"], ["END"], "xEN"),  # a partial stop at the end is text after all
    ],
)
def test_stop_filter(chunks: list[str], stops: list[str], expected: str) -> None:
    assert stream(chunks, stops) == expected
    assert cut("".join(chunks), stops)[0] == expected
