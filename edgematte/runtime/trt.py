"""TensorRT backend: one engine, one CUDA stream, pycuda on the device's primary context.

``TrtBackend("engines/modnet/<key>.plan").open()`` loads an engine built by ``edgematte build``
and runs it; it never builds. Its manifest is checked against this GPU and TensorRT, and a stale
engine raises EngineCacheMismatch (``edgematte.export.to_trt.engine_for`` rebuilds one when its
ONNX is at hand; ``Matter`` and the CLI call it).

Contexts: every call runs in the device's primary context, pushed around the call and popped
after it, so any thread may call ``infer`` or ``close`` (one thread at a time: the execution
context is not thread-safe). CuPy and torch make that same primary context current through the
CUDA runtime, so their device arrays can be passed in. A context made with pycuda's
``make_context()``/``pycuda.autoinit`` is a different context: arrays allocated in it cannot be
read here. The primary context is retained once per process (see ``trt_env``), never per backend.
"""

from __future__ import annotations

import logging
import math
import os
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Tuple, Union

import numpy as np

from ..errors import BackendUnavailableError, EngineCacheMismatch, InputError, KernelError
from ..types import TensorSpec
from ._trt_io import NamedIO
from .base import array_shape_dtype, check_feed
from .engine_cache import EngineManifest, check_in_range, check_manifest, read_manifest
from .trt_env import (
    checked,
    create,
    current_target,
    import_pycuda,
    import_tensorrt,
    make_logger,
    primary_context,
    pushed,
)

__all__ = ["TrtBackend", "TrtEngineSet", "DeviceArray"]

log = logging.getLogger("edgematte.tensorrt")
PathLike = Union[str, "os.PathLike[str]"]


class DeviceArray:
    """A C-contiguous view of device memory the backend owns (exposes ``__cuda_array_interface__``).

    Its contents are valid until the next ``infer`` (which may overwrite them); the memory itself
    stays allocated while this object lives. Work on it is complete when it is returned.
    """

    def __init__(self, ptr: int, shape: Tuple[int, ...], dtype: np.dtype, owner: Any = None) -> None:
        self.ptr, self.shape, self.dtype = int(ptr), tuple(shape), np.dtype(dtype)
        self._owner = owner  # the DeviceAllocation: freed only when no DeviceArray refers to it

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
    """Device memory for one tensor at one shape, plus its page-locked host twin when needed.

    Never freed explicitly: pycuda frees a ``DeviceAllocation``/page-locked array when its last
    reference goes, so an output the caller still holds stays valid after a shape change or
    ``close()`` (``HostAllocation.free()`` would unmap it under the caller's NumPy view).
    """

    def __init__(self, cuda: Any, shape: Tuple[int, ...], dtype: np.dtype) -> None:
        self.shape, self.dtype = shape, dtype
        self.nbytes = int(math.prod(shape)) * dtype.itemsize if shape else dtype.itemsize
        self.device = cuda.mem_alloc(max(self.nbytes, 1))
        self.host: Optional[np.ndarray] = None


