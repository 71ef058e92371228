"""UNIT TESTS OF OUR VERSION BRANCHING ONLY — NOT A VERIFICATION OF TENSORRT.

The ``tensorrt`` objects here are small fakes shaped like the API table of the project's
TensorRT reference (§1.1) for 8.5, 8.6, 10.3, 10.13 and 11.4. They record the calls our code makes,
so these tests check which path our version branching picks and that every boolean TensorRT
returns is checked. Whether the real bindings have those names and signatures is checked by
test_trt_api_conformance.py (marker ``trt_api``); whether a real engine runs, by
test_trt_engine.py (marker ``trt``), which needs TensorRT and a GPU.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from edgematte.errors import EngineBuildError, InputError, KernelError
from edgematte.export import to_trt
from edgematte.runtime._trt_io import NamedIO

VERSIONS = ("8.5", "8.6", "10.3", "10.13", "11.4")
FLOAT32, FLOAT16, INT32 = "float32", "float16", "int32"


def fake_trt(version: str) -> SimpleNamespace:
    """A namespace with the attributes the reference lists for ``version`` (no behaviour)."""
    major = int(version.split(".")[0])
    v = tuple(int(p) for p in version.split("."))
    builder_flags = {"FP16": "FP16", "OBEY_PRECISION_CONSTRAINTS": "OBEY"} if major <= 10 else {}
    creation = {}
    if major <= 10:
        creation["EXPLICIT_BATCH"] = 0
    if major >= 10:
        creation["STRONGLY_TYPED"] = 1
    layer_types = {"REDUCE": "REDUCE", "PLUGIN_V2": "PLUGIN_V2", "CONVOLUTION": "CONVOLUTION"}
    if v >= (8, 6):
        layer_types["NORMALIZATION"] = "NORMALIZATION"
    trt = SimpleNamespace(
        __version__=version + ".0",
        BuilderFlag=SimpleNamespace(**builder_flags),
        NetworkDefinitionCreationFlag=SimpleNamespace(**creation),
        LayerType=SimpleNamespace(**layer_types),
        MemoryPoolType=SimpleNamespace(WORKSPACE="WORKSPACE"),
        TensorIOMode=SimpleNamespace(INPUT="INPUT", OUTPUT="OUTPUT"),
        float32=FLOAT32,
        float16=FLOAT16,
        nptype=lambda t: {FLOAT32: np.float32, FLOAT16: np.float16, INT32: np.int32}[t],
    )
    if v >= (8, 6):
        trt.OnnxParserFlag = SimpleNamespace(NATIVE_INSTANCENORM="NATIVE_INSTANCENORM")
    return trt


class Recorder:
    def __init__(self):
        self.calls = []

    def record(self, *call):
        self.calls.append(call)


class FakeConfig(Recorder):
    def set_memory_pool_limit(self, pool, size):
        self.record("pool", pool, size)

    def set_flag(self, flag):
        self.record("flag", flag)

    def add_optimization_profile(self, profile):
        self.record("profile", profile)
        return getattr(self, "profile_index", 0)


class FakeLayer(Recorder):
    def __init__(self, name, kind, dtypes=(FLOAT32,)):
        super().__init__()
        self.name, self.type, self.precision = name, kind, None
        self.outputs = [SimpleNamespace(dtype=d) for d in dtypes]
        self.num_outputs = len(dtypes)

    def get_output(self, i):
        return self.outputs[i]

    def set_output_type(self, i, dtype):
        self.record("output_type", i, dtype)


class FakeNetwork:
    def __init__(self, layers=(), inputs=()):
        self.layers, self.inputs = list(layers), list(inputs)
        self.num_layers, self.num_inputs = len(self.layers), len(self.inputs)

    def get_layer(self, i):
        return self.layers[i]

    def get_input(self, i):
        return self.inputs[i]


# --- builder -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "version, mode", [("8.5", "weak"), ("8.6", "weak"), ("10.3", "weak"), ("10.13", "strong"), ("11.4", "strong")]
)
def test_strong_typing_from_10_12_where_weak_typing_is_deprecated(version, mode):
    assert to_trt.typing_mode(fake_trt(version)) == mode


@pytest.mark.parametrize("version, flags", [("8.5", 1), ("8.6", 1), ("10.3", 0), ("10.13", 1 << 1), ("11.4", 0)])
def test_explicit_batch_on_8_and_strongly_typed_opt_in_on_10_12_plus(version, flags):
    assert to_trt.network_flags(fake_trt(version)) == flags


@pytest.mark.parametrize("version", VERSIONS)
def test_workspace_uses_the_memory_pool(version):
    config = FakeConfig()
    to_trt.set_workspace(fake_trt(version), config, 512)
    assert config.calls == [("pool", "WORKSPACE", 512 << 20)] and not hasattr(config, "max_workspace_size")


def test_workspace_default_is_left_to_tensorrt():
    config = FakeConfig()
    to_trt.set_workspace(fake_trt("8.6"), config, None)
    assert config.calls == []


@pytest.mark.parametrize("version", ["8.5", "8.6", "10.3"])
def test_fp16_pins_norm_and_reduce_layers_but_never_int_layers(version):
    trt = fake_trt(version)
    norm_kind = "NORMALIZATION" if version != "8.5" else "PLUGIN_V2"
    layers = [
        FakeLayer("conv", "CONVOLUTION"),
        FakeLayer("/backbone/InstanceNormalization", norm_kind),
        FakeLayer("mean", "REDUCE"),
        FakeLayer("shape_sum", "REDUCE", dtypes=(INT32,)),
        FakeLayer("other_plugin", "PLUGIN_V2"),
        FakeLayer("norm_7", norm_kind),  # an ONNX InstanceNormalization node named without "InstanceNorm"
    ]
    config = FakeConfig()
    pinned = to_trt.enable_fp16(trt, config, FakeNetwork(layers), norm_nodes=["norm_7"])
    assert pinned == ["/backbone/InstanceNormalization", "mean", "norm_7"]
    assert config.calls == [("flag", "FP16"), ("flag", "OBEY")]
    assert layers[1].precision == FLOAT32 and layers[1].calls == [("output_type", 0, FLOAT32)]
    assert layers[0].precision is None and layers[3].precision is None and layers[4].precision is None


def test_fp16_with_extra_fp32_layers_and_unknown_names():
    trt, config = fake_trt("10.3"), FakeConfig()
    network = FakeNetwork([FakeLayer("conv", "CONVOLUTION")])
    assert to_trt.enable_fp16(trt, config, network, ("conv",)) == ["conv"]
    with pytest.raises(EngineBuildError, match="'nope'"):
        to_trt.enable_fp16(trt, FakeConfig(), network, ("nope",))


def test_no_precision_flag_without_layers_to_pin():
    config = FakeConfig()
    to_trt.enable_fp16(fake_trt("10.3"), config, FakeNetwork([FakeLayer("conv", "CONVOLUTION")]))
    assert config.calls == [("flag", "FP16")]


class FakeParser(Recorder):
    def __init__(self, ok, errors):
        super().__init__()
        self.ok, self.errors = ok, errors
        self.num_errors = len(errors)

    def set_flag(self, flag):
        self.record("set_flag", flag)

    def parse_from_file(self, path):
        self.record("parse", path)
        return self.ok

    def get_error(self, i):
        return self.errors[i]


def _install_parser(trt, parser):
    trt.OnnxParser = lambda network, logger: parser
    return trt


@pytest.mark.parametrize("version, flagged", [("8.5", False), ("8.6", True), ("10.3", True), ("11.4", True)])
def test_native_instancenorm_where_the_parser_has_it(version, flagged):
    parser = FakeParser(True, [])
    trt = fake_trt(version)
    if version in ("10.3", "11.4"):
        trt.OnnxParserFlag = SimpleNamespace(NATIVE_INSTANCENORM="NATIVE_INSTANCENORM")
    assert to_trt.parse_onnx(_install_parser(trt, parser), None, None, "m.onnx", []) is parser
    assert (("set_flag", "NATIVE_INSTANCENORM") in parser.calls) == flagged
    assert parser.calls[-1] == ("parse", "m.onnx")


def test_parser_errors_name_nodes_on_tensorrt_10():
    error = SimpleNamespace(
        node_name=lambda: "/dec/Resize_3",
        node_operator=lambda: "Resize",
        desc=lambda: "bad scales",
        code=lambda: "UNSUPPORTED_NODE",
    )
    trt = _install_parser(fake_trt("10.3"), FakeParser(False, [error]))
    with pytest.raises(EngineBuildError) as info:
        to_trt.parse_onnx(trt, None, None, "models/u2net.onnx", [])
    assert "'models/u2net.onnx'" in str(info.value) and "node '/dec/Resize_3' (Resize): bad scales" in str(info.value)


def test_parser_errors_map_node_indices_to_onnx_names_on_tensorrt_8():
    error = SimpleNamespace(node=lambda: 1, desc=lambda: "plugin not found", code=lambda: "UNSUPPORTED_NODE")
    trt = _install_parser(fake_trt("8.5"), FakeParser(False, [error]))
    with pytest.raises(EngineBuildError, match=r"node #1 '/norm/InstanceNormalization': plugin not found"):
        to_trt.parse_onnx(trt, None, None, "m.onnx", ["/conv", "/norm/InstanceNormalization"])


class FakeProfile(Recorder):
    def set_shape(self, name, lo, opt, hi):  # the real binding raises RuntimeError on inconsistent shapes
        if lo > hi:
            raise RuntimeError("Shape provided for min is inconsistent with other shapes.")
        self.record(name, lo, opt, hi)


def _dynamic_network():
    return FakeNetwork(
        inputs=[SimpleNamespace(name="src", shape=(1, 3, -1, -1)), SimpleNamespace(name="r1", shape=(1, 16, 8, 8))]
    )


def test_profile_covers_only_dynamic_inputs():
    profile, config = FakeProfile(), FakeConfig()
    builder = SimpleNamespace(create_optimization_profile=lambda: profile)
    rng = ((1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 32, 32))
    used = to_trt.add_profile(
        fake_trt("10.3"), builder, config, _dynamic_network(), {"src": rng, "r1": ((1, 16, 8, 8),) * 3}
    )
    assert used == {"src": rng} and profile.calls == [("src",) + rng] and config.calls == [("profile", profile)]


def test_profile_errors():
    builder = SimpleNamespace(create_optimization_profile=FakeProfile)
    with pytest.raises(EngineBuildError, match="pass --shapes src:MIN/OPT/MAX"):
        to_trt.add_profile(fake_trt("10.3"), builder, FakeConfig(), _dynamic_network(), {})
    with pytest.raises(EngineBuildError, match="rejected the shape range"):
        to_trt.add_profile(
            fake_trt("10.3"),
            builder,
            FakeConfig(),
            _dynamic_network(),
            {"src": ((1, 3, 9, 9), (1, 3, 8, 8), (1, 3, 8, 8))},
        )
    config = FakeConfig()
    config.profile_index = -1
    with pytest.raises(EngineBuildError, match="rejected the optimisation profile"):
        to_trt.add_profile(fake_trt("10.3"), builder, config, _dynamic_network(), {"src": ((1, 3, 8, 8),) * 3})


def test_static_network_adds_no_profile():
    config = FakeConfig()
    assert (
        to_trt.add_profile(
            fake_trt("8.6"), None, config, FakeNetwork(inputs=[SimpleNamespace(name="src", shape=(1, 3, 8, 8))]), {}
        )
        == {}
    )
    assert config.calls == []


# --- runtime I/O ---------------------------------------------------------------------------------


class FakeNamedContext(Recorder):
    """TensorRT >= 8.5 execution context; ``results`` holds what each call returns."""

    def __init__(self, **results):
        super().__init__()
        self.results = {"set_input_shape": True, "set_tensor_address": True, "execute_async_v3": True, **results}

    def set_input_shape(self, name, shape):
        self.record("set_input_shape", name, shape)
        return self.results["set_input_shape"]

    def get_tensor_shape(self, name):
        return (1, 1, 8, 8)

    def set_tensor_address(self, name, address):
        self.record("set_tensor_address", name, address)
        return self.results["set_tensor_address"]

    def execute_async_v3(self, stream):
        self.record("execute_async_v3", stream)
        return self.results["execute_async_v3"]


NAMES = ("src", "alpha")
NAMED_ENGINE = SimpleNamespace(
    num_io_tensors=2,
    get_tensor_name=lambda i: NAMES[i],
    get_tensor_mode=lambda n: "INPUT" if n == "src" else "OUTPUT",
    get_tensor_dtype=lambda n: FLOAT32,
    get_tensor_shape=lambda n: (1, 3, -1, -1) if n == "src" else (1, 1, -1, -1),
)
def test_named_io_describes_and_runs_the_engine():
    context = FakeNamedContext()
    io = NamedIO(fake_trt("8.6"), NAMED_ENGINE, context)
    assert io.tensors == [
        ("src", True, np.dtype(np.float32), (1, 3, -1, -1)),
        ("alpha", False, np.dtype(np.float32), (1, 1, -1, -1)),
    ]
    io.set_input_shape("src", (1, 3, 8, 8))
    assert io.output_shape("alpha") == (1, 1, 8, 8)
    io.bind({"src": 0x1000, "alpha": 0x2000})
    io.enqueue(77)
    assert context.calls == [
        ("set_input_shape", "src", (1, 3, 8, 8)),
        ("set_tensor_address", "src", 0x1000),
        ("set_tensor_address", "alpha", 0x2000),
        ("execute_async_v3", 77),
    ]


@pytest.mark.parametrize(
    "failing, error, call",
    [
        ("set_input_shape", InputError, lambda io: io.set_input_shape("src", (1, 3, 9999, 8))),
        ("set_tensor_address", KernelError, lambda io: io.bind({"src": 0x1001})),
        ("execute_async_v3", KernelError, lambda io: io.enqueue(1)),
    ],
)
def test_named_io_checks_every_boolean(failing, error, call):
    io = NamedIO(fake_trt("10.3"), NAMED_ENGINE, FakeNamedContext(**{failing: False}))
    with pytest.raises(error):
        call(io)
