"""Tail latency of the real-time path: p50 / p99 / max over 2,000 frames, 1280x720, the selfie model.

    pytest bench/test_latency.py --benchmark-json bench/results/latency.json
    python bench/ratios.py bench/results/latency.json

Rows: the new "fast" with ONNX Runtime's intra-op threads at 1 and at all cores (the default, the
baseline row), and the previous main's "fast" stages (bench/test_pipeline.py's PreviousFast) for
comparison. extra_info holds p50_ms, p99_ms, max_ms and the intra-op thread count. Timings are per
``Pipeline.process(frame, background)`` call (composite included), wall clock.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from test_pipeline import BACKGROUND, MODELS, PreviousFast, _model_path, frame  # noqa: F401  (frame: fixture)

FRAMES = 2000


@pytest.mark.parametrize("impl, threads", [("fast", None), ("fast", 1), ("previous-fast", None)],
                         ids=["fast-all-cores", "fast-1-thread", "previous-fast-all-cores"])
@pytest.mark.parametrize("model", MODELS)
def test_tail_latency_1280x720(benchmark, frame, model, impl, threads, tmp_path_factory):  # noqa: F811
    from edgematte.pipeline import Pipeline
    from edgematte.runtime.ort_cpu import OrtCpuBackend

    with OrtCpuBackend(_model_path(model, tmp_path_factory), threads=threads) as backend:
        pipeline = (Pipeline if impl == "fast" else PreviousFast)(backend, refine="fast")
        benchmark.group = f"tail-latency-1280x720-{model}"
        if impl == "fast" and threads is None:
            benchmark.extra_info["role"] = "baseline"
        benchmark.pedantic(pipeline.process, (frame, BACKGROUND), rounds=FRAMES, warmup_rounds=50)
        ms = np.asarray(benchmark.stats.stats.data) * 1e3
        benchmark.extra_info.update(
            {"p50_ms": round(float(np.percentile(ms, 50)), 3), "p99_ms": round(float(np.percentile(ms, 99)), 3),
             "max_ms": round(float(ms.max()), 3), "intra_op_threads": backend.threads,
             "cpus": os.cpu_count()}
        )
