"""The status codes of ``em_common.h`` (one scheme for the CPU and CUDA kernels) and the exceptions they become."""

from __future__ import annotations

from typing import Optional, Tuple

import numpy as np

from ..errors import InputError, KernelError
from ..validate import range_error

#: enum em_status of em_common.h (distinct bits: CUDA kernels OR them into one status word)
OK, ERR_ARG, ERR_NOMEM, ERR_RANGE, ERR_NAN = 0, 1, 2, 4, 8


def raise_for_status(status: int, name: str, arr: Optional[np.ndarray] = None,
                     device_shape: Optional[Tuple[int, ...]] = None) -> None:
    """Nothing for OK; else the error a kernel's status means. ``name``/``arr`` is the float input the
    value checks refer to (``device_shape`` instead of ``arr`` for a device array, which is not read back)."""
    if status == OK:
        return
    if status & (ERR_RANGE | ERR_NAN):
        if arr is not None:
            raise range_error(name, arr)
        got = " and ".join(what for bit, what in ((ERR_NAN, "NaN values"), (ERR_RANGE, "values outside [0, 1]"))
                           if status & bit)
        raise InputError(f"{name} (float32 device array of shape {device_shape}) holds {got}; "
                         "expected float32 values in [0, 1]")
    if status == ERR_NOMEM:
        raise MemoryError(f"{name}: the native kernel could not allocate its work buffers")
    if status == ERR_ARG:
        raise KernelError(f"{name}: the native kernel refused invalid arguments (EM_ERR_ARG)")
    raise KernelError(f"{name}: the native kernel returned an unknown status {status}")
