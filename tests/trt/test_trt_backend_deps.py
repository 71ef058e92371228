"""The TensorRT backend without TensorRT: lazy imports and the missing-dependency errors.

``sys.modules[name] = None`` makes ``import name`` fail, which is how a machine without the
package behaves; here that is the real situation anyway.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from fresh_python import fresh_python, heavy_modules_after

from edgematte.errors import BackendUnavailableError, InputError
from edgematte.runtime import open_backend, trt_env
from edgematte.runtime.trt import TrtBackend


def test_modules_import_without_tensorrt_pycuda_or_onnx(tmp_path):
    modules = "edgematte.runtime.trt, edgematte.export.to_trt, edgematte.runtime.engine_cache, edgematte.cli.build"
    assert heavy_modules_after(f"import {modules}", tmp_path) == []


@pytest.mark.parametrize("missing", ["tensorrt", "pycuda"])
def test_open_without_a_dependency_names_the_extra(monkeypatch, tmp_path, missing):
    monkeypatch.setitem(sys.modules, missing, None)
    monkeypatch.setitem(sys.modules, "pycuda.driver", None)
    monkeypatch.setattr(trt_env, "is_jetson", lambda: False)
    backend = TrtBackend(tmp_path / "model.plan")  # construction is cheap: nothing imported or read yet
    with pytest.raises(BackendUnavailableError, match=r"pip install 'edgematte\[trt\]'"):
        backend.open()
    with pytest.raises(ImportError):  # BackendUnavailableError is an ImportError too
        open_backend("tensorrt", tmp_path / "model.plan")


def test_on_jetson_the_message_points_to_jetpack_apt_and_system_site_packages(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorrt", None)
    monkeypatch.setattr(trt_env, "is_jetson", lambda: True)
    with pytest.raises(BackendUnavailableError) as info:
        trt_env.import_tensorrt()
    message = str(info.value)
    assert "python3-libnvinfer" in message and "--system-site-packages" in message and "pycuda" in message


def test_infer_before_open_is_an_input_error(tmp_path):
    with pytest.raises(InputError, match="closed TrtBackend"):
        TrtBackend(tmp_path / "model.plan").infer({})


def test_io_specs_before_open_come_from_the_manifest(tmp_path, manifest):
    import dataclasses
    import hashlib

    from edgematte.runtime.engine_cache import write_engine

    plan = b"plan"
    manifest = dataclasses.replace(manifest, plan_sha256=hashlib.sha256(plan).hexdigest())
    backend = TrtBackend(write_engine(tmp_path, manifest, plan))
    assert backend.inputs == manifest.inputs and backend.outputs == manifest.outputs


def test_registry_and_protocol(tmp_path):
    import importlib

    from edgematte.runtime import BACKENDS, Backend

    module, name = BACKENDS["tensorrt"].split(":")
    assert getattr(importlib.import_module(module), name) is TrtBackend
    backend = TrtBackend(tmp_path / "absent.plan")
    assert isinstance(backend, Backend)  # must not read files or raise before open()
    assert backend.inputs == () and backend.outputs == ()


def test_export_package_exposes_the_build_functions_lazily():
    import edgematte.export as export
    from edgematte.export import onnx_prereq, to_trt

    assert export.build_engine is to_trt.build_engine and export.EngineConfig is to_trt.EngineConfig
    assert export.check_onnx_for_trt is onnx_prereq.check_onnx_for_trt


def test_the_runtime_never_builds(tmp_path):
    import inspect

    parameters = inspect.signature(TrtBackend).parameters
    for gone in ("onnx", "rebuild", "fp16", "shapes", "engines_dir", "cuda_graph"):
        assert gone not in parameters  # cuda_graph: pycuda has no stream capture, so it never worked
    with pytest.raises(InputError, match="expected a TensorRT engine"):
        TrtBackend(tmp_path / "model.onnx")


def _two_auto_matters(tmp_path, tiny_onnx, setup, level="WARNING", pythonpath=None):
    """stdout of a fresh interpreter that runs ``setup``, then opens two ``auto`` Matters logging at ``level``."""
    code = (
        f"import logging, sys; logging.basicConfig(level=logging.{level}, stream=sys.stdout, format='%(message)s')\n"
        f"{setup}\n"
        "import edgematte\n"
        f"a = edgematte.Matter({str(tiny_onnx)!r}, refine=False); b = edgematte.Matter({str(tiny_onnx)!r}, refine=False)\n"
        "print('BACKENDS', type(a.backend).__name__, type(b.backend).__name__)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "EDGEMATTE_BACKEND"}
    if pythonpath:
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(pythonpath), env.get("PYTHONPATH")) if p)
    argv, kwargs = fresh_python(["-c", code], cwd=tmp_path, capture_output=True, text=True, env=env)
    out = subprocess.run(argv, **kwargs, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "BACKENDS OrtCpuBackend OrtCpuBackend" in out.stdout
    return out.stdout


@pytest.mark.skipif(trt_env.is_jetson(), reason="on a Jetson TensorRT ships with the system: its absence warns")
def test_auto_without_tensorrt_installed_falls_back_quietly(tmp_path, tiny_onnx):
    out = _two_auto_matters(tmp_path, tiny_onnx, "sys.modules['tensorrt'] = None")
    assert "TensorRT" not in out, out
    debug = _two_auto_matters(tmp_path, tiny_onnx, "sys.modules['tensorrt'] = None", level="DEBUG")
    assert debug.count("TensorRT is not installed") == 2 and "'tensorrt'" in debug, debug


def test_auto_with_a_tensorrt_that_cannot_start_warns_once(tmp_path, tiny_onnx):
    broken = tmp_path / "site" / "tensorrt"
    broken.mkdir(parents=True)
    (broken / "__init__.py").write_text("raise OSError('libnvinfer.so.10: cannot open shared object file')\n")
    out = _two_auto_matters(tmp_path, tiny_onnx, "", pythonpath=tmp_path / "site")
    reasons = [line for line in out.splitlines() if "TensorRT could not start" in line]
    assert len(reasons) == 1 and "libnvinfer.so.10" in reasons[0], out


def test_edgematte_backend_ort_cpu_is_quiet(monkeypatch, tiny_onnx, caplog):
    import edgematte

    monkeypatch.setenv("EDGEMATTE_BACKEND", "ort-cpu")
    with caplog.at_level(logging.DEBUG, logger="edgematte"):
        matter = edgematte.Matter(tiny_onnx, refine=False)
    assert type(matter.backend).__name__ == "OrtCpuBackend"
    assert not [r for r in caplog.records if "TensorRT" in r.getMessage()]


def test_edgematte_backend_must_name_a_backend(monkeypatch, tiny_onnx):
    import edgematte

    monkeypatch.setenv("EDGEMATTE_BACKEND", "cuda")
    with pytest.raises(InputError, match="EDGEMATTE_BACKEND='cuda'"):
        edgematte.Matter(tiny_onnx, refine=False)


def test_none_from_tensorrt_becomes_our_error_with_its_logged_messages():
    from types import SimpleNamespace

    from edgematte.errors import EngineBuildError

    logger = SimpleNamespace(errors=["[network.cpp::validate] Error Code 4: profile missing"])
    with pytest.raises(EngineBuildError, match="no builder config .*Error Code 4: profile missing"):
        trt_env.checked(None, "builder config", logger, EngineBuildError)
    assert trt_env.checked("made", "builder config", logger, EngineBuildError) == "made"

    def null_factory(*args):
        raise TypeError("pybind11::init(): factory function returned nullptr")

    with pytest.raises(BackendUnavailableError, match="could not create its builder .*Error Code 4"):
        trt_env.create(null_factory, "builder", logger, logger)
    with pytest.raises(TypeError, match="incompatible"):  # our own type errors are not hidden

        def wrong_arguments(*args):
            raise TypeError("__init__(): incompatible constructor arguments")

        trt_env.create(wrong_arguments, "builder", logger, logger)
