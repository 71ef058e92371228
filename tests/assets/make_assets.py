"""Regenerate the tiny ONNX models the tests run (python tests/assets/make_assets.py).

``tiny_seg.onnx``: src [1,3,32,32] RGB float32 0..1 -> alpha [1,1,32,32] = sigmoid(20 * (R - B)),
a "segmenter" that calls red things foreground; small enough to run in microseconds.
``tiny_seg_dynamic.onnx``: the same with dynamic batch, height and width.
"""

from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

HERE = Path(__file__).resolve().parent


def tiny_segmenter(height, width, batch=1):
    weight = np.zeros((1, 3, 1, 1), np.float32)
    weight[0, 0, 0, 0], weight[0, 2, 0, 0] = 20.0, -20.0
    nodes = [
        helper.make_node("Conv", ["src", "w"], ["logit"], name="red_minus_blue"),
        helper.make_node("Sigmoid", ["logit"], ["alpha"], name="to_alpha"),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny_seg",
        [helper.make_tensor_value_info("src", TensorProto.FLOAT, [batch, 3, height, width])],
        [helper.make_tensor_value_info("alpha", TensorProto.FLOAT, [batch, 1, height, width])],
        initializer=[numpy_helper.from_array(weight, "w")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)], producer_name="edgematte-tests")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def main():
    onnx.save(tiny_segmenter(32, 32), str(HERE / "tiny_seg.onnx"))
    onnx.save(tiny_segmenter("H", "W", batch="N"), str(HERE / "tiny_seg_dynamic.onnx"))


if __name__ == "__main__":
    main()
