"""Loading and launching the CUDA kernels of this folder (pycuda first, CuPy second).

Modules come from the fatbins that ``python -m edgematte.kernels.cuda.build`` writes next to this
file (SASS for sm_75/86/87/89/90 + compute_75 PTX). When a fatbin is missing or holds no code for the
GPU, the ``.cu`` source is compiled at run time: NVRTC (cuda-python) then nvcc (pycuda's
SourceModule) on the pycuda side, NVRTC (``cupy.RawModule``) on the CuPy side; each fallback logs
a warning. Nothing here runs at import time; pycuda and CuPy are imported on first use.

pycuda uses the caller's current context, or else device 0's *primary* context (retained and
pushed for the call, popped after), so kernels share memory with TensorRT, CuPy and torch.
pycuda launches on a ``pycuda.driver.Stream`` or the legacy default stream; CuPy launches on any
stream handle.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple

import numpy as np

from ...errors import BackendUnavailableError, InputError, KernelError

log = logging.getLogger(__name__)

#: the .cu sources, em_cuda.h and the fatbins built from them (package data)
CUDA_DIR = Path(__file__).resolve().parent
#: em_common.h (the status codes shared with the CPU kernels)
COMMON_DIR = CUDA_DIR.parent
BUILD_HINT = "python -m edgematte.kernels.cuda.build"

#: kernel name -> (module, argument types: P pointer, q int64, i int32, f float32, d float64)
KERNELS: Dict[str, Tuple[str, str]] = {
    "em_k_preprocess_f32": ("resize", "PiiqiPiiffffffff"),
    "em_k_preprocess_f16": ("resize", "PiiqiPiiffffffff"),
    "em_k_upsample_alpha_f32": ("resize", "PiiqPiiqff"),
    "em_k_upsample_alpha_f16": ("resize", "PiiqPiiqff"),
    "em_k_trimap_pass_u8": ("trimap", "PqPqiiiiiiiP"),
    "em_k_trimap_pass_f32": ("trimap", "PqPqiiiiiiiP"),
    "em_k_composite_u8": ("composite", "PqPqPqiiiiPqiiP"),
    "em_k_composite_f32": ("composite", "PqPqPqiiiiPqiiP"),
    "em_k_blur_h": ("composite", "PqPiiPi"),
    "em_k_blur_v": ("composite", "PPqiiPi"),
    "em_k_resize_u8": ("stages", "PqiiPqiiidd"),
    "em_k_area_u8": ("stages", "PqiiPqiiiddi"),
    "em_k_area_f32": ("stages", "PqiiPqiiiddi"),
    "em_k_planes_u8_f32": ("stages", "PiPii"),
    "em_k_planes_u8_f16": ("stages", "PiPii"),
    "em_k_fit_ab": ("stages", "PPPiiid"),
    "em_k_fit_coef": ("stages", "PPPiiii"),
    "em_k_fit_blur": ("stages", "PPPPiii"),
    "em_k_guided_apply": ("stages", "PPiiPqPPii"),
    "em_k_temporal_weights": ("stages", "PPPiifff"),
    "em_k_temporal_keep": ("stages", "PPii"),
    "em_k_temporal_blend": ("stages", "PPPiiiPf"),
    "em_k_temporal_alpha": ("stages", "PiiPPii"),
    "em_k_edges_h": ("stages", "PqPiiii"),
    "em_k_edges_v": ("stages", "PPqiiiii"),
    "em_k_edges_cut": ("stages", "Pqiii"),
}
MODULES = ("resize", "trimap", "composite", "stages")
BLOCK = (32, 8, 1)  # EM_BLOCK_X, EM_BLOCK_Y of em_cuda.h

_SCALARS = {"P": np.uintp, "q": np.int64, "i": np.int32, "f": np.float32, "d": np.float64}
_MISSING = (
    "CUDA arrays need pycuda or CuPy with a working NVIDIA driver: pip install 'edgematte[trt]' "
    "(pycuda, builds with nvcc on PATH) or a cupy-cudaXXx wheel"
)


def pack_args(kernel: str, args: Sequence[Any]) -> Tuple[Any, ...]:
    """Kernel arguments as NumPy scalars of the exact C types (what pycuda and CuPy both need)."""
    sig = KERNELS[kernel][1]
    assert len(sig) == len(args), (kernel, len(sig), len(args))
    return tuple(_SCALARS[t](0 if (t == "P" and a is None) else a) for t, a in zip(sig, args))


def grid_for(width: int, height: int) -> Tuple[int, int, int]:
    """Grid of BLOCK-sized blocks covering width x height, as the C launchers size it."""
    return ((width + BLOCK[0] - 1) // BLOCK[0], (height + BLOCK[1] - 1) // BLOCK[1], 1)


def fatbin_path(module: str) -> Path:
    return CUDA_DIR / f"{module}.fatbin"


def include_flags() -> List[str]:
    """-I flags for the kernel sources (em_cuda.h, em_common.h)."""
    return [f"-I{CUDA_DIR}", f"-I{COMMON_DIR}"]


def read_source(module: str) -> str:
    return (CUDA_DIR / f"{module}.cu").read_text(encoding="utf-8")


def nvrtc_ptx(module: str, arch: str) -> bytes:
    """Compile ``module.cu`` to PTX for ``compute_<arch>`` with NVRTC from cuda-python."""
    try:
        from cuda.bindings import nvrtc
    except ImportError:
        try:
            from cuda import nvrtc  # cuda-python < 12.6
        except ImportError as exc:
            raise BackendUnavailableError("NVRTC needs cuda-python: pip install cuda-python") from exc

    def check(result):
        err, *rest = result
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            raise KernelError(f"NVRTC failed on {module}.cu: {nvrtc.nvrtcGetErrorString(err)[1]!r}")
        return rest[0] if len(rest) == 1 else rest

    prog = check(nvrtc.nvrtcCreateProgram(read_source(module).encode(), f"{module}.cu".encode(), 0, [], []))
    try:
        opts = [*(f.encode() for f in include_flags()), f"--gpu-architecture=compute_{arch}".encode(), b"-std=c++14"]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            size = check(nvrtc.nvrtcGetProgramLogSize(prog))
            buf = b" " * size
            check(nvrtc.nvrtcGetProgramLog(prog, buf))
            raise KernelError(
                f"NVRTC could not compile {module}.cu for compute_{arch}:\n{buf.decode(errors='replace')}"
            )
        size = check(nvrtc.nvrtcGetPTXSize(prog))
        ptx = b" " * size
        check(nvrtc.nvrtcGetPTX(prog, ptx))
        return ptx
    finally:
        nvrtc.nvrtcDestroyProgram(prog)


class Runtime:
    """One loaded set of modules plus the launch, allocation and sync calls of one library."""

    name = "?"

    def __init__(self) -> None:
        self._scratch: Dict[Tuple[Any, ...], Tuple[int, int, Any]] = {}

    def context(self) -> Any:  # a context manager making the right CUDA context current
        return contextlib.nullcontext()

    def context_key(self) -> Any:
        raise NotImplementedError

    def scratch(self, purpose: Any, nbytes: int, stream: Any) -> int:
        """A device buffer of at least ``nbytes`` kept per (context, stream, purpose).

        Reuse is ordered by the stream, so callers need not synchronise; a buffer that grows is
        replaced only after the stream is idle.
        """
        handle = getattr(stream, "handle", stream)
        key = (self.context_key(), handle, purpose)
        held = self._scratch.get(key)
        if held is None or held[1] < nbytes:
            if held is not None:
                self.synchronize(stream)
            ptr, owner = self.alloc(nbytes)
            self._scratch[key] = held = (ptr, nbytes, owner)
        return held[0]

    def launch(self, kernel: str, grid, args: Sequence[Any], stream: Any, shared: int = 0) -> None:
        raise NotImplementedError

    def alloc(self, nbytes: int) -> Tuple[int, Any]:
        """(device pointer, owner to keep alive)"""
        raise NotImplementedError

    def upload(self, host: np.ndarray) -> Tuple[int, Any]:
        """(device pointer, owner) of a synchronous copy of ``host``."""
        raise NotImplementedError

    def constant(self, key: Any, host: np.ndarray) -> int:
        """Device copy of an immutable host array, uploaded once per context."""
        full = (self.context_key(), "constant", key)
        if full not in self._scratch:
            ptr, owner = self.upload(host)
            self._scratch[full] = (ptr, host.nbytes, owner)
        return self._scratch[full][0]

    def zero_int(self, ptr: int, stream: Any) -> None:
        raise NotImplementedError

    def read_int(self, ptr: int, stream: Any) -> int:
        """Synchronise ``stream`` and return the int32 at ``ptr``."""
        raise NotImplementedError

    def synchronize(self, stream: Any) -> None:
        raise NotImplementedError


class PycudaRuntime(Runtime):
    name = "pycuda"

    def __init__(self) -> None:
        super().__init__()
        import pycuda.driver as cuda

        self.cuda = cuda
        cuda.init()
        if cuda.Device.count() == 0:
            raise BackendUnavailableError("pycuda found no CUDA device; expected an NVIDIA GPU and driver")
        self._modules: Dict[Tuple[int, str], Any] = {}
        self._primary: Any = None

    @contextlib.contextmanager
    def context(self) -> Iterator[Any]:
        """The caller's current context, else the primary context (retained once, pushed per call)."""
        cuda = self.cuda
        current = cuda.Context.get_current()
        if current is not None:
            yield current
            return
        if self._primary is None:
            self._primary = cuda.Device(int(os.environ.get("EDGEMATTE_CUDA_DEVICE", "0"))).retain_primary_context()
        self._primary.push()
        try:
            yield self._primary
        finally:
            cuda.Context.pop()

    def context_key(self):
        return int(self.cuda.Context.get_current().handle)

    def _module(self, module: str) -> Any:
        cuda = self.cuda
        ctx = cuda.Context.get_current()
        key = (int(ctx.handle), module)
        if key in self._modules:
            return self._modules[key]
        path = fatbin_path(module)
        mod = None
        if path.is_file():
            try:
                mod = cuda.module_from_file(str(path))
            except cuda.Error as exc:
                log.warning(
                    "edgematte: %s does not load on this GPU (%s); compiling %s.cu at run time", path, exc, module
                )
        else:
            log.warning("edgematte: %s is missing (see %s); compiling %s.cu at run time", path, BUILD_HINT, module)
        if mod is None:
            major, minor = ctx.get_device().compute_capability()
            try:
                mod = cuda.module_from_buffer(nvrtc_ptx(module, f"{major}{minor}"))
            except BackendUnavailableError:
                from pycuda.compiler import SourceModule  # needs nvcc on PATH

                mod = SourceModule(read_source(module), no_extern_c=True, include_dirs=[str(CUDA_DIR), str(COMMON_DIR)])
        self._modules[key] = mod
        return mod

    def launch(self, kernel, grid, args, stream, shared=0):
        fn = self._module(KERNELS[kernel][0]).get_function(kernel)
        try:
            fn(*pack_args(kernel, args), block=BLOCK, grid=tuple(grid), stream=stream, shared=int(shared))
        except self.cuda.Error as exc:
            raise KernelError(f"{kernel} failed to launch on grid {tuple(grid)}: {exc}") from exc

    def alloc(self, nbytes):
        mem = self.cuda.mem_alloc(max(int(nbytes), 1))
        return int(mem), mem

    def upload(self, host):
        mem = self.cuda.to_device(np.ascontiguousarray(host))
        return int(mem), mem

    def zero_int(self, ptr, stream):
        self.cuda.memset_d32_async(ptr, 0, 1, stream)

    def read_int(self, ptr, stream):
        self.synchronize(stream)
        host = np.zeros(1, np.int32)
        self.cuda.memcpy_dtoh(host, ptr)
        return int(host[0])

    def synchronize(self, stream):
        if stream is None:
            self.cuda.Context.synchronize()
        else:
            stream.synchronize()


