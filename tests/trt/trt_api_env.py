"""The real TensorRT Python bindings and a real pycuda, runnable without a GPU (marker ``trt_api``).

- The PyPI wheels ``tensorrt-bindings==8.6.1``, ``tensorrt-cu11-bindings==10.13.0.35`` and
  ``tensorrt-cu12-bindings==11.4.0.106`` (the real pybind11 module, ~1 MB each) go into their own
  folders. Their libnvinfer / libnvonnxparser / libnvinfer_plugin (and 8.6's libnvparsers) are
  replaced by gcc-built stubs that define every factory symbol the module needs (found with
  ``nm -D --undefined-only``) and return NULL, so ``import tensorrt`` works and every class,
  enum and pybind11 signature is real, while ``trt.Builder(...)`` fails as on a GPU-less machine.
- pycuda 2026.1 is built once from its sdist against the CUDA headers; at run time a gcc-built
  libcuda stub (``stubs/libcuda_stub.c``) is preloaded.

Everything is cached under ``$EDGEMATTE_TEST_CACHE`` or ``~/.cache/edgematte-test``, so only the
first run downloads and compiles (pycuda: about two CPU minutes).
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import os
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Dict, Iterator, Optional

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BINDINGS = {
    "8.6.1": "tensorrt-bindings==8.6.1",
    "10.13.0.35": "tensorrt-cu11-bindings==10.13.0.35",
    "11.4.0.106": "tensorrt-cu12-bindings==11.4.0.106",
}
PYCUDA = "pycuda==2026.1"
NV_LIBS = ("nvinfer", "nvonnxparser", "nvinfer_plugin", "nvparsers")


def cache_root() -> Path:
    root = Path(os.environ.get("EDGEMATTE_TEST_CACHE") or Path.home() / ".cache" / "edgematte-test")
    root.mkdir(parents=True, exist_ok=True)
    return root


def _run(argv, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, capture_output=True, text=True, **kwargs)


def _require_gcc() -> str:
    gcc = shutil.which("gcc")
    if gcc is None or shutil.which("nm") is None:
        pytest.skip("gcc or nm (binutils) is missing: the TensorRT/CUDA library stubs are compiled with them")
    return gcc


@contextlib.contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One builder at a time per cache folder (parallel test runs share the cache)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with open(folder.parent / f".{folder.name}.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _build_flags() -> list:
    """Build pycuda with this interpreter's setuptools/numpy when present, else in pip's isolation."""
    have = all(importlib.util.find_spec(m) is not None for m in ("setuptools", "wheel", "numpy"))
    return ["--no-build-isolation"] if have else []


def _pip(args, what: str) -> None:
    out = _run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"] + args, timeout=900)
    if out.returncode != 0:
        text = out.stderr + out.stdout
        if re.search(r"(?i)(connection|resolve|network|no matching distribution|could not find a version)", text):
            pytest.skip(f"pip cannot reach PyPI for {what}: {text.strip().splitlines()[-1]}")
        raise RuntimeError(f"pip failed for {what}:\n{text}")


def _done(folder: Path) -> bool:
    return (folder / ".complete").is_file()


def _mark_done(folder: Path) -> None:
    (folder / ".complete").write_text("ok\n")


def _fresh(folder: Path) -> Path:
    if folder.exists():
        shutil.rmtree(folder)
    folder.mkdir(parents=True)
    return folder


def _undefined(shared_object: Path):
    out = _run(["nm", "-D", "--undefined-only", str(shared_object)], check=True).stdout
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == "U" and "@" not in parts[1]:
            yield parts[1]


def _stub_source(symbols, body: str) -> str:
    """C defining each symbol (C++ names through asm labels) as a function returning ``body``."""
    return "".join(
        f'void *em_stub_{i}(void) __asm__("{name}");\nvoid *em_stub_{i}(void) {{ return {body}; }}\n'
        for i, name in enumerate(symbols)
    )


def tensorrt_env(version: str) -> Dict[str, str]:
    """Environment variables that make ``import tensorrt`` load the real ``version`` bindings."""
    gcc = _require_gcc()
    folder = cache_root() / f"tensorrt-{version}"
    with _locked(folder):
        if not _done(folder):
            _build_tensorrt(folder, version, gcc)
    return {
        "PYTHONPATH": os.pathsep.join([str(folder / "shim"), str(folder / "site")]),
        "LD_LIBRARY_PATH": str(folder / "lib"),
    }


def _build_tensorrt(folder: Path, version: str, gcc: str) -> None:
    _fresh(folder)
    _pip(["install", "--no-deps", "--target", str(folder / "site"), BINDINGS[version]], BINDINGS[version])
    module = next((folder / "site" / "tensorrt_bindings").glob("tensorrt*.so"))
    # factories (create*/get*/init*) and the C++ UFF/Caffe parser entry points of 8.6
    symbols = [s for s in _undefined(module) if re.match(r"(create|get|init)\w*$", s) or s.startswith("_Z")]
    source = folder / "nvstub.c"
    source.write_text(_stub_source(symbols, "0"))
    major = version.split(".")[0]
    (folder / "lib").mkdir()
    for lib in NV_LIBS:
        name = f"lib{lib}.so.{major}"
        _run([gcc, "-shared", "-fPIC", f"-Wl,-soname,{name}", "-o", str(folder / "lib" / name), str(source)],
             check=True)
    shim = folder / "shim" / "tensorrt"
    shim.mkdir(parents=True)
    # what NVIDIA's `tensorrt` meta package holds: a re-export of tensorrt_bindings
    (shim / "__init__.py").write_text(
        "from tensorrt_bindings import *  # noqa\nfrom tensorrt_bindings import __version__  # noqa\n"
    )
    _mark_done(folder)


def _cuda_root() -> Optional[Path]:
    candidates = [os.environ.get("CUDA_ROOT"), os.environ.get("CUDA_HOME")]
    nvcc = shutil.which("nvcc")
    if nvcc:
        candidates.append(str(Path(nvcc).resolve().parent.parent))
    candidates.append("/usr/local/cuda")
    for root in candidates:
        if root and (Path(root) / "include" / "cuda.h").is_file():
            return Path(root)
    return None


def pycuda_env() -> Dict[str, str]:
    """Environment variables that import a real pycuda 2026.1 over the libcuda stub (rebuilt when its source moved)."""
    gcc = _require_gcc()
    folder = cache_root() / "pycuda-2026.1"
    with _locked(folder):
        if not _done(folder):
            _build_pycuda(folder, gcc)
        recorded = folder / "lib" / "stub.source"  # the stub source the library was built from
        if not recorded.is_file() or recorded.read_bytes() != (HERE / "stubs" / "libcuda_stub.c").read_bytes():
            _build_libcuda(folder, gcc)
    return {"PYTHONPATH": str(folder / "site"), "LD_PRELOAD": str(folder / "lib" / "libcuda.so.1")}


def _build_pycuda(folder: Path, gcc: str) -> None:
    cuda_root = _cuda_root()
    if cuda_root is None:
        pytest.skip("the CUDA headers (cuda.h) are missing: pycuda builds against them (install the CUDA toolkit)")
    _fresh(folder)
    _pip(["download", "--no-deps", "--no-binary", "pycuda", *_build_flags(), "-d", str(folder), PYCUDA], PYCUDA)
    with tarfile.open(next(folder.glob("pycuda-*.tar.gz"))) as archive:
        archive.extractall(folder)
    source = next(p for p in folder.glob("pycuda-*") if p.is_dir())
    link = folder / "link"  # an empty libcuda.so to link against; the stub is preloaded at run time
    link.mkdir()
    (link / "empty.c").write_text("\n")
    _run([gcc, "-shared", "-fPIC", "-o", str(link / "libcuda.so"), str(link / "empty.c")], check=True)
    # what `configure.py --cuda-root=... --cudadrv-lib-dir=... --no-cuda-enable-curand` writes
    (source / "siteconf.py").write_text(
        f"CUDA_ROOT = {str(cuda_root)!r}\nCUDADRV_LIB_DIR = [{str(link)!r}]\nCUDADRV_LIBNAME = ['cuda']\n"
        "CUDA_ENABLE_CURAND = False\nCUDA_ENABLE_GL = False\nUSE_SHIPPED_BOOST = True\n"
    )
    _pip(["install", *_build_flags(), "--no-deps", "--target", str(folder / "site"), str(source)], PYCUDA)
    shutil.rmtree(source)
    _build_libcuda(folder, gcc)
    _mark_done(folder)


def _build_libcuda(folder: Path, gcc: str) -> None:
    """lib/libcuda.so.1: stubs/libcuda_stub.c, plus every other cu* symbol pycuda links returning CUDA_SUCCESS."""
    driver = next((folder / "site" / "pycuda").glob("_driver*.so"))
    stub = HERE / "stubs" / "libcuda_stub.c"
    known = set(re.findall(r"\b(cu\w+)\(", stub.read_text()))
    extra = [s for s in _undefined(driver) if s.startswith("cu") and s not in known]
    generated = folder / "libcuda_rest.c"
    generated.write_text(_stub_source(extra, "0"))
    (folder / "lib").mkdir(exist_ok=True)
    _run([gcc, "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", str(folder / "lib" / "libcuda.so.1"), str(stub),
          str(generated)], check=True)
    (folder / "lib" / "stub.source").write_bytes(stub.read_bytes())


def run_with(env_parts, code_or_argv, *, cwd, extra_env=None, timeout=300) -> subprocess.CompletedProcess:
    """Run Python (``-c code`` or argv after the interpreter) with the given environments merged;
    the edgematte under test comes first on PYTHONPATH."""
    import edgematte

    env = dict(os.environ)
    env.pop("EDGEMATTE_BACKEND", None)
    paths = [str(Path(edgematte.__file__).resolve().parents[1])]
    for part in env_parts:
        for key, value in part.items():
            if key == "PYTHONPATH":
                paths.append(value)
            else:
                env[key] = value if key not in env or key == "LD_PRELOAD" else value + os.pathsep + env[key]
    env["PYTHONPATH"] = os.pathsep.join(paths + [p for p in [os.environ.get("PYTHONPATH")] if p])
    env.update(extra_env or {})
    argv = [sys.executable] + (["-c", code_or_argv] if isinstance(code_or_argv, str) else list(code_or_argv))
    return _run(argv, cwd=str(cwd), env=env, timeout=timeout)
