"""The ONNX Runtime embedding path gives torch's vectors, in input order, with progress."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from tests.conftest import make_settings
from tests.rag.helpers import HashEmbeddings
from tools_service.rag.models import RagModels

TEXTS = [
    "Cats purr.",
    "Liquid fuel rockets burn kerosene and liquid oxygen to reach orbit, stage after stage.",
    "Sourdough rises slowly.",
    "The boundary layer over a heated flat plate at supersonic speed thickens downstream " * 3,
]


@pytest.mark.slow
def test_onnx_backend_matches_torch(data_dir: Path) -> None:
    pytest.importorskip("onnxruntime")
    from sentence_transformers import SentenceTransformer

    settings = make_settings(data_dir, rag_embedding_backend="onnx")
    models = RagModels(settings)
    seen: list[tuple[int, int]] = []
    vectors = models.embed(TEXTS, progress=lambda done, total: seen.append((done, total)))
    assert models.encoder() is not None  # really the ONNX path
    exported = list(data_dir.glob("models/*/model-fused.onnx"))  # exported from the local weights
    assert exported
    import onnx

    ops = {node.op_type for node in onnx.load(str(exported[0])).graph.node}
    assert {"Attention", "SkipLayerNormalization"} <= ops, ops  # the fused kernels, not dozens of small ops

    reference = SentenceTransformer(settings.rag_embedding_model, device="cpu", local_files_only=True)
    expected = reference.encode(TEXTS, normalize_embeddings=True)
    cosines = (vectors * expected).sum(axis=1)
    assert cosines.min() > 0.999, cosines  # same vectors, same (input) order
    assert seen[-1] == (len(TEXTS), len(TEXTS))
    query = models.embed(["cats"], queries=True)
    assert query.shape == (1, 384) and abs(float(np.linalg.norm(query)) - 1) < 1e-5


def test_embed_keeps_input_order_across_length_sorted_slices(data_dir: Path) -> None:
    """Texts are embedded longest first in slices; each vector must land on its own text."""
    fake = HashEmbeddings(dim=64)
    models = RagModels(make_settings(data_dir), embeddings=fake)
    texts = [f"word{i} " * (i % 7 + 1) for i in range(600)]  # > one slice, mixed lengths
    progress: list[int] = []
    vectors = models.embed(texts, progress=lambda done, total: progress.append(done))
    expected = np.asarray(fake.embed_documents(texts), dtype=np.float32)
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    assert progress == sorted(progress) and progress[-1] == 600 and len(progress) > 1