class CupyRuntime(Runtime):
    name = "cupy"

    def __init__(self) -> None:
        super().__init__()
        import cupy

        self.cp = cupy
        if cupy.cuda.runtime.getDeviceCount() == 0:
            raise BackendUnavailableError("CuPy found no CUDA device; expected an NVIDIA GPU and driver")
        self._modules: Dict[Tuple[int, str], Any] = {}

    def context_key(self):
        return self.cp.cuda.Device().id

    def _module(self, module: str) -> Any:
        cp = self.cp
        key = (cp.cuda.Device().id, module)
        if key not in self._modules:
            path = fatbin_path(module)
            mod = None
            if path.is_file():
                try:
                    mod = cp.RawModule(path=str(path))
                    mod.get_function(next(k for k, (m, _) in KERNELS.items() if m == module))
                except cp.cuda.driver.CUDADriverError as exc:
                    log.warning("edgematte: %s does not load on this GPU (%s); compiling with NVRTC", path, exc)
                    mod = None
            else:
                log.warning("edgematte: %s is missing (see %s); compiling %s.cu with NVRTC", path, BUILD_HINT, module)
            if mod is None:
                mod = cp.RawModule(code=read_source(module), options=(*include_flags(), "-std=c++14"))
            self._modules[key] = mod
        return self._modules[key]

    def _stream(self, stream):
        cp = self.cp
        if stream is None:
            return cp.cuda.get_current_stream()
        if isinstance(stream, int):
            return cp.cuda.ExternalStream(stream)
        return stream

    def launch(self, kernel, grid, args, stream, shared=0):
        fn = self._module(KERNELS[kernel][0]).get_function(kernel)
        try:
            with self._stream(stream):
                fn(tuple(grid), BLOCK, pack_args(kernel, args), shared_mem=int(shared))
        except self.cp.cuda.driver.CUDADriverError as exc:
            raise KernelError(f"{kernel} failed to launch on grid {tuple(grid)}: {exc}") from exc

    def alloc(self, nbytes):
        arr = self.cp.empty(max(int(nbytes), 1), dtype=np.uint8)
        return int(arr.data.ptr), arr

    def upload(self, host):
        arr = self.cp.asarray(np.ascontiguousarray(host))
        return int(arr.data.ptr), arr

    def zero_int(self, ptr, stream):
        self.cp.cuda.runtime.memsetAsync(ptr, 0, 4, self._stream(stream).ptr)

    def read_int(self, ptr, stream):
        self.synchronize(stream)
        host = np.zeros(1, np.int32)
        self.cp.cuda.runtime.memcpy(host.ctypes.data, ptr, 4, self.cp.cuda.runtime.memcpyDeviceToHost)
        return int(host[0])

    def synchronize(self, stream):
        self._stream(stream).synchronize()


