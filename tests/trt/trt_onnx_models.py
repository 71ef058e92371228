"""Tiny ONNX matting graphs for the TensorRT tests, written with onnx.helper.

``src`` [N,3,H,W] float32 -> (InstanceNormalization) -> 1x1 Conv -> Sigmoid -> ``alpha`` [N,1,H,W].
Weights are seeded, so every call writes the same model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Sequence, Union

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

Dim = Union[int, str]


def matte_model(
    path: Path,
    *,
    shape: Sequence[Dim] = (1, 3, 16, 16),
    opset: int = 17,
    instancenorm: bool = False,
    fp16: bool = False,
    io_type: int = TensorProto.FLOAT,
    extra_domain: Optional[str] = None,
) -> Path:
    """Write the tiny model to ``path``; string dims in ``shape`` are dynamic (dim_param)."""
    rng = np.random.default_rng(0)
    out_shape = [shape[0], 1, shape[2], shape[3]]
    weight_type = np.float16 if fp16 else np.float32
    inits = [
        numpy_helper.from_array((rng.standard_normal((1, 3, 1, 1)) * 2.0).astype(weight_type), "w"),
        numpy_helper.from_array(np.array([0.1], weight_type), "b"),
    ]
    nodes = []
    x = "src"
    if fp16:
        nodes.append(helper.make_node("Cast", [x], ["src16"], to=TensorProto.FLOAT16, name="cast_in"))
        x = "src16"
    if instancenorm:
        inits += [
            numpy_helper.from_array(np.ones(3, weight_type), "scale"),
            numpy_helper.from_array(np.zeros(3, weight_type), "bias"),
        ]
        nodes.append(
            helper.make_node("InstanceNormalization", [x, "scale", "bias"], ["normed"], epsilon=1e-5, name="norm")
        )
        x = "normed"
    nodes.append(helper.make_node("Conv", [x, "w", "b"], ["logits"], name="conv"))
    nodes.append(helper.make_node("Sigmoid", ["logits"], ["alpha16" if fp16 else "alpha"], name="sigmoid"))
    if fp16:
        nodes.append(helper.make_node("Cast", ["alpha16"], ["alpha"], to=TensorProto.FLOAT, name="cast_out"))
    opsets = [helper.make_opsetid("", opset)]
    if extra_domain:
        nodes.append(helper.make_node("Identity", ["alpha"], ["unused"], domain=extra_domain, name="custom"))
        opsets.append(helper.make_opsetid(extra_domain, 1))
    graph = helper.make_graph(
        nodes,
        "tiny_matte",
        [helper.make_tensor_value_info("src", io_type, list(shape))],
        [helper.make_tensor_value_info("alpha", io_type, out_shape)],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=opsets, producer_name="edgematte-tests")
    model.ir_version = 8  # readable by the ONNX Runtime and TensorRT parsers of 2022-2026
    onnx.save(model, str(path))
    return path
