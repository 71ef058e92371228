"""Shape ranges for building engines with dynamic inputs (TensorRT optimisation profiles), without TensorRT.

A profile maps each input name to ``(min, opt, max)`` shapes. The text form used on the
command line is ``NAME:MIN/OPT/MAX`` with dimensions joined by ``x``
(``src:1x3x256x256/1x3x512x512/1x3x1088x1920``); ``NAME:SHAPE`` fixes one shape.
"""

from __future__ import annotations

from typing import Dict, Iterable, Mapping, Sequence, Tuple

from ..errors import InputError
from ..runtime.engine_cache import Shape, ShapeRange
from ..types import TensorSpec

__all__ = ["parse_shape_range", "parse_shapes", "check_profiles"]


def _parse_dims(text: str, spec: str) -> Shape:
    try:
        dims = tuple(int(d) for d in text.lower().split("x"))
    except ValueError:
        dims = ()
    if not dims or any(d < 1 for d in dims):
        raise InputError(f"received shape {text!r} in {spec!r}; expected positive integers joined by 'x' (1x3x512x512)")
    return dims


def parse_shape_range(spec: str) -> Tuple[str, ShapeRange]:
    """``"src:1x3x256x256/1x3x512x512/1x3x1088x1920"`` -> ``("src", (min, opt, max))``."""
    name, sep, shapes = spec.rpartition(":")
    if not sep or not name:
        raise InputError(
            f"received {spec!r}; expected NAME:MIN/OPT/MAX or NAME:SHAPE, "
            "e.g. src:1x3x256x256/1x3x512x512/1x3x1088x1920"
        )
    parts = [_parse_dims(p, spec) for p in shapes.split("/")]
    if len(parts) == 1:
        parts *= 3
    if len(parts) != 3:
        raise InputError(f"received {len(parts)} shapes in {spec!r}; expected 1 (fixed) or 3 (min/opt/max)")
    return name, (parts[0], parts[1], parts[2])


def parse_shapes(specs: Iterable[str]) -> Dict[str, ShapeRange]:
    """Parse several ``NAME:MIN/OPT/MAX`` strings; a name given twice is an error."""
    profiles: Dict[str, ShapeRange] = {}
    for spec in specs:
        name, rng = parse_shape_range(spec)
        if name in profiles:
            raise InputError(f"received two shape ranges for input {name!r}; expected one per input")
        profiles[name] = rng
    return profiles


def check_profiles(inputs: Sequence[TensorSpec], profiles: Mapping[str, ShapeRange]) -> Dict[str, ShapeRange]:
    """Check ``profiles`` against the model inputs and return a complete, normalised profile.

    Every dynamic input needs a range; a range must have the input's rank, keep its static
    dims, and satisfy 1 <= min <= opt <= max. Static inputs get their fixed shape.
    Raises InputError listing every problem found.
    """
    problems = []
    known = {spec.name for spec in inputs}
    for name in sorted(set(profiles) - known):
        problems.append(f"shape range for {name!r}, which is not a model input (inputs: {sorted(known)})")
    result: Dict[str, ShapeRange] = {}
    for spec in inputs:
        rng = profiles.get(spec.name)
        wanted = "x".join("?" if d is None else str(d) for d in spec.shape)
        if rng is None:
            if spec.is_dynamic:
                problems.append(
                    f"no shape range for dynamic input {spec.name!r} [{wanted}]; pass --shapes {spec.name}:MIN/OPT/MAX"
                )
            else:
                fixed = tuple(int(d) for d in spec.shape)  # type: ignore[arg-type]
                result[spec.name] = (fixed, fixed, fixed)
            continue
        bad = _range_problem(spec, rng)
        if bad:
            problems.append(f"input {spec.name!r} [{wanted}]: {bad}")
        else:
            result[spec.name] = tuple(tuple(int(d) for d in s) for s in rng)  # type: ignore[assignment]
    if problems:
        raise InputError("invalid shape profile: " + "; ".join(problems))
    return result


def _range_problem(spec: TensorSpec, rng: ShapeRange) -> str:
    if len(rng) != 3:
        return f"received {len(rng)} shapes; expected (min, opt, max)"
    lo, opt, hi = rng
    for label, shape in (("min", lo), ("opt", opt), ("max", hi)):
        if len(shape) != len(spec.shape):
            return f"{label} shape {tuple(shape)} has rank {len(shape)}; expected rank {len(spec.shape)}"
        for axis, (want, got) in enumerate(zip(spec.shape, shape)):
            if want is not None and want != got:
                return f"{label} shape {tuple(shape)} changes static axis {axis} ({want})"
            if got < 1:
                return f"{label} shape {tuple(shape)} has a dimension < 1"
    if not all(a <= b <= c for a, b, c in zip(lo, opt, hi)):
        return f"received min {tuple(lo)}, opt {tuple(opt)}, max {tuple(hi)}; expected min <= opt <= max on every axis"
    return ""
