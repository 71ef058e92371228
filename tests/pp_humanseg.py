"""Test fixture: PP-HumanSeg-Lite portrait (PaddleSeg) wrapped to the edgematte model contract.

The published ONNX takes ``x`` [1,3,224,398] RGB normalised as ``(v/255 - 0.5)/0.5`` and returns
a two-class softmax [1,2,224,398] (channel 1 = person). :func:`to_contract` adds the
normalisation in front and keeps channel 1, so the result takes ``src`` [1,3,224,398] RGB
float32 0..1 and returns ``alpha`` [1,1,224,398] float32 0..1 like every edgematte model.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Union

__all__ = ["to_contract", "build_onnx"]

PathLike = Union[str, "os.PathLike[str]"]


def to_contract(model):  # onnx.ModelProto -> onnx.ModelProto
    """Return a copy of the PP-HumanSeg graph with input ``src`` (0..1) and output ``alpha``."""
    import onnx
    from onnx import helper, numpy_helper
    import numpy as np

    from edgematte.errors import ModelError

    graph = model.graph
    if len(graph.input) != 1 or len(graph.output) != 1:
        raise ModelError(
            f"received a graph with {len(graph.input)} inputs and {len(graph.output)} outputs; "
            "expected PP-HumanSeg's single input x and single softmax output"
        )
    wrapped = onnx.ModelProto()
    wrapped.CopyFrom(model)
    g = wrapped.graph
    old_in, old_out = g.input[0], g.output[0]
    dims = [d.dim_value for d in old_in.type.tensor_type.shape.dim]
    out_dims = [d.dim_value for d in old_out.type.tensor_type.shape.dim]
    if len(out_dims) != 4 or out_dims[1] != 2:
        raise ModelError(f"received output shape {out_dims}; expected [N,2,H,W] softmax")
    g.initializer.extend(
        [
            numpy_helper.from_array(np.array(2.0, dtype=np.float32), "em_two"),
            numpy_helper.from_array(np.array(1.0, dtype=np.float32), "em_one"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "em_c1"),
            numpy_helper.from_array(np.array([2], dtype=np.int64), "em_c2"),
            numpy_helper.from_array(np.array([1], dtype=np.int64), "em_axis"),
        ]
    )
    front = [
        helper.make_node("Mul", ["src", "em_two"], ["em_src2"], name="em_scale"),
        helper.make_node("Sub", ["em_src2", "em_one"], [old_in.name], name="em_shift"),
    ]
    back = [helper.make_node("Slice", [old_out.name, "em_c1", "em_c2", "em_axis"], ["alpha"], name="em_person")]
    nodes = front + list(g.node) + back
    del g.node[:]
    g.node.extend(nodes)
    del g.input[:]
    g.input.append(helper.make_tensor_value_info("src", onnx.TensorProto.FLOAT, dims))
    del g.output[:]
    g.output.append(helper.make_tensor_value_info("alpha", onnx.TensorProto.FLOAT, [out_dims[0], 1] + out_dims[2:]))
    onnx.checker.check_model(wrapped)
    return wrapped


def build_onnx(source: PathLike, destination: PathLike) -> Path:
    """Write the contract-wrapped PP-HumanSeg ONNX from ``source`` to ``destination``."""
    import onnx

    destination = Path(destination)
    destination.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(to_contract(onnx.load(str(source))), str(destination))
    return destination
