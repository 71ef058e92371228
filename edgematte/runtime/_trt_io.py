"""Engine I/O through TensorRT's name-based API (``set_input_shape``, ``set_tensor_address``,
``execute_async_v3``), present from TensorRT 8.5, our floor. Every boolean TensorRT returns is
checked: these calls return False, they do not raise.
"""

from __future__ import annotations

from typing import Any, List, Mapping, Sequence, Tuple

import numpy as np

from ..errors import InputError, KernelError

__all__ = ["TensorInfo", "NamedIO"]

#: (name, is_input, dtype, engine shape with -1 for dynamic axes)
TensorInfo = Tuple[str, bool, np.dtype, Tuple[int, ...]]


class NamedIO:
    """TensorRT >= 8.5: tensors addressed by name; execute_async_v3."""

    def __init__(self, trt: Any, engine: Any, context: Any) -> None:
        self.engine, self.context = engine, context
        names = [engine.get_tensor_name(i) for i in range(engine.num_io_tensors)]
        self.tensors: List[TensorInfo] = [
            (
                n,
                engine.get_tensor_mode(n) == trt.TensorIOMode.INPUT,
                np.dtype(trt.nptype(engine.get_tensor_dtype(n))),
                tuple(int(d) for d in engine.get_tensor_shape(n)),
            )
            for n in names
        ]

    def set_input_shape(self, name: str, shape: Sequence[int]) -> None:
        if not self.context.set_input_shape(name, tuple(int(d) for d in shape)):
            raise InputError(
                f"input {name!r}: TensorRT rejected shape {tuple(shape)}; expected a shape inside the engine's profile"
            )

    def output_shape(self, name: str) -> Tuple[int, ...]:
        return tuple(int(d) for d in self.context.get_tensor_shape(name))

    def bind(self, addresses: Mapping[str, int]) -> None:
        for name, address in addresses.items():
            if not self.context.set_tensor_address(name, int(address)):
                raise KernelError(f"TensorRT rejected device address {int(address):#x} for tensor {name!r}")

    def enqueue(self, stream_handle: int) -> None:
        if not self.context.execute_async_v3(int(stream_handle)):
            raise KernelError("TensorRT execute_async_v3 failed to enqueue the engine; see the TensorRT log")