_RUNTIMES: Dict[str, Runtime] = {}


def _importable(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(name) is not None


def runtime(prefer: Optional[str] = None) -> Runtime:
    """The pycuda runtime, or CuPy's when ``prefer == "cupy"`` or pycuda is absent.

    Raises BackendUnavailableError naming what to install when neither works.
    """
    order = ["cupy", "pycuda"] if prefer == "cupy" else ["pycuda", "cupy"]
    if prefer == "pycuda":
        order = ["pycuda"]
    reasons = []
    for name in order:
        if name in _RUNTIMES:
            return _RUNTIMES[name]
        if not _importable(name):
            reasons.append(f"{name} is not installed")
            continue
        try:
            rt = PycudaRuntime() if name == "pycuda" else CupyRuntime()
        except BackendUnavailableError as exc:
            reasons.append(str(exc))
            continue
        except Exception as exc:  # driver missing or broken: cuInit/cudaGetDeviceCount fail with library errors
            reasons.append(f"{name} could not start CUDA ({type(exc).__name__}: {exc})")
            continue
        _RUNTIMES[name] = rt
        return rt
    raise BackendUnavailableError(f"received CUDA arrays but {'; '.join(reasons)}. {_MISSING}")


def resolve_stream(rt: Runtime, stream: Any, cai_stream: Optional[int]) -> Tuple[Any, bool]:
    """(stream object ``rt`` launches on, whether the producer's stream must be synchronised around it).

    ``stream``: None, a pycuda Stream, a CuPy or torch stream, or an int handle. With None the
    producer's ``__cuda_array_interface__`` stream is used: CuPy launches on it; pycuda cannot wrap
    a foreign handle, so it launches on the legacy default stream after a context synchronise (as
    the TensorRT backend does), and synchronises again after. An explicit foreign stream with
    pycuda is refused: the caller asked for ordering pycuda cannot give.
    """
    handle = None
    if stream is not None:
        if rt.name == "pycuda" and type(stream).__module__.startswith("pycuda"):
            return stream, False
        for attr in ("ptr", "cuda_stream", "handle"):  # CuPy, torch, pycuda
            if hasattr(stream, attr):
                handle = int(getattr(stream, attr))
                break
        else:
            if isinstance(stream, (int, np.integer)):
                handle = int(stream)
            else:
                raise InputError(
                    f"received stream of type {type(stream).__name__}; expected None, an int handle, "
                    "or a pycuda, CuPy or torch stream"
                )
        if rt.name == "pycuda" and handle not in (0, 1):
            raise InputError(
                f"received stream handle {handle:#x} with the pycuda runtime; expected a pycuda.driver.Stream "
                "or None (pycuda cannot launch on a foreign stream: install CuPy to use one)"
            )
    elif cai_stream not in (None, 1):
        handle = int(cai_stream)
    if handle in (None, 0, 1):
        return None, False
    if rt.name == "pycuda":
        return None, True
    return handle, False


@contextlib.contextmanager
def session(rt: Runtime, stream: Any, cai_stream: Optional[int]) -> Iterator[Any]:
    """Context current and the launch stream resolved (see resolve_stream) for one public call."""
    with rt.context():
        s, fence = resolve_stream(rt, stream, cai_stream)
        if fence:
            rt.synchronize(None)  # the producer's work is done before ours starts
        yield s
        if fence:
            rt.synchronize(None)  # and ours before its stream goes on
