"""Small frozen value types shared by the stages."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional, Tuple

__all__ = ["TensorSpec"]


@dataclass(frozen=True)
class TensorSpec:
    """Name, shape and dtype of one model input or output.

    ``shape`` holds ``None`` for a dynamic dimension; ``dtype`` is a NumPy dtype name
    (``"float32"``, ``"float16"``, ``"uint8"``, ...).
    """

    name: str
    shape: Tuple[Optional[int], ...]
    dtype: str

    @property
    def is_dynamic(self) -> bool:
        return any(d is None for d in self.shape)
