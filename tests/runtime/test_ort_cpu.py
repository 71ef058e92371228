import os

import numpy as np
import pytest

from edgematte.errors import InputError, ModelError
from edgematte.runtime import open_backend
from edgematte.runtime.ort_cpu import OrtCpuBackend, available_cpus
from edgematte.types import TensorSpec


def sigmoid_red_minus_blue(src):
    return 1.0 / (1.0 + np.exp(-20.0 * (src[:, 0:1] - src[:, 2:3])))


def test_specs_and_infer_match_numpy(tiny_onnx):
    with open_backend("ort-cpu", tiny_onnx) as backend:
        assert backend.inputs == (TensorSpec("src", (1, 3, 32, 32), "float32"),)
        assert backend.outputs == (TensorSpec("alpha", (1, 1, 32, 32), "float32"),)
        src = np.random.default_rng(0).random((1, 3, 32, 32), dtype=np.float32)
        alpha = backend.infer({"src": src})["alpha"]
        np.testing.assert_allclose(alpha, sigmoid_red_minus_blue(src), atol=1e-6)


def test_static_outputs_are_reused_buffers(tiny_onnx):
    with OrtCpuBackend(tiny_onnx) as backend:
        rng = np.random.default_rng(1)
        first_src, second_src = (rng.random((1, 3, 32, 32), dtype=np.float32) for _ in range(2))
        first = backend.infer({"src": first_src})["alpha"]
        kept = first.copy()
        second = backend.infer({"src": second_src})["alpha"]
        assert second is first  # documented: static outputs are overwritten by the next call
        np.testing.assert_allclose(second, sigmoid_red_minus_blue(second_src), atol=1e-6)
        assert not np.allclose(kept, second)


def test_dynamic_outputs_are_fresh_arrays(tiny_onnx):
    path = tiny_onnx.parent / "tiny_seg_dynamic.onnx"
    with OrtCpuBackend(path) as backend:
        assert backend.inputs[0].shape == (None, 3, None, None)
        src = np.random.default_rng(2).random((2, 3, 5, 7), dtype=np.float32)
        first = backend.infer({"src": src})["alpha"]
        second = backend.infer({"src": src[:1]})["alpha"]
        assert first.shape == (2, 1, 5, 7) and second.shape == (1, 1, 5, 7)
        np.testing.assert_allclose(first, sigmoid_red_minus_blue(src), atol=1e-6)


def test_threads_default_to_cpu_affinity(tiny_onnx):
    backend = OrtCpuBackend(tiny_onnx)
    assert backend.threads == available_cpus()
    if hasattr(os, "sched_getaffinity"):
        assert available_cpus() == len(os.sched_getaffinity(0))
    assert OrtCpuBackend(tiny_onnx, threads=1).threads == 1
    with pytest.raises(InputError, match="threads"):
        OrtCpuBackend(tiny_onnx, threads=0)


@pytest.mark.parametrize("spin, stop", [(False, "1"), (True, None)])
def test_spinning_stops_when_a_run_returns_unless_asked(tiny_onnx, spin, stop):
    """spin=False: ORT's threads may spin during a run (allowed: the default) but stop when it returns."""
    with OrtCpuBackend(tiny_onnx, spin=spin) as backend:
        options = backend._session.get_session_options()

        def entry(key):
            try:
                return options.get_session_config_entry(key)
            except RuntimeError:  # ORT raises for a key never set
                return None

        assert entry("session.intra_op.allow_spinning") is None  # the default: allowed
        assert entry("session.force_spinning_stop") == stop


@pytest.mark.parametrize(
    "feed, message",
    [
        ({"image": np.zeros((1, 3, 32, 32), np.float32)}, "expected exactly"),
        ({"src": np.zeros((1, 3, 32, 32), np.float64)}, "dtype float64"),
        ({"src": np.zeros((1, 3, 16, 32), np.float32)}, r"shape \(1, 3, 16, 32\)"),
        ({"src": [[0.0]]}, "numpy.ndarray"),
    ],
)
def test_bad_feeds_raise_input_error(tiny_onnx, feed, message):
    with OrtCpuBackend(tiny_onnx) as backend:
        with pytest.raises(InputError, match=message):
            backend.infer(feed)


def test_missing_or_invalid_model_raises_model_error(tmp_path):
    with pytest.raises(ModelError, match="not a file"):
        OrtCpuBackend(tmp_path / "absent.onnx").open()
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a protobuf")
    with pytest.raises(ModelError, match="could not load"):
        OrtCpuBackend(junk).open()


def test_use_before_open_and_after_close_is_an_error(tiny_onnx):
    backend = OrtCpuBackend(tiny_onnx)
    with pytest.raises(InputError, match="not open"):
        backend.infer({"src": np.zeros((1, 3, 32, 32), np.float32)})
    backend.open().close()
    with pytest.raises(InputError, match="not open"):
        _ = backend.inputs


def test_unknown_backend_kind_lists_kinds(tiny_onnx):
    with pytest.raises(InputError, match="ort-cpu"):
        open_backend("cuda-magic", tiny_onnx)


def test_real_model_runs(pp_humanseg_onnx):
    with OrtCpuBackend(pp_humanseg_onnx) as backend:
        assert backend.inputs[0].shape == (1, 3, 224, 398)
        alpha = backend.infer({"src": np.full((1, 3, 224, 398), 0.5, np.float32)})["alpha"]
        assert alpha.shape == (1, 1, 224, 398) and 0.0 <= alpha.min() <= alpha.max() <= 1.0


def test_carry_state_refuses_unknown_names(tiny_onnx):
    with OrtCpuBackend(tiny_onnx) as backend:
        with pytest.raises(InputError, match="recurrent pair 'r1i' -> 'r1o'"):
            backend.carry_state({"r1i": "r1o"})


def test_an_output_of_unknown_shape_is_a_fresh_array(tmp_path):
    """ONNX Runtime reports an output of unknown rank as rank 0 (as it did RVM's split A and b made with onnx 1.14):
    it must not be bound to a preallocated scalar (ORT: "OrtValue shape verification failed")."""
    import onnx
    from onnx import TensorProto, helper

    graph = helper.make_graph([helper.make_node("Reshape", ["src", "shape"], ["out"])], "unknown",
                              [helper.make_tensor_value_info("src", TensorProto.FLOAT, [1, 2]),
                               helper.make_tensor_value_info("shape", TensorProto.INT64, ["n"])],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(tmp_path / "unknown.onnx"))
    with OrtCpuBackend(tmp_path / "unknown.onnx") as backend:
        assert backend.outputs[0].shape == ()
        for value, shape in ((1.0, [2]), (2.0, [2, 1])):
            out = backend.infer({"src": np.full((1, 2), value, np.float32), "shape": np.array(shape, np.int64)})["out"]
            np.testing.assert_array_equal(out, np.full(shape, value, np.float32))
