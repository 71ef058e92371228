"""The TensorRT backend without TensorRT: lazy imports and the missing-dependency errors.

``sys.modules[name] = None`` makes ``import name`` fail, which is how a machine without the
package behaves; here that is the real situation anyway.
"""

from __future__ import annotations

import subprocess
import sys

import pytest
from fresh_python import heavy_modules_after

from edgematte.errors import BackendUnavailableError
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
    from edgematte.errors import InputError

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
