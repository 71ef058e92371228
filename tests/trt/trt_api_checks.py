"""Run inside a subprocess whose ``import tensorrt`` is a real binding module (see trt_api_env.py).

Every TensorRT call path of edgematte's builder and runtime runs here. The real factories return
NULL without a GPU, so objects only a live builder makes are ``Spec`` stand-ins: each attribute
our code reads must exist on the real class, each property it sets must be settable, and each
call must match one of the real pybind11 signatures with the argument types we pass (enum values,
dtypes and the logger are the real objects). Prints one line per check; exits 1 on a failure.
"""

from __future__ import annotations

import sys
import tempfile
import traceback
import types
from pathlib import Path

import tensorrt as trt

from trt_spec import Spec, check_call, spec_factory

from edgematte.errors import BackendUnavailableError
from edgematte.export import to_trt
from edgematte.runtime import trt_env
from edgematte.runtime._trt_io import NamedIO

VERSION = tuple(int(p) for p in trt.__version__.split(".")[:2])
FAILURES = []


def check(fn):
    try:
        fn()
        print(f"ok   {fn.__name__}")
    except Exception:  # report every failing check, not just the first
        FAILURES.append(fn.__name__)
        print(f"FAIL {fn.__name__}\n{traceback.format_exc()}")
    return fn


# --- the checks -----------------------------------------------------------------------------------


@check
def the_signature_check_can_fail():
    for args in ((trt.MemoryPoolType.WORKSPACE, "256"), (1, 256), (trt.MemoryPoolType.WORKSPACE,)):
        try:
            check_call(trt.IBuilderConfig, "set_memory_pool_limit", args, {})
        except AssertionError:
            continue
        raise AssertionError(f"set_memory_pool_limit{args} was accepted")
    assert not hasattr(Spec(trt.IBuilderConfig), "max_workspace_size_that_never_existed")

