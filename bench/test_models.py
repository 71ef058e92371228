"""CPU latency of the zoo models at their native size: PyTorch eager (baseline) vs ONNX Runtime FP32/FP16.

Weights are random in the official layout (the latency does not depend on their values); the
ONNX files come from the real export chain (``to_onnx``: TorchScript, onnxslim, parity check).

    pytest bench/test_models.py --benchmark-json bench/results/models.json
    python bench/ratios.py bench/results/models.json
"""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch is an optional dependency: pip install 'edgematte[export]'")
ort = pytest.importorskip("onnxruntime")

from edgematte.export import to_onnx  # noqa: E402
from edgematte.export.to_onnx import make_fp16  # noqa: E402
from edgematte.models import get_spec, load  # noqa: E402
from zoo_checkpoints import random_checkpoint  # noqa: E402

ZOO = ("u2netp", "modnet", "u2net")
THREADS = (1, 2)
IMPLEMENTATIONS = ("torch", "ort-fp32", "ort-fp16")


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory):
    """name -> {"torch": module, "ort-fp32": path, "ort-fp16": path}, built on first use."""
    folder = tmp_path_factory.mktemp("models")
    built = {}

    def get(name):
        if name not in built:
            checkpoint = random_checkpoint(name, folder / f"{name}.pth", seed=0)
            fp32 = to_onnx(name, folder / f"{name}.onnx", checkpoint=checkpoint).path
            built[name] = {
                "torch": load(name, checkpoint),
                "ort-fp32": fp32,
                "ort-fp16": make_fp16(fp32, folder / f"{name}-fp16.onnx"),
            }
        return built[name]

    return get


def _session(path, threads):
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])


@pytest.mark.parametrize("implementation", IMPLEMENTATIONS)
@pytest.mark.parametrize("threads", THREADS)
@pytest.mark.parametrize("name", ZOO)
def test_model_latency(benchmark, artifacts, name, threads, implementation):
    height, width = get_spec(name).input_size
    src = np.random.default_rng(0).random((1, 3, height, width), dtype=np.float32)
    model = artifacts(name)[implementation]
    if implementation == "torch":
        torch.set_num_threads(threads)
        tensor = torch.from_numpy(src)

        def run():
            with torch.inference_mode():
                return model(tensor)
    else:
        session = _session(model, threads)
        feed = {"src": src}

        def run():
            return session.run(["alpha"], feed)

    benchmark.group = f"{name} {height}x{width} threads={threads}"
    benchmark.extra_info.update(
        role="baseline" if implementation == "torch" else "ours",
        implementation=implementation,
        threads=threads,
        precision="fp16" if implementation.endswith("fp16") else "fp32",
        onnxruntime=ort.__version__,
        torch=torch.__version__,
    )
    rounds = 3 if name == "u2net" else 6
    benchmark.pedantic(run, rounds=rounds, warmup_rounds=1, iterations=1)