def _buffer(
    cuda: Any, buffers: Dict[str, _Buffer], name: str, shape: Tuple[int, ...], dtype: np.dtype, *, host: bool
) -> _Buffer:
    """The buffer of ``name`` at ``shape``; a new one (the old one merely dropped) when the shape changes."""
    buf = buffers.get(name)
    if buf is None or buf.shape != shape or buf.dtype != dtype:
        buf = buffers[name] = _Buffer(cuda, shape, dtype)
    if host and buf.host is None:
        buf.host = cuda.pagelocked_empty(shape, dtype)
    return buf


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
    """A TensorRT engine (a ``.plan`` from ``edgematte build``) behind the Backend protocol.

    Inputs: NumPy arrays (staged through page-locked host buffers; pass the array from
    :meth:`input_buffer` to skip that host copy) or objects with ``__cuda_array_interface__``
    (C-contiguous device memory on this GPU, read in place without a copy).
    Outputs: NumPy arrays in page-locked memory, or :class:`DeviceArray` with ``device_outputs=True``.
    **Output arrays are reused: the next ``infer`` at the same shapes overwrites them; copy what you
    keep.** They are never freed under the caller: after a shape change or ``close()`` an output
    still held keeps its memory and its last values. Device buffers are allocated once per shape.

    Recurrent state (RobustVideoMatting): ``carry_state({"r1i": "r1o", ...})`` makes the backend own those
    inputs. Each pair has two device buffers of the engine's (static) state shape: one is bound as the input,
    the other as the output, and they swap after each run, so a frame's output state is the next frame's input
    with no copy, host or device. They start as zeros; :meth:`reset_state` zeros them again (before the next run,
    on the engine's stream). The feed omits them and the result leaves them out. Calls must come in frame order.
    """

    def __init__(self, path: PathLike, *, device: int = 0, device_outputs: bool = False) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() == ".onnx":
            raise InputError(
                f"received the ONNX file {str(self.path)!r}; expected a TensorRT engine (.plan): build one with "
                "`edgematte build` or edgematte.export.to_trt.engine_for (Matter does this for you)"
            )
        self.device, self.device_outputs = device, device_outputs
        self._manifest: Optional[EngineManifest] = None
        self._ctx: Any = None
        self._inputs: Tuple[TensorSpec, ...] = ()
        self._outputs: Tuple[TensorSpec, ...] = ()
        self.recurrent: Dict[str, str] = {}
        self._states: Dict[str, list] = {}  # input name -> [buffer bound as the input, buffer bound as the output]
        self._zero_states = True

    # --- Backend protocol ------------------------------------------------------------------------

    @property
    def inputs(self) -> Tuple[TensorSpec, ...]:
        """Engine inputs; before open(), those its manifest records (() when there is none to read)."""
        return self._inputs if self._ctx is not None else self._recorded_io()[0]

    @property
    def outputs(self) -> Tuple[TensorSpec, ...]:
        return self._outputs if self._ctx is not None else self._recorded_io()[1]

    def open(self) -> "TrtBackend":
        """Load the engine. BackendUnavailableError when TensorRT or CUDA cannot start,
        EngineCacheMismatch when the engine was built for another GPU, TensorRT or ONNX."""
        if self._ctx is not None:
            return self
        trt, cuda = import_tensorrt(), import_pycuda()
        ctx = primary_context(cuda, self.device)
        try:
            with pushed(cuda, ctx):
                try:
                    self._load(trt, cuda)
                except BaseException:
                    self._release()  # TensorRT objects go while their context is current
                    raise
        except cuda.Error as exc:  # a driver error while starting up: out of memory, bad device state
            raise BackendUnavailableError(
                f"CUDA failed while opening {str(self.path)!r} ({type(exc).__name__}: {exc})"
            ) from exc
        self._cuda, self._ctx = cuda, ctx
        return self

    def infer(self, feed: Mapping[str, Any], *, validate: bool = True) -> Dict[str, Any]:
        """Run the engine on ``feed`` (name -> array); returns name -> array (reused buffers)."""
        if self._ctx is None:
            raise InputError(
                f"received infer() on a closed TrtBackend for {str(self.path)!r}; expected open() or a with block first"
            )
        if validate:
            check_feed(feed, tuple(s for s in self._inputs if s.name not in self.recurrent))
            for spec in self._inputs:
                profile = self._manifest.profiles.get(spec.name) if spec.is_dynamic else None
                if profile is not None:
                    check_in_range(spec.name, array_shape_dtype(feed[spec.name])[0], profile)
        with pushed(self._cuda, self._ctx):
            return self._run(feed)

    def close(self) -> None:
        """Release the engine, its context and stream; safe from any thread (no retain is held)."""
        if self._ctx is None:
            return
        with pushed(self._cuda, self._ctx):
            self._release()
        self._ctx = None

    def carry_state(self, pairs: Mapping[str, str]) -> None:
        """Own the recurrent inputs ``pairs`` (input -> output), carried on the device (see the class docstring)."""
        if self._ctx is None:
            raise InputError(f"received carry_state() on a closed TrtBackend for {str(self.path)!r}; expected open() first")
        ins, outs = {s.name: s for s in self._inputs}, {s.name: s for s in self._outputs}
        for name_in, name_out in pairs.items():
            spec, out = ins.get(name_in), outs.get(name_out)
            if spec is None or out is None or spec.is_dynamic or spec.shape != out.shape or spec.dtype != out.dtype:
                raise InputError(
                    f"received recurrent pair {name_in!r} -> {name_out!r} for engine {str(self.path)!r} with inputs "
                    f"{list(ins.values())} and outputs {list(outs.values())}; expected an input and an output of one "
                    "static shape and dtype (the engine of `edgematte export rvm`'s static graph)"
                )
        self.recurrent = dict(pairs)
        with pushed(self._cuda, self._ctx):
            self._states = {name: [_Buffer(self._cuda, tuple(ins[name].shape), np.dtype(ins[name].dtype))
                                   for _ in range(2)] for name in self.recurrent}
        self._zero_states = True

    def reset_state(self) -> None:
        """The recurrent inputs back to zeros before the next run (the next call is a first frame)."""
        self._zero_states = True

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
        with pushed(self._cuda, self._ctx):
            buf = _buffer(self._cuda, self._buffers, name, tuple(shape), np.dtype(spec.dtype), host=True)
        return buf.host  # type: ignore[return-value]

    # --- loading ---------------------------------------------------------------------------------

    def _recorded_io(self) -> Tuple[Tuple[TensorSpec, ...], Tuple[TensorSpec, ...]]:
        if self._manifest is None:
            try:
                self._manifest = read_manifest(self.path)
            except EngineCacheMismatch:  # no readable manifest yet: open() reports it
                return (), ()
        return self._manifest.inputs, self._manifest.outputs

    def _load(self, trt: Any, cuda: Any) -> None:
        manifest = read_manifest(self.path)
        check_manifest(manifest, current_target(trt, cuda, self.device), self.path)
        self._manifest = manifest

        self._logger = make_logger(trt)
        if not trt.init_libnvinfer_plugins(self._logger, ""):  # plugin layers (InstanceNorm on 8.5) need it
            log.warning("TensorRT plugins could not be initialised")
        self._runtime = create(trt.Runtime, "runtime", self._logger, self._logger)
        self._engine = self._runtime.deserialize_cuda_engine(self.path.read_bytes())
        if self._engine is None:
            raise EngineCacheMismatch(
                f"TensorRT {trt.__version__} could not deserialise {str(self.path)!r} "
                f"({'; '.join(self._logger.errors) or 'see log'}); "
                f"expected a plan built by this TensorRT on this GPU: rebuild it with `edgematte build`"
            )
        self._context = checked(
            self._engine.create_execution_context(), "execution context (out of device memory?)", self._logger,
            KernelError,
        )
        self._io = NamedIO(trt, self._engine, self._context)
        specs = [
            (name, is_in, TensorSpec(name, tuple(None if d < 0 else d for d in shape), dtype.name))
            for name, is_in, dtype, shape in self._io.tensors
        ]
        self._inputs = tuple(s for _, is_in, s in specs if is_in)
        self._outputs = tuple(s for _, is_in, s in specs if not is_in)
        self._buffers: Dict[str, _Buffer] = {}
        self._shapes: Dict[str, Tuple[int, ...]] = {}
        self._cuda = cuda
        self._stream = cuda.Stream()

    def _release(self) -> None:
        self._buffers, self._states = {}, {}
        for name in ("_stream", "_io", "_context", "_engine", "_runtime"):  # context before engine before runtime
            if hasattr(self, name):
                setattr(self, name, None)

    # --- running ---------------------------------------------------------------------------------

    def _run(self, feed: Mapping[str, Any]) -> Dict[str, Any]:
        cuda, stream = self._cuda, self._stream
        addresses: Dict[str, int] = {}
        carried = set(self.recurrent.values())
        for name_in, name_out in self.recurrent.items():  # the states: bound by address, never copied
            held, made = self._states[name_in]
            if self._zero_states:
                cuda.memset_d8_async(held.device, 0, held.nbytes, stream)
            addresses[name_in], addresses[name_out] = int(held.device), int(made.device)
        self._zero_states = False
        for spec in self._inputs:
            if spec.name in self.recurrent:
                continue
            array = feed[spec.name]
            shape, _ = array_shape_dtype(array)
            if self._shapes.get(spec.name) != shape:
                self._io.set_input_shape(spec.name, shape)
                self._shapes[spec.name] = shape
            dtype = np.dtype(spec.dtype)
            cai = getattr(array, "__cuda_array_interface__", None)
            if cai is not None:
                _wait_for_producer(cuda, cai, stream)
                addresses[spec.name] = _device_pointer(spec.name, cai, dtype)  # read in place: no copy
                continue
            buf = _buffer(cuda, self._buffers, spec.name, shape, dtype, host=True)
            if array is not buf.host:
                np.copyto(buf.host, array)
            cuda.memcpy_htod_async(buf.device, buf.host, stream)
            addresses[spec.name] = int(buf.device)
        for spec in self._outputs:
            if spec.name in carried:
                continue
            shape = self._io.output_shape(spec.name)
            if any(d < 0 for d in shape):
                raise KernelError(f"TensorRT left output {spec.name!r} with unresolved shape {shape}")
            buf = _buffer(cuda, self._buffers, spec.name, shape, np.dtype(spec.dtype), host=not self.device_outputs)
            addresses[spec.name] = int(buf.device)
        self._io.bind(addresses)
        self._io.enqueue(stream.handle)
        for pair in self._states.values():
            pair.reverse()  # this frame's output state is the next frame's input
        results: Dict[str, Any] = {}
        for spec in self._outputs:
            if spec.name in carried:
                continue
            buf = self._buffers[spec.name]
            if self.device_outputs:
                results[spec.name] = DeviceArray(int(buf.device), buf.shape, buf.dtype, owner=buf.device)
            else:
                cuda.memcpy_dtoh_async(buf.host, buf.device, stream)
                results[spec.name] = buf.host
        stream.synchronize()
        return results