EXPECTED = {(8, 6): ("weak", 1 << int(getattr(trt.NetworkDefinitionCreationFlag, "EXPLICIT_BATCH", 0))),
            (10, 13): ("strong", 1 << int(getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", 0))),
            (11, 4): ("strong", 0)}


@check
def version_branches():
    mode, flags = EXPECTED[VERSION]
    assert to_trt.typing_mode(trt) == mode, to_trt.typing_mode(trt)
    assert to_trt.network_flags(trt) == flags
    assert trt_env.trt_version(trt) == VERSION


@check
def weak_typing_names_exist_exactly_where_we_use_them():
    weak = to_trt.typing_mode(trt) == "weak"
    names = [hasattr(trt.BuilderFlag, "FP16"), hasattr(trt.BuilderFlag, "OBEY_PRECISION_CONSTRAINTS"),
             hasattr(trt.ILayer, "precision"), hasattr(trt.ILayer, "set_output_type")]
    if weak:
        assert all(names) and hasattr(trt.Builder, "platform_has_fast_fp16")
    elif VERSION >= (11, 0):
        assert not any(names), "TensorRT 11 lost weak typing"


def _logger():
    return trt_env.make_logger(trt)


@check
def logger_subclass_keeps_errors():
    logger = _logger()
    assert isinstance(logger, trt.ILogger)
    for level in ("INTERNAL_ERROR", "ERROR", "WARNING", "INFO", "VERBOSE"):
        logger.log(getattr(trt.ILogger.Severity, level), f"{level} message")
    assert logger.errors == ["INTERNAL_ERROR message", "ERROR message"]


@check
def null_factories_become_backend_unavailable_with_the_logged_errors():
    logger = _logger()
    logger.log(trt.ILogger.Severity.ERROR, "CUDA initialization failure with error: 35")
    for factory, what in ((trt.Builder, "builder"), (trt.Runtime, "runtime")):
        try:
            trt_env.create(factory, what, logger, logger)
        except BackendUnavailableError as exc:
            assert "error: 35" in str(exc) and what in str(exc), str(exc)
        else:
            raise AssertionError(f"{what}: no error")
    assert trt.init_libnvinfer_plugins(logger, "") is False  # our code only warns on False


def _tensor(name, shape, dtype=None):
    return Spec(trt.ITensor, name=name, shape=shape, dtype=dtype or trt.float32)


@check
def builder_path_calls_match_the_real_signatures():
    """to_trt._build_plan end to end with stand-ins for the objects only a live builder makes."""
    from edgematte.export.onnx_prereq import check_onnx_for_trt

    from trt_onnx_models import matte_model

    folder = Path(tempfile.mkdtemp())
    strong = to_trt.typing_mode(trt) == "strong"
    onnx = matte_model(folder / "m.onnx", shape=(1, 3, "h", "w"), instancenorm=True, fp16=strong)
    rng = ((1, 3, 8, 8), (1, 3, 16, 16), (1, 3, 32, 32))
    report = check_onnx_for_trt(onnx, trt_version=trt.__version__, shapes={"src": rng}, fp16=True,
                                strongly_typed=strong)
    kinds = [k for k in ("NORMALIZATION", "PLUGIN_V2") if hasattr(trt.LayerType, k)]
    layers = [Spec(trt.ILayer, name="norm", type=getattr(trt.LayerType, kinds[0]), num_outputs=1,
                   get_output=lambda j: _tensor("normed", (1, 3, -1, -1))),
              Spec(trt.ILayer, name="conv", type=trt.LayerType.CONVOLUTION, num_outputs=1,
                   get_output=lambda j: _tensor("logits", (1, 1, -1, -1)))]
    network = Spec(trt.INetworkDefinition, num_layers=len(layers), get_layer=lambda i: layers[i], num_inputs=1,
                   get_input=lambda i: _tensor("src", (1, 3, -1, -1)), num_outputs=1,
                   get_output=lambda i: _tensor("alpha", (1, 1, -1, -1)))
    timing = Spec(trt.ITimingCache, serialize=b"timing")
    config = Spec(trt.IBuilderConfig, create_timing_cache=timing, set_timing_cache=True, add_optimization_profile=0,
                  get_timing_cache=timing)
    profile = Spec(trt.IOptimizationProfile)
    builder = Spec(trt.Builder, create_network=network, create_builder_config=config,
                   create_optimization_profile=profile, build_serialized_network=b"plan", platform_has_fast_fp16=True)
    parser = Spec(trt.OnnxParser, parse_from_file=True, num_errors=0)
    fake = types.SimpleNamespace(**{k: getattr(trt, k) for k in dir(trt) if not k.startswith("__")})
    fake.__version__ = trt.__version__
    fake.Builder = spec_factory(trt.Builder, builder)
    fake.OnnxParser = spec_factory(trt.OnnxParser, parser)
    cfg = to_trt.EngineConfig(fp16=True, workspace_mb=256)
    plan, inputs, outputs = to_trt._build_plan(fake, onnx, cfg, report, folder / "timing.cache")
    assert plan == b"plan" and [s.name for s in inputs] == ["src"] and outputs[0].shape == (1, 1, None, None)
    assert (folder / "timing.cache").read_bytes() == b"timing"
    flags = [c[1] for c in config.calls if c[0] == "set_flag"]
    precision = [c for layer in layers for c in layer.calls if c[0] in ("set precision", "set_output_type")]
    if strong:
        assert not flags and not precision, (flags, precision)
    else:
        assert trt.BuilderFlag.FP16 in flags and precision
    assert ("set_shape", "src") + rng in [c[:5] for c in profile.calls] or any(c[0] == "set_shape" for c in profile.calls)


@check
def parser_errors_name_the_node():
    named = hasattr(trt.ParserError, "node_name")
    assert named == (VERSION >= (10, 0))
    error = Spec(trt.ParserError, code=trt.ErrorCode.UNSUPPORTED_NODE, desc="bad", node=1,
                 node_name="/dec/Resize", node_operator="Resize")
    text = to_trt._parser_error_text(error, ["a", "b"])
    assert ("'/dec/Resize' (Resize)" in text) if named else ("node #1 'b'" in text), text


@check
def parser_flags_where_they_exist():
    flags = getattr(trt, "OnnxParserFlag", None)
    assert flags is not None and hasattr(flags, "NATIVE_INSTANCENORM")
    check_call(trt.OnnxParser, "set_flag", (flags.NATIVE_INSTANCENORM,), {})
    check_call(trt.OnnxParser, "parse_from_file", ("m.onnx",), {})
    check_call(trt.OnnxParser, "get_error", (0,), {})


@check
def runtime_io_calls_match_the_real_signatures():
    engine = Spec(trt.ICudaEngine, num_io_tensors=2, get_tensor_name=lambda i: ("src", "alpha")[i],
                  get_tensor_mode=lambda n: trt.TensorIOMode.INPUT if n == "src" else trt.TensorIOMode.OUTPUT,
                  get_tensor_dtype=trt.float32, get_tensor_shape=(1, 3, -1, -1))
    context = Spec(trt.IExecutionContext, set_input_shape=True, get_tensor_shape=(1, 1, 8, 8),
                   set_tensor_address=True, execute_async_v3=True)
    io = NamedIO(trt, engine, context)
    io.set_input_shape("src", (1, 3, 8, 8))
    assert io.output_shape("alpha") == (1, 1, 8, 8)
    io.bind({"src": 0x1000, "alpha": 0x2000})
    io.enqueue(7)
    check_call(trt.Runtime, "deserialize_cuda_engine", (b"plan",), {})
    check_call(trt.ICudaEngine, "create_execution_context", (), {})


if __name__ == "__main__":
    print(f"TensorRT {trt.__version__}: {len(FAILURES)} failing checks")
    sys.exit(1 if FAILURES else 0)
