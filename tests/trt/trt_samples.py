"""Sample targets and manifest shared by the cache tests."""

from __future__ import annotations

from edgematte.runtime.engine_cache import EngineManifest, Target
from edgematte.types import TensorSpec

ORIN = Target("8.6.2", "Orin", (8, 7))
RTX = Target("10.3.0", "NVIDIA GeForce RTX 3090", (8, 6))


def sample_manifest() -> EngineManifest:
    """A weak-typed FP16 engine for Orin with a dynamic H, W profile."""
    return EngineManifest(
        key="fp16-sm87-trt8.6.2-0123456789abcdef",
        model="tiny",
        onnx_sha256="a" * 64,
        target=ORIN,
        precision="fp16",
        typing="weak",
        profiles={"src": ((1, 3, 16, 16), (1, 3, 32, 32), (1, 3, 64, 64))},
        inputs=(TensorSpec("src", (1, 3, None, None), "float32"),),
        outputs=(TensorSpec("alpha", (1, 1, None, None), "float32"),),
        plan_sha256="b" * 64,
        onnx_path=None,
        workspace_mb=512,
    )