class TrtEngineSet:
    """Engines of one model that differ only in their static ``src`` size (RobustVideoMatting's, one per frame size:
    ``edgematte build rvm --size WxH``) behind one Backend: each call runs the engine of the feed's ``src`` shape.

    ``inputs``/``outputs`` are the first engine's, with the dimensions the engines disagree on as None; recurrent
    state is carried per engine (:meth:`carry_state`, :meth:`reset_state` apply to all). Arguments as TrtBackend.
    """

    def __init__(self, paths: Any, **options: Any) -> None:
        self.engines = [TrtBackend(path, **options) for path in paths]
        if not self.engines:
            raise InputError("received no engine files; expected one engine per frame size")
        self.path = self.engines[0].path

    def _merged(self, specs: Tuple[Tuple[TensorSpec, ...], ...]) -> Tuple[TensorSpec, ...]:
        return tuple(TensorSpec(group[0].name, tuple(d[0] if len(set(d)) == 1 else None for d in zip(*(s.shape for s in group))),
                                group[0].dtype) for group in zip(*specs))

    @property
    def inputs(self) -> Tuple[TensorSpec, ...]:
        return self._merged(tuple(e.inputs for e in self.engines))

    @property
    def outputs(self) -> Tuple[TensorSpec, ...]:
        return self._merged(tuple(e.outputs for e in self.engines))

    @property
    def device_outputs(self) -> bool:
        return self.engines[0].device_outputs

    @device_outputs.setter
    def device_outputs(self, value: bool) -> None:
        for engine in self.engines:
            engine.device_outputs = value

    def open(self) -> "TrtEngineSet":
        for engine in self.engines:
            engine.open()
        return self

    def _for(self, feed: Mapping[str, Any]) -> TrtBackend:
        shape = tuple(array_shape_dtype(feed["src"])[0])
        sources = [{spec.name: spec for spec in engine.inputs}["src"].shape for engine in self.engines]
        for engine, src in zip(self.engines, sources):
            if tuple(src) == shape:
                return engine
        raise InputError(f"received src of shape {shape}; the engines of {str(self.path.parent)!r} take frames of "
                         f"{[f'{s[-1]}x{s[-2]}' for s in sources]}: build one for this size with `edgematte build "
                         "MODEL --size WxH`")

    def infer(self, feed: Mapping[str, Any], *, validate: bool = True) -> Dict[str, Any]:
        return self._for(feed).infer(feed, validate=validate)

    def carry_state(self, pairs: Mapping[str, str]) -> None:
        for engine in self.engines:
            engine.carry_state(pairs)

    def reset_state(self) -> None:
        for engine in self.engines:
            engine.reset_state()

    def close(self) -> None:
        for engine in self.engines:
            engine.close()

    def __enter__(self) -> "TrtEngineSet":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()


def _wait_for_producer(cuda: Any, cai: Mapping[str, Any], stream: Any) -> None:
    """Honour ``__cuda_array_interface__`` v3 ``stream``: 1 (legacy default) already orders before our
    blocking stream; any other producer stream is waited for with a context synchronize."""
    producer = cai.get("stream")
    if producer not in (None, 1, stream.handle):
        cuda.Context.synchronize()
