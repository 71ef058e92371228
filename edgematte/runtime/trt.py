"""TensorRT backend: one engine, one CUDA stream, pycuda on the device's primary context.

``TrtBackend("engines/modnet/<key>.plan").open()`` loads an engine built by ``edgematte build``
(its manifest is checked against this GPU and TensorRT; a stale engine is rebuilt when its ONNX is
at hand, else EngineCacheMismatch). Given an ``.onnx`` path it builds or reuses the engine first.

Context handling follows the reference (§4): the primary context is retained once and pushed
around every call, so TensorRT, CuPy and torch share it and any thread may call ``infer``
(one thread at a time: the execution context is not thread-safe). Never ``pycuda.autoinit``.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from ..errors import EngineCacheMismatch, InputError, KernelError
from ..export.cache import EngineManifest, check_manifest, onnx_for_rebuild, read_manifest
from ..export.profiles import check_in_range
from ..export.to_trt import EngineConfig, build_engine
from ..types import TensorSpec
from ..weights import cache_dir, sha256_of
from ._trt_env import current_target, import_pycuda, import_tensorrt, make_logger
from ._trt_io import make_io
from .base import array_shape_dtype, check_feed

__all__ = ["TrtBackend", "TensorRTBackend", "DeviceArray"]

log = logging.getLogger("edgematte.tensorrt")
PathLike = Union[str, "os.PathLike[str]"]


class DeviceArray:
    """A C-contiguous view of device memory the backend owns (exposes ``__cuda_array_interface__``).

    Valid until the next ``infer`` or ``close``. Work on it is complete when it is returned.
    """

    def __init__(self, ptr: int, shape: Tuple[int, ...], dtype: np.dtype) -> None:
        self.ptr, self.shape, self.dtype = int(ptr), tuple(shape), np.dtype(dtype)

    @property
    def __cuda_array_interface__(self) -> Dict[str, Any]:
        return {
            "shape": self.shape,
            "typestr": self.dtype.str,
            "data": (self.ptr, False),
            "strides": None,
            "version": 3,
            "stream": None,
        }


class _Buffer:
    """Device memory for one tensor at one shape, plus its page-locked host twin when needed."""

    def __init__(self, cuda: Any, shape: Tuple[int, ...], dtype: np.dtype) -> None:
        self.shape, self.dtype = shape, dtype
        self.nbytes = int(math.prod(shape)) * dtype.itemsize if shape else dtype.itemsize
        self.device = cuda.mem_alloc(max(self.nbytes, 1))
        self.host: Optional[np.ndarray] = None

    def free(self) -> None:
        self.device.free()
        if self.host is not None and hasattr(self.host.base, "free"):
            self.host.base.free()
        self.host = None


def _device_pointer(name: str, cai: Mapping[str, Any], dtype: np.dtype) -> int:
    shape = tuple(cai["shape"])
    strides = cai.get("strides")
    if strides is not None:
        expected, step = [], dtype.itemsize
        for dim in reversed(shape):
            expected.insert(0, step)
            step *= dim
        if tuple(strides) != tuple(expected) and math.prod(shape) > 1:
            raise InputError(
                f"input {name!r}: received a device array with strides {tuple(strides)}; expected C-contiguous"
            )
    return int(cai["data"][0])


class TrtBackend:
    """A TensorRT engine behind the Backend protocol.

    Inputs: NumPy arrays (staged through page-locked host buffers; pass the array from
    :meth:`input_buffer` to skip that host copy) or objects with ``__cuda_array_interface__``
    (C-contiguous device memory on this GPU, read in place without a copy).
    Outputs: NumPy arrays in page-locked memory, or :class:`DeviceArray` with ``device_outputs=True``.
    **Output arrays are reused: the next ``infer`` overwrites them; copy what you keep.**
    Device buffers are allocated once per shape. ``cuda_graph=True`` (static shapes, TensorRT >= 8.5)
    captures the enqueue into a CUDA graph after the first run and replays it.
    """

    def __init__(
        self,
        path: PathLike,
        *,
        onnx: Optional[PathLike] = None,
        device: int = 0,
        cuda_graph: bool = False,
        device_outputs: bool = False,
        rebuild: bool = True,
        fp16: bool = True,
        shapes: Optional[Mapping[str, Any]] = None,
        engines_dir: Optional[PathLike] = None,
    ) -> None:
        self.path = Path(path)
        if self.path.suffix == ".onnx" and onnx is None:
            onnx = self.path
        self._onnx = Path(onnx) if onnx is not None else None
        self.device, self.cuda_graph, self.device_outputs, self.rebuild = device, cuda_graph, device_outputs, rebuild
        self._build_options = dict(fp16=fp16, shapes=dict(shapes or {}))
        self._engines_dir = Path(engines_dir) if engines_dir is not None else cache_dir() / "engines"
        self._manifest: Optional[EngineManifest] = None
        self._ctx: Any = None
        self._inputs: Tuple[TensorSpec, ...] = ()
        self._outputs: Tuple[TensorSpec, ...] = ()

    # --- Backend protocol ------------------------------------------------------------------------

    @property
    def inputs(self) -> Tuple[TensorSpec, ...]:
        """Engine inputs; before open(), those its manifest records (() when there is none to read)."""
        return self._inputs if self._ctx is not None else self._recorded_io()[0]

    @property
    def outputs(self) -> Tuple[TensorSpec, ...]:
        return self._outputs if self._ctx is not None else self._recorded_io()[1]

    def open(self) -> "TrtBackend":
        if self._ctx is not None:
            return self
        trt, cuda = import_tensorrt(), import_pycuda()
        ctx = cuda.Device(self.device).retain_primary_context()
        ctx.push()
        loaded = False
        try:
            self._load(trt, cuda)
            loaded = True
        finally:
            if not loaded:
                self._release()
            cuda.Context.pop()
            if not loaded:
                ctx.detach()
        self._cuda, self._ctx = cuda, ctx
        return self

    def infer(self, feed: Mapping[str, Any], *, validate: bool = True) -> Dict[str, Any]:
        """Run the engine on ``feed`` (name -> array); returns name -> array (reused buffers)."""
        if self._ctx is None:
            raise InputError(
                f"received infer() on a closed TrtBackend for {str(self.path)!r}; expected open() or a with block first"
            )
        if validate:
            check_feed(feed, self._inputs)
            for spec in self._inputs:
                if spec.is_dynamic:
                    check_in_range(spec.name, array_shape_dtype(feed[spec.name])[0], self._manifest.profiles[spec.name])
        self._ctx.push()
        try:
            return self._run(feed)
        finally:
            self._cuda.Context.pop()

    def close(self) -> None:
        if self._ctx is None:
            return
        self._ctx.push()
        try:
            self._release()
        finally:
            self._cuda.Context.pop()
            self._ctx.detach()
            self._ctx = None

    def __enter__(self) -> "TrtBackend":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def input_buffer(self, name: str, shape: Optional[Tuple[int, ...]] = None) -> np.ndarray:
        """The page-locked host array for input ``name``; fill it and pass it back to skip a host copy."""
        spec = {s.name: s for s in self._inputs}.get(name)
        if spec is None or self._ctx is None:
            raise InputError(
                f"received input name {name!r}; expected one of {[s.name for s in self._inputs]} on an open backend"
            )
        if shape is None:
            if spec.is_dynamic:
                raise InputError(f"input {name!r} is dynamic {spec.shape}; expected an explicit shape")
            shape = tuple(int(d) for d in spec.shape)  # type: ignore[arg-type]
        self._ctx.push()
        try:
            return self._buffer(name, tuple(shape), np.dtype(spec.dtype), host=True).host  # type: ignore[return-value]
        finally:
            self._cuda.Context.pop()

    # --- loading ---------------------------------------------------------------------------------

    def _recorded_io(self) -> Tuple[Tuple[TensorSpec, ...], Tuple[TensorSpec, ...]]:
        if self._manifest is None and self.path.suffix != ".onnx":
            try:
                self._manifest = read_manifest(self.path)
            except EngineCacheMismatch:  # no readable manifest yet: open() reports it
                return (), ()
        return (self._manifest.inputs, self._manifest.outputs) if self._manifest else ((), ())

    def _load(self, trt: Any, cuda: Any) -> None:
        if self.path.suffix == ".onnx":
            config = EngineConfig(**self._build_options)
            self.path = build_engine(self.path, self._engines_dir, config, device=self.device)
        target = current_target(trt, cuda, self.device)
        manifest = read_manifest(self.path)
        if not self.rebuild:
            check_manifest(manifest, target, self.path, onnx_sha256=sha256_of(self._onnx) if self._onnx else None)
        else:
            source = onnx_for_rebuild(manifest, target, self.path, onnx=self._onnx)
            if source is not None:
                log.warning("engine %s does not fit %s; rebuilding it from %s", self.path, target.describe(), source)
                config = EngineConfig.from_manifest(manifest)
                self.path = build_engine(
                    source, self.path.parent.parent, config, model=manifest.model, device=self.device
                )
                manifest = read_manifest(self.path)
        self._manifest = manifest

        self._logger = make_logger(trt)
        if not trt.init_libnvinfer_plugins(self._logger, ""):  # plugin layers (InstanceNorm on 8.5) need it
            log.warning("TensorRT plugins could not be initialised")
        self._runtime = trt.Runtime(self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise EngineCacheMismatch(
                f"TensorRT {trt.__version__} could not deserialise {str(self.path)!r} "
                f"({'; '.join(self._logger.errors) or 'see log'}); "
                f"expected a plan built by this TensorRT on this GPU: rebuild it with `edgematte build`"
            )
        self._context = self._engine.create_execution_context()
        if self._context is None:
            raise KernelError(
                f"TensorRT could not create an execution context for {str(self.path)!r} (out of device memory?)"
            )
        self._io = make_io(trt, self._engine, self._context)
        specs = [
            (name, is_in, TensorSpec(name, tuple(None if d < 0 else d for d in shape), dtype.name))
            for name, is_in, dtype, shape in self._io.tensors
        ]
        self._inputs = tuple(s for _, is_in, s in specs if is_in)
        self._outputs = tuple(s for _, is_in, s in specs if not is_in)
        self._buffers: Dict[str, _Buffer] = {}
        self._shapes: Dict[str, Tuple[int, ...]] = {}
        self._graph: Any = None
        self._cuda = cuda
        if self.cuda_graph:
            self._check_graph_support(cuda)
        self._stream = cuda.Stream()

    def _check_graph_support(self, cuda: Any) -> None:
        dynamic = [s.name for s in self._inputs if s.is_dynamic]
        if dynamic:
            raise InputError(
                f"received cuda_graph=True for an engine with dynamic inputs {dynamic}; expected static shapes"
            )
        if not hasattr(self._context, "execute_async_v3"):
            raise InputError("received cuda_graph=True on TensorRT without execute_async_v3; expected TensorRT >= 8.5")
        if not hasattr(cuda.Stream, "begin_capture"):
            raise InputError(
                "received cuda_graph=True, but this pycuda has no stream capture; expected pycuda >= 2021.1"
            )

    def _release(self) -> None:
        self._graph = None
        for buf in getattr(self, "_buffers", {}).values():
            buf.free()
        self._buffers = {}
        for name in ("_stream", "_io", "_context", "_engine", "_runtime"):  # context before engine before runtime
            if hasattr(self, name):
                setattr(self, name, None)

    # --- running ---------------------------------------------------------------------------------

    def _buffer(self, name: str, shape: Tuple[int, ...], dtype: np.dtype, *, host: bool) -> _Buffer:
        buf = self._buffers.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            if buf is not None:
                buf.free()
                self._graph = None  # captured addresses are gone
            buf = self._buffers[name] = _Buffer(self._cuda, shape, dtype)
        if host and buf.host is None:
            buf.host = self._cuda.pagelocked_empty(shape, dtype)
        return buf

    def _run(self, feed: Mapping[str, Any]) -> Dict[str, Any]:
        cuda, stream = self._cuda, self._stream
        addresses: Dict[str, int] = {}
        for spec in self._inputs:
            array = feed[spec.name]
            shape, _ = array_shape_dtype(array)
            if self._shapes.get(spec.name) != shape:
                self._io.set_input_shape(spec.name, shape)
                self._shapes[spec.name] = shape
            dtype = np.dtype(spec.dtype)
            cai = getattr(array, "__cuda_array_interface__", None)
            if cai is not None:
                _wait_for_producer(cuda, cai, stream)
                pointer = _device_pointer(spec.name, cai, dtype)
                if not self.cuda_graph:
                    addresses[spec.name] = pointer  # read in place: no copy
                    continue
                buf = self._buffer(spec.name, shape, dtype, host=False)
                cuda.memcpy_dtod_async(buf.device, pointer, buf.nbytes, stream)
            else:
                buf = self._buffer(spec.name, shape, dtype, host=True)
                if array is not buf.host:
                    np.copyto(buf.host, array)
                cuda.memcpy_htod_async(buf.device, buf.host, stream)
            addresses[spec.name] = int(buf.device)
        for spec in self._outputs:
            shape = self._io.output_shape(spec.name)
            if any(d < 0 for d in shape):
                raise KernelError(f"TensorRT left output {spec.name!r} with unresolved shape {shape}")
            addresses[spec.name] = int(
                self._buffer(spec.name, shape, np.dtype(spec.dtype), host=not self.device_outputs).device
            )
        self._io.bind(addresses)
        if self.cuda_graph:
            self._launch_graph()
        else:
            self._io.enqueue(stream.handle)
        results: Dict[str, Any] = {}
        for spec in self._outputs:
            buf = self._buffers[spec.name]
            if self.device_outputs:
                results[spec.name] = DeviceArray(int(buf.device), buf.shape, buf.dtype)
            else:
                cuda.memcpy_dtoh_async(buf.host, buf.device, stream)
                results[spec.name] = buf.host
        stream.synchronize()
        return results

    def _launch_graph(self) -> None:
        """First call: run once uncaptured (TensorRT flushes deferred work), then capture. Later: replay."""
        if self._graph is None:
            handle = self._stream.handle
            self._io.enqueue(handle)
            self._stream.begin_capture()
            try:
                self._io.enqueue(handle)
            finally:
                graph = self._stream.end_capture()
            self._graph = graph.instantiate()
            return
        # pycuda's GraphExec.launch() runs on the legacy default stream, which orders it after the
        # copies already queued on our (blocking) stream and before the ones queued next.
        self._graph.launch()


def _wait_for_producer(cuda: Any, cai: Mapping[str, Any], stream: Any) -> None:
    """Honour ``__cuda_array_interface__`` v3 ``stream``: 1 (legacy default) already orders before our
    blocking stream; any other producer stream is waited for with a context synchronize."""
    producer = cai.get("stream")
    if producer not in (None, 1, stream.handle):
        cuda.Context.synchronize()


#: the name the project's issue uses
TensorRTBackend = TrtBackend
