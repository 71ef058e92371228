"""The Backend protocol every inference engine implements, and the one feed check they share.

A backend runs one model: ``infer({"src": array}) -> {"alpha": array}``. Tensor names follow
the project table: ``src`` is RGB float32 NCHW in [0, 1]; ``alpha`` is [N,1,H,W] in [0, 1].
"""

from __future__ import annotations

from typing import Any, Dict, Mapping, Tuple

try:  # Python >= 3.8
    from typing import Protocol, runtime_checkable
except ImportError:  # pragma: no cover
    from typing_extensions import Protocol, runtime_checkable  # type: ignore

import numpy as np

from ..errors import InputError
from ..types import TensorSpec

__all__ = ["Backend", "check_feed", "array_shape_dtype"]


@runtime_checkable
class Backend(Protocol):
    """One loaded model behind one runtime (ONNX Runtime, TensorRT, ...).

    Construction is cheap; resources are acquired by ``open()``/``__enter__`` and
    released by ``close()``/``__exit__``. Each implementation's docstring says whether
    the arrays returned by ``infer`` are reused by the next call.
    """

    @property
    def inputs(self) -> Tuple[TensorSpec, ...]: ...

    @property
    def outputs(self) -> Tuple[TensorSpec, ...]: ...

    def open(self) -> "Backend": ...

    def infer(self, feed: Mapping[str, Any], *, validate: bool = True) -> Dict[str, Any]: ...

    def close(self) -> None: ...

    def __enter__(self) -> "Backend": ...

    def __exit__(self, *exc: object) -> None: ...


def array_shape_dtype(array: Any) -> Tuple[Tuple[int, ...], np.dtype]:
    """Shape and dtype of a NumPy array or of any object with ``__cuda_array_interface__``."""
    cai = getattr(array, "__cuda_array_interface__", None)
    if cai is not None:
        return tuple(int(d) for d in cai["shape"]), np.dtype(cai["typestr"])
    if isinstance(array, np.ndarray):
        return array.shape, array.dtype
    raise InputError(
        f"received a {type(array).__name__}; expected a numpy.ndarray or an object with "
        "__cuda_array_interface__ (CuPy, pycuda GPUArray, torch CUDA tensor)"
    )


def check_feed(feed: Mapping[str, Any], inputs: Tuple[TensorSpec, ...]) -> None:
    """Raise InputError unless ``feed`` has exactly the input names, ranks, static dims and dtypes."""
    expected = {spec.name for spec in inputs}
    if set(feed) != expected:
        raise InputError(f"received inputs {sorted(feed)}; expected exactly {sorted(expected)}")
    for spec in inputs:
        shape, dtype = array_shape_dtype(feed[spec.name])
        if dtype != np.dtype(spec.dtype):
            raise InputError(f"input {spec.name!r}: received dtype {dtype}; expected {spec.dtype}")
        if len(shape) != len(spec.shape) or any(
            want is not None and want != got for want, got in zip(spec.shape, shape)
        ):
            want = tuple("?" if d is None else d for d in spec.shape)
            raise InputError(f"input {spec.name!r}: received shape {shape}; expected {want}")
