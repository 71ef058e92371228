"""ONNX Runtime on the CPU: the backend that runs everywhere.

Threads default to the CPUs this process may run on (its affinity mask, not the machine's
core count), so a container or ``taskset`` limit is respected.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

import numpy as np

from ..errors import BackendUnavailableError, InputError, ModelError
from ..types import TensorSpec
from .base import check_feed

__all__ = ["OrtCpuBackend", "available_cpus"]

log = logging.getLogger(__name__)

#: ONNX Runtime type strings -> NumPy dtype names
_ORT_DTYPES = {
    "tensor(float)": "float32",
    "tensor(float16)": "float16",
    "tensor(double)": "float64",
    "tensor(uint8)": "uint8",
    "tensor(int8)": "int8",
    "tensor(int32)": "int32",
    "tensor(int64)": "int64",
    "tensor(bool)": "bool",
}


def available_cpus() -> int:
    """Number of CPUs this process may run on (affinity mask where the OS has one)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def _spec(node: Any) -> TensorSpec:
    shape = tuple(d if isinstance(d, int) and d > 0 else None for d in node.shape)
    return TensorSpec(node.name, shape, _ORT_DTYPES.get(node.type, node.type))


class OrtCpuBackend:
    """One ONNX model on ONNX Runtime's CPU execution provider.

    ``infer({"src": [1,3,H,W] float32 0..1}) -> {"alpha": [1,1,H,W] float32 0..1}`` for
    edgematte models; any ONNX model works with its own names.

    Output buffers: outputs whose shape is fully static are written into arrays this
    backend allocates once and **reuses on every call** (copy them to keep them past the
    next ``infer``). Outputs with a dynamic dimension are fresh arrays each call, and so are
    rank-0 ones: ONNX Runtime reports an output of unknown shape as rank 0 too.

    ``threads`` (intra-op) defaults to :func:`available_cpus`; ``inter_op_threads`` to 1.
    ``spin=False`` lets ORT's threads busy-wait for work only while a run lasts and stops
    them when it returns, so the native kernels that run between inferences get the cores;
    ``True`` leaves them spinning between runs too (can help a model-only loop).

    Recurrent state: ``carry_state({"r1i": "r1o", ...})`` (input name -> output name), or the
    ``recurrent`` argument, makes the backend own those inputs. Each pair has two OrtValues this backend
    allocates: one is bound as the input, the other as the output, and they swap after each run, so a frame's
    output state is the next frame's input with no copy (as :class:`~edgematte.runtime.trt.TrtBackend` does with
    device buffers). The feed omits them and the result leaves them out. They start as zeros of the input's
    shape where it is static (RVM's static export), else of ``initial_state_shape`` ([1,1,1,1], RVM's first
    frame), and :meth:`reset_state` returns them there. The output of a first frame (or of one whose state
    shape changed) is left to ONNX Runtime and copied once into a new pair. Calls must come in frame order.
    """

    def __init__(
        self,
        path: Union[str, "os.PathLike[str]"],
        *,
        threads: Optional[int] = None,
        inter_op_threads: int = 1,
        spin: bool = False,
        recurrent: Optional[Mapping[str, str]] = None,
        initial_state_shape: Tuple[int, ...] = (1, 1, 1, 1),
    ) -> None:
        if threads is not None and int(threads) < 1:
            raise InputError(f"received threads={threads!r}; expected a positive integer or None")
        self.path = Path(path)
        self.threads = int(threads) if threads is not None else available_cpus()
        self.inter_op_threads = int(inter_op_threads)
        self.spin = bool(spin)
        self._session: Any = None
        self._ort: Any = None
        self._binding: Any = None
        self._inputs: Tuple[TensorSpec, ...] = ()
        self._outputs: Tuple[TensorSpec, ...] = ()
        self._static_out: Dict[str, np.ndarray] = {}
        self.recurrent: Dict[str, str] = dict(recurrent or {})
        self._initial_state = np.zeros(initial_state_shape, np.float32)
        self._static_zeros: Dict[str, np.ndarray] = {}
        # input name -> [OrtValue bound as the input, OrtValue bound as the output]; absent: a first frame
        self._state: Dict[str, List[Any]] = {}

    # -- lifecycle -------------------------------------------------------------------
    def open(self) -> "OrtCpuBackend":
        """Load the model; idempotent."""
        if self._session is not None:
            return self
        try:
            import onnxruntime as ort
        except ImportError as exc:
            raise BackendUnavailableError(
                f"onnxruntime is not importable ({exc}); expected it installed: pip install onnxruntime"
            ) from exc
        if not self.path.is_file():
            raise ModelError(f"received model path {str(self.path)!r}, which is not a file; expected an .onnx file")
        options = ort.SessionOptions()
        options.intra_op_num_threads = self.threads
        options.inter_op_num_threads = self.inter_op_threads
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        if not self.spin:
            # spin while a run lasts (forbidding it costs ~1 ms a frame for the selfie model on 2 cores),
            # stop when it returns: idle spinning threads would starve the OpenMP kernels that follow
            options.add_session_config_entry("session.force_spinning_stop", "1")
        try:
            session = ort.InferenceSession(str(self.path), options, providers=["CPUExecutionProvider"])
        except Exception as exc:  # ORT raises its own untyped errors (Fail, InvalidGraph, ...)
            raise ModelError(f"ONNX Runtime could not load {str(self.path)!r}: {exc}; expected a valid ONNX model") from exc
        self._session, self._ort = session, ort
        self._inputs = tuple(_spec(n) for n in session.get_inputs())
        self._outputs = tuple(_spec(n) for n in session.get_outputs())
        self._binding = session.io_binding()
        self._static_out = {}
        self._check_recurrent()
        self._state = {}
        for spec in self._outputs:
            if spec.name in self.recurrent.values():
                continue  # kept as OrtValues, never copied to a host buffer
            if spec.shape and not spec.is_dynamic and spec.dtype in _ORT_DTYPES.values():
                buffer = np.empty(spec.shape, dtype=spec.dtype)
                self._static_out[spec.name] = buffer
        log.debug("opened %s on ONNX Runtime CPU with %d threads", self.path, self.threads)
        return self

    def close(self) -> None:
        self._session = None
        self._binding = None
        self._static_out = {}
        self._state = {}

    def carry_state(self, pairs: Mapping[str, str]) -> None:
        """Own the recurrent inputs ``pairs`` (input -> output); the states restart from zeros."""
        self._require_open()
        self.recurrent = dict(pairs)
        self._check_recurrent()
        for name in self.recurrent.values():
            self._static_out.pop(name, None)
        self._state = {}

    def reset_state(self) -> None:
        """Recurrent inputs back to their zeros (the next call is a first frame)."""
        self._state = {}

    def _check_recurrent(self) -> None:
        inputs = {spec.name for spec in self._inputs}
        outputs = {spec.name for spec in self._outputs}
        for name_in, name_out in self.recurrent.items():
            if name_in not in inputs or name_out not in outputs:
                raise InputError(
                    f"received recurrent pair {name_in!r} -> {name_out!r}; expected an input of "
                    f"{sorted(inputs)} and an output of {sorted(outputs)}"
                )

    def __enter__(self) -> "OrtCpuBackend":
        return self.open()

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- description -----------------------------------------------------------------
    @property
    def inputs(self) -> Tuple[TensorSpec, ...]:
        self._require_open()
        return self._inputs

    @property
    def outputs(self) -> Tuple[TensorSpec, ...]:
        self._require_open()
        return self._outputs

    # -- inference -------------------------------------------------------------------
    def infer(self, feed: Mapping[str, Any], *, validate: bool = True) -> Dict[str, np.ndarray]:
        """Run the model on host arrays; see the class docstring for output reuse."""
        self._require_open()
        if validate:
            fed = [spec for spec in self._inputs if spec.name not in self.recurrent]
            check_feed(feed, tuple(fed))
        try:
            return self._run(feed, bool(self._state))
        except Exception:  # ORT's untyped errors: a carried state whose shape changed fails on its output
            if not self._state:
                raise
            log.debug("%s: the recurrent state changed shape; its outputs are allocated anew", self.path)
            return self._run(feed, False)

    def _run(self, feed: Mapping[str, Any], pinned: bool) -> Dict[str, np.ndarray]:
        """One run. ``pinned``: the states' outputs go into this backend's OrtValues, of the input state's shape;
        else (a first frame, a changed shape) ONNX Runtime allocates them and they are copied into a new pair,
        before the binding is run again (its outputs live only until then: older releases free them)."""
        binding = self._binding
        binding.clear_binding_inputs()
        binding.clear_binding_outputs()
        for name, array in feed.items():
            binding.bind_cpu_input(name, np.ascontiguousarray(array))
        for name_in, name_out in self.recurrent.items():
            pair = self._state.get(name_in)
            if pair is None:
                spec = next(s for s in self._inputs if s.name == name_in)
                binding.bind_cpu_input(name_in, self._initial_state if spec.is_dynamic else self._zeros(spec))
            else:
                binding.bind_ortvalue_input(name_in, pair[0])
        carried = {name_out: name_in for name_in, name_out in self.recurrent.items()}
        for spec in self._outputs:  # in the session's order: get_outputs() follows the binding's
            buffer = self._static_out.get(spec.name)
            if spec.name in carried and pinned:
                binding.bind_ortvalue_output(spec.name, self._state[carried[spec.name]][1])
            elif buffer is None:
                binding.bind_output(spec.name, "cpu")
            else:
                binding.bind_output(
                    spec.name, "cpu", 0, buffer.dtype, buffer.shape, buffer.__array_interface__["data"][0]
                )
        self._session.run_with_iobinding(binding)
        if pinned:
            for pair in self._state.values():
                pair.reverse()  # this frame's output is the next frame's input
        if len(self._static_out) + len(carried) == len(self._outputs) and pinned:
            return dict(self._static_out)
        values = dict(zip((spec.name for spec in self._outputs), binding.get_outputs()))
        result = {}
        for name, value in values.items():
            if name in carried:
                continue
            buffer = self._static_out.get(name)
            result[name] = buffer if buffer is not None else value.numpy()
        if not pinned:
            ort, state = self._ort, {}
            for name_in, name_out in self.recurrent.items():
                made = np.array(values[name_out].numpy(), copy=True)  # ours: the binding's copy dies with the next run
                state[name_in] = [ort.OrtValue.ortvalue_from_numpy(made),
                                  ort.OrtValue.ortvalue_from_numpy(np.empty_like(made))]
            self._state = state
        return result

    def _zeros(self, spec: TensorSpec) -> np.ndarray:
        """Zeros of a static state input (allocated once per name)."""
        zeros = self._static_zeros.get(spec.name)
        if zeros is None:
            zeros = self._static_zeros[spec.name] = np.zeros(spec.shape, spec.dtype)
        return zeros

    def _require_open(self) -> None:
        if self._session is None:
            raise InputError(f"backend for {str(self.path)!r} is not open; expected open() or a `with` block first")
