import numpy as np


def test_wrapped_graph_equals_normalised_original(shared_weights, pp_humanseg_onnx):
    import onnxruntime as ort

    original = shared_weights / "pp_humanseg" / "ppseg_lite_portrait_398x224_with_softmax_fixed.onnx"
    src = np.random.default_rng(0).random((1, 3, 224, 398), dtype=np.float32)
    reference = ort.InferenceSession(str(original), providers=["CPUExecutionProvider"])
    person = reference.run(None, {"x": (src - 0.5) / 0.5})[0][:, 1:2]
    wrapped = ort.InferenceSession(str(pp_humanseg_onnx), providers=["CPUExecutionProvider"])
    assert [i.name for i in wrapped.get_inputs()] == ["src"] and [o.name for o in wrapped.get_outputs()] == ["alpha"]
    np.testing.assert_allclose(wrapped.run(None, {"src": src})[0], person, atol=1e-6)
