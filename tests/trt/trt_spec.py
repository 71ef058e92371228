"""Stand-ins for TensorRT objects that only a live builder/runtime makes, checked against the real
classes: every attribute read must exist, every property set must be settable, and every call must
match one of the real pybind11 signatures (from the docstrings) with the argument types passed.
Used inside the ``trt_api`` subprocesses, where ``import tensorrt`` is a real binding module.
"""

from __future__ import annotations

import inspect
import re

import tensorrt as trt


def _split(params: str):
    depth, start, out = 0, 0, []
    for i, c in enumerate(params):
        depth += c in "[("
        depth -= c in "])"
        if c == "," and depth == 0:
            out.append(params[start:i].strip())
            start = i + 1
    if params.strip():
        out.append(params[start:].strip())
    return out


def signatures(cls, name):
    """[(param name, type text, has default), ...] per overload, self left out."""
    doc = getattr(cls, name).__doc__ or ""
    found = []
    for line in doc.splitlines():
        m = re.match(rf"^\s*(?:\d+\. )?{re.escape(name)}\((.*)\) -> .*$", line)
        if m:
            params = []
            for p in _split(m.group(1)):
                pname, _, rest = p.partition(":")
                kind, _, default = rest.partition("=")
                if pname.strip() != "self":
                    params.append((pname.strip(), kind.strip(), bool(default.strip())))
            found.append(params)
    assert found, f"no pybind11 signature in the docstring of {cls.__name__}.{name}"
    return found


def _accepts(kind: str, value) -> bool:
    base = kind.split("[")[0].replace("typing.", "").replace("collections.abc.", "")
    if base in ("int", "SupportsInt"):
        return isinstance(value, int) and not isinstance(value, bool)
    if base == "bool":
        return isinstance(value, bool)
    if base in ("float", "SupportsFloat"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base == "str":
        return isinstance(value, str)
    if base in ("buffer", "Buffer", "typing_extensions.Buffer"):
        return isinstance(value, (bytes, bytearray, memoryview))
    if base in ("Sequence", "List", "list", "tuple", "Tuple"):
        return isinstance(value, (list, tuple))
    if base.startswith("tensorrt_bindings.tensorrt.") or "::" in base:  # C++ names: nvonnxparser::OnnxParserFlag
        cls = getattr(trt, re.split(r"\.|::", base)[-1])
        if cls.__name__ in ("Dims", "Dims32", "Dims64"):  # pybind converts tuples of ints implicitly
            return isinstance(value, (tuple, list, cls)) and all(isinstance(d, int) for d in value)
        return isinstance(value, cls) or (isinstance(value, Spec) and issubclass(object.__getattribute__(value, "_cls"), cls))
    if "|" in base or base.startswith("Union"):
        return any(_accepts(k.strip(), value) for k in re.split(r"\||,", base.replace("Union", "").strip("[]")))
    raise AssertionError(f"unknown parameter type {kind!r} in a TensorRT signature")


def check_call(cls, name, args, kwargs):
    problems = []
    for params in signatures(cls, name):
        required = [p for p in params if not p[2]]
        if not len(required) <= len(args) + len(kwargs) <= len(params):
            problems.append(f"{len(args) + len(kwargs)} arguments for {[p[0] for p in params]}")
            continue
        bound = list(zip(params, args)) + [(next((p for p in params if p[0] == k), None), v) for k, v in kwargs.items()]
        bad = [f"{p[0]}: {p[1]} <- {type(v).__name__}" for p, v in bound if p is None or not _accepts(p[1], v)]
        if not bad:
            return
        problems.append(", ".join(bad))
    raise AssertionError(f"{cls.__name__}.{name}{tuple(args)} matches no signature: {problems}")


class Spec:
    """A stand-in for an instance of the real TensorRT class ``cls`` (see the module docstring)."""

    def __init__(self, cls, **values):
        object.__setattr__(self, "_cls", cls)
        object.__setattr__(self, "_values", values)
        object.__setattr__(self, "calls", [])

    def __getattr__(self, name):
        cls, values = object.__getattribute__(self, "_cls"), object.__getattribute__(self, "_values")
        attr = inspect.getattr_static(cls, name, None)
        if attr is None:
            raise AttributeError(f"{cls.__name__}.{name} does not exist in TensorRT {trt.__version__}")
        if isinstance(attr, property):
            return values[name]

        def method(*args, **kwargs):
            check_call(cls, name, args, kwargs)
            self.calls.append((name,) + args)
            result = values.get(name)
            return result(*args) if callable(result) else result

        return method

    def __setattr__(self, name, value):
        cls = object.__getattribute__(self, "_cls")
        attr = inspect.getattr_static(cls, name, None)
        assert isinstance(attr, property) and attr.fset is not None, f"{cls.__name__}.{name} is not settable"
        self.calls.append(("set " + name, value))


def spec_factory(cls, made):
    """Replaces ``trt.Builder`` etc.: checks the constructor's real signature, returns ``made``."""

    def factory(*args):
        check_call(cls, "__init__", args, {})
        return made

    return factory


