"""`POST /v1/embeddings` with the `openai` SDK: the real all-MiniLM-L6-v2 in the real tools
app, over real HTTP, batches, `float` and `base64`, and errors as OpenAI gives them."""

from __future__ import annotations

import base64
import math
import struct
from collections.abc import Iterator
from pathlib import Path

import httpx
import openai
import pytest

from tests.integration.conftest import Platform, serve_platform
from tests.scripted_llm import ScriptedLLM

MODEL = "all-MiniLM-L6-v2"


def cosine(a: list[float], b: list[float]) -> float:
    return sum(x * y for x, y in zip(a, b, strict=True)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.fixture
def with_model(data_dir: Path, llm_server: ScriptedLLM) -> Iterator[Platform]:
    """The real model through torch: the ONNX path would first export it (half a minute)."""
    with serve_platform(data_dir, llm_server, with_tools=True, rag_embedding_backend="torch") as p:
        yield p


def test_embeddings_batch_float_and_base64(with_model: Platform) -> None:
    p = with_model
    c = openai.OpenAI(base_url=p.v1, api_key=p.token, max_retries=0)
    assert MODEL in [m.id for m in c.models.list()]
    texts = ["The cat sat on the mat.", "A kitten was sitting on a rug.", "Quarterly tax filing deadlines"]
    floats = c.embeddings.create(model=MODEL, input=texts)
    assert [d.index for d in floats.data] == [0, 1, 2]
    vectors = [d.embedding for d in floats.data]
    assert all(len(v) == 384 for v in vectors)
    assert cosine(vectors[0], vectors[1]) > cosine(vectors[0], vectors[2]) + 0.2, "similar texts are closer"
    assert floats.usage.prompt_tokens > 0 and floats.model == MODEL
    # The SDK asks for base64 by default when numpy is around; ask explicitly over HTTP too.
    raw = httpx.post(
        p.v1 + "/embeddings",
        headers=p.headers(),
        json={"model": MODEL, "input": texts[0], "encoding_format": "base64"},
    ).json()
    packed = base64.b64decode(raw["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(packed) // 4}f", packed)
    assert decoded == pytest.approx(vectors[0], abs=1e-6)
    single = c.embeddings.create(model=MODEL, input="The cat sat on the mat.", encoding_format="float")
    assert single.data[0].embedding == pytest.approx(vectors[0], abs=1e-6)


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"model": "nope", "input": "x"}, 404, "model_not_found"),
        ({"model": MODEL, "input": []}, 400, None),
        ({"model": MODEL, "input": [[1, 2, 3]]}, 400, None),
        ({"model": MODEL, "input": "x", "encoding_format": "int8"}, 400, None),
    ],
)
def test_embeddings_errors(platform: Platform, body: dict[str, object], status: int, code: str | None) -> None:
    resp = httpx.post(platform.v1 + "/embeddings", headers=platform.headers(), json=body)
    assert resp.status_code == status, resp.text
    if code:
        assert resp.json()["error"]["code"] == code
