"""Sentence embeddings on CPU with ONNX Runtime (and int8 weights), from local files only.

Why: measured on this 2-core machine with all-MiniLM-L6-v2 (`bench/rag_embed.py`): the
exported graph with ONNX Runtime's transformer fusions (one Attention, SkipLayerNorm and
BiasGelu kernel per layer instead of dozens of small ops; needs the "eager" attention
export, whose pattern the optimiser recognises) costs about 10% less CPU per chunk than
the plain export and gives the same vectors (cosine 1.0000 to torch's). Int8 weights
(per output channel, MatMuls only) cost about 35% less again, at a small drift (cosine
0.995 to fp32), so they are an opt-in.

The ONNX file is exported once from the model's local weights (torch's exporter, no
download) into `DATA_DIR/models/`, at set-up (`python -m tools_service.rag.onnx_embed
<model folder>`) or lazily on first use, under a file lock so workers export it once.
Only mean-pooled, normalised sentence-transformers models (the MiniLM family) take
this path; anything else stays on torch.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sys
from pathlib import Path
from typing import Any

import numpy as np
from filelock import FileLock

__all__ = ["OnnxEncoder", "supported", "export", "onnx_path"]

log = logging.getLogger(__name__)

OPSET = 17


def supported(model_dir: Path) -> bool:
    """A local sentence-transformers folder whose pooling is plain mean + normalise."""
    try:
        modules = json.loads((model_dir / "modules.json").read_text())
        pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    except (OSError, ValueError):
        return False
    kinds = [m["type"].rsplit(".", 1)[-1] for m in modules]
    return (
        kinds == ["Transformer", "Pooling", "Normalize"]
        and pooling.get("pooling_mode_mean_tokens") is True
        and not any(pooling.get(k) for k in ("pooling_mode_cls_token", "pooling_mode_max_tokens"))
        and (model_dir / "tokenizer.json").is_file()
    )


def onnx_path(model_dir: Path, cache_dir: Path, quantized: bool = True) -> Path:
    digest = hashlib.sha256(str(model_dir.resolve()).encode()).hexdigest()[:12]
    folder = cache_dir / f"{model_dir.name}-{digest}"
    return folder / ("model-fused-int8.onnx" if quantized else "model-fused.onnx")


def export(model_dir: Path, cache_dir: Path, quantized: bool = False) -> Path:
    """Export (once) the fp32 ONNX file of `model_dir`, and its int8 version if asked."""
    target = onnx_path(model_dir, cache_dir, quantized)
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target.parent / ".export.lock")):
        if target.exists():
            return target
        fp32 = onnx_path(model_dir, cache_dir, quantized=False)
        if not fp32.exists():
            _export_fp32(model_dir, fp32)
        if quantized:
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            tmp_q = target.with_suffix(".tmp")
            quantize_dynamic(
                str(fp32),
                str(tmp_q),
                weight_type=QuantType.QInt8,
                per_channel=True,  # per-tensor scales drifted to cosine 0.94 on MiniLM
                op_types_to_quantize=["MatMul"],
                extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},  # fused ops lack shape inference
            )
            os.replace(tmp_q, target)
        return target


def _export_fp32(model_dir: Path, fp32: Path) -> None:
    import torch
    from transformers import AutoModel

    log.info("exporting %s to ONNX (once)", model_dir)
    try:  # the eager attention's graph is the pattern ONNX Runtime's Attention fusion knows
        bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True, attn_implementation="eager").eval()
    except (TypeError, ValueError):
        bert = AutoModel.from_pretrained(str(model_dir), local_files_only=True).eval()

    class Wrapped(torch.nn.Module):  # keyword arguments: forward()'s positions differ by version
        def __init__(self) -> None:
            super().__init__()
            self.bert = bert

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.bert(input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids)
            return out.last_hidden_state

    model = Wrapped().eval()
    for param in model.parameters():
        param.requires_grad_(False)
    ids = torch.ones((2, 8), dtype=torch.int64)
    names = ["input_ids", "attention_mask", "token_type_ids"]
    axes = {n: {0: "batch", 1: "seq"} for n in names} | {"last_hidden_state": {0: "batch", 1: "seq"}}
    tmp = fp32.with_suffix(".tmp")
    with torch.no_grad():
        torch.onnx.export(
            model,
            (ids, ids, torch.zeros_like(ids)),
            str(tmp),
            input_names=names,
            output_names=["last_hidden_state"],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )
    _fuse(tmp, bert.config)
    os.replace(tmp, fp32)


def _fuse(path: Path, config: Any) -> None:
    """Rewrite `path` in place with ONNX Runtime's BERT fusions; left as exported when
    the optimiser is missing or fails (the plain graph gives the same vectors, slower)."""
    try:
        from onnxruntime.transformers.optimizer import optimize_model

        model = optimize_model(
            str(path), model_type="bert", num_heads=config.num_attention_heads, hidden_size=config.hidden_size
        )
        model.save_model_to_file(str(path))
    except Exception as exc:  # an optional speed-up: never a reason to fail the export
        log.warning("ONNX fusion skipped (%s); using the plain export", exc)


class OnnxEncoder:
    """Callable: texts -> unit-length float32 vectors (mean pooling over real tokens)."""

    def __init__(self, model_dir: Path, onnx_file: Path, threads: int = 1) -> None:
        import onnxruntime as ort
        from tokenizers import Tokenizer

        config = json.loads((model_dir / "sentence_bert_config.json").read_text())
        self.max_len = int(config.get("max_seq_length", 256))
        self.tokenizer = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self.tokenizer.enable_truncation(self.max_len)
        self.tokenizer.enable_padding()
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(onnx_file), options, providers=["CPUExecutionProvider"])
        self.inputs = {i.name for i in self.session.get_inputs()}

    def __call__(self, texts: list[str], batch_size: int = 32) -> np.ndarray:
        out = []
        for start in range(0, len(texts), batch_size):
            encoded = self.tokenizer.encode_batch(texts[start : start + batch_size])
            ids = np.asarray([e.ids for e in encoded], dtype=np.int64)
            mask = np.asarray([e.attention_mask for e in encoded], dtype=np.int64)
            feed = {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)}
            hidden = self.session.run(None, {k: v for k, v in feed.items() if k in self.inputs})[0]
            summed = (hidden * mask[:, :, None]).sum(axis=1)
            pooled = summed / np.maximum(mask.sum(axis=1, keepdims=True), 1)
            out.append(pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12))
        return np.concatenate(out).astype(np.float32)


if __name__ == "__main__":  # set-up step: python -m tools_service.rag.onnx_embed [model folder]
    from settings import get_settings

    logging.basicConfig(level=logging.INFO)
    s = get_settings()
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else s.rag_embedding_model)
    if supported(folder):
        log.info("ONNX model at %s", export(folder, s.data_dir / "models"))
    else:
        log.info("%s is not a local mean-pooled sentence-transformers model; it stays on torch", folder)
