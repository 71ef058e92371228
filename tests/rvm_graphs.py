"""Test fixture: tiny ONNX graphs with RobustVideoMatting's signature (and almost-RVM variants).

The counting graph: ``r1o = r1i + 1`` (so r1 counts the frames since the last reset),
``pha`` = that count / 255 everywhere, ``fgr = src * downsample_ratio``, ``r2o..r4o`` pass
their inputs through. It checks state carrying, resets and the ratio feed without weights.
"""

from __future__ import annotations

from pathlib import Path
from typing import Dict, Optional, Tuple

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

DYN4 = ["b", "c", "h", "w"]


def counting_rvm(
    path: Path,
    *,
    drop_input: Optional[str] = None,
    dtypes: Optional[Dict[str, int]] = None,
    state_rank: int = 4,
    static: Optional[Tuple[int, int]] = None,
    follow_frame: bool = False,
) -> Path:
    """Write the counting RVM graph to ``path``; the keyword arguments make almost-RVM variants, and ``static``
    (h, w) the form of `edgematte export rvm`: every shape fixed (states [1,2,h/2,w/2]), the ratio a constant 1.
    ``follow_frame``: r1o takes the frame's shape [b,1,H,W] (still counting), as RVM's states follow its size."""
    dtypes = dtypes or {}
    state_dims = DYN4[:state_rank] if static is None else [1, 2, static[0] // 2, static[1] // 2]

    def value(name: str, dims) -> onnx.ValueInfoProto:
        return helper.make_tensor_value_info(name, dtypes.get(name, TensorProto.FLOAT), dims)

    frame = ["b", 3, "H", "W"] if static is None else [1, 3, *static]
    inputs = [value("src", frame)]
    inputs += [value(f"r{i}i", state_dims) for i in range(1, 5)]
    inputs += [value("downsample_ratio", [1])] if static is None else []
    outputs = [value("fgr", frame), value("pha", frame[:1] + [1] + frame[2:])]
    outputs += [value(f"r{i}o", state_dims) for i in range(1, 5)]
    nodes = [
        helper.make_node("Add", ["blank", "frames"] if follow_frame else ["r1i", "one"], ["r1o"]),
        helper.make_node("ReduceMax", ["r1i"], ["count"], keepdims=0),
        helper.make_node("ReduceMean", ["src"], ["grey"], axes=[1], keepdims=1),
        helper.make_node("Mul", ["grey", "zero"], ["blank"]),
        helper.make_node("Add", ["count", "one_scalar"], ["frames"]),
        helper.make_node("Mul", ["frames", "step"], ["level"]),
        helper.make_node("Add", ["blank", "level"], ["pha"]),
        helper.make_node("Mul", ["src", "downsample_ratio"], ["fgr"]),
    ]
    nodes += [helper.make_node("Identity", [f"r{i}i"], [f"r{i}o"]) for i in range(2, 5)]
    inits = [
        numpy_helper.from_array(np.ones([1] * state_rank, np.float32), "one"),
        numpy_helper.from_array(np.array(1.0, np.float32), "one_scalar"),
        numpy_helper.from_array(np.array(0.0, np.float32), "zero"),
        numpy_helper.from_array(np.array(1.0 / 255.0, np.float32), "step"),
    ]
    if static is not None:
        inits.append(numpy_helper.from_array(np.ones(1, np.float32), "downsample_ratio"))
    if drop_input is not None:
        inputs = [v for v in inputs if v.name != drop_input]
        inits.append(numpy_helper.from_array(np.zeros([1] * state_rank, np.float32), drop_input))
    graph = helper.make_graph(nodes, "counting_rvm", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path
