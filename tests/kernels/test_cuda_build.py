"""Compile-only checks of the CUDA kernels: every .cu builds for every target with the machine's nvcc.

No GPU is needed: nvcc, a host C compiler and (optionally) NVRTC from cuda-python are enough.
The compiles (nvcc, and NVRTC from cuda-python) carry the ``nvcc`` marker (out of the quick default
run; CI installs cuda-bindings and nvidia-cuda-nvrtc and runs ``pytest -m nvcc``) and skip with a
reason when their compiler is absent.
"""

from __future__ import annotations

import re
import shutil
import struct
from pathlib import Path
import subprocess

import pytest

from edgematte.kernels import _status
from edgematte.kernels.cuda import _runtime as cr
from edgematte.kernels.cuda import build

CUDA_DIR = cr.CUDA_DIR
INCLUDES = [f"-I{CUDA_DIR}", f"-I{cr.COMMON_DIR}"]
SOURCES = sorted(CUDA_DIR.glob("*.cu"))
SASS = ("75", "86", "87", "89", "90")
PTX = "75"
NVCC = shutil.which("nvcc")
_skip_without_nvcc = pytest.mark.skipif(
    NVCC is None, reason="nvcc is not on PATH (install the CUDA toolkit to compile the kernels)"
)


def needs_nvcc(test):
    return pytest.mark.nvcc(_skip_without_nvcc(test))


def fatbin_entries(blob: bytes):
    """[(kind, arch)] of a fatbin: kind 1 = PTX, 2 = SASS (ELF). Layout: 16-byte header, then entries."""
    magic, _version, header, size = struct.unpack_from("<IHHQ", blob, 0)
    assert magic == 0xBA55ED50, hex(magic)
    entries, off = [], header
    while off < header + size:
        kind, _, entry_header, payload = struct.unpack_from("<HHIQ", blob, off)
        entries.append(({1: "ptx", 2: "sass"}[kind], str(struct.unpack_from("<I", blob, off + 28)[0])))
        off += entry_header + payload
    return entries


def test_sources_exist():
    assert {p.stem for p in SOURCES} == set(cr.MODULES)


@needs_nvcc
def test_nvcc_supports_every_target():
    listed = subprocess.run([NVCC, "--list-gpu-arch"], capture_output=True, text=True, check=True).stdout.split()
    missing = [a for a in SASS if f"compute_{a}" not in listed]
    assert not missing, f"this nvcc cannot target {missing}"


@needs_nvcc
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_fatbin_holds_sass_for_every_arch_and_ptx(source, tmp_path):
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in SASS] + [
        f"-gencode=arch=compute_{PTX},code=compute_{PTX}"
    ]
    out = tmp_path / (source.stem + ".fatbin")
    run = subprocess.run(
        [NVCC, "-O3", "-fatbin", "-Werror", "all-warnings", *INCLUDES, *flags, "-o", str(out), str(source)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    entries = fatbin_entries(out.read_bytes())
    assert sorted(a for k, a in entries if k == "sass") == list(SASS)
    assert [a for k, a in entries if k == "ptx"] == [PTX]


@needs_nvcc
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_compiles_as_cxx11(source, tmp_path):
    """Object file in the oldest dialect CUDA 11.4 accepts: no newer C++ slips in."""
    run = subprocess.run(
        [NVCC, "-std=c++11", "-O3", "-c", "-arch=sm_75", *INCLUDES, "-o", str(tmp_path / "k.o"), str(source)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr


@needs_nvcc
def test_build_step_writes_one_fatbin_per_source(tmp_path):
    """``python -m edgematte.kernels.cuda.build --out DIR``: the documented step, for one SASS target."""
    built = build.build(tmp_path, archs=["87"])
    assert sorted(p.name for p in built) == sorted(f"{m}.fatbin" for m in cr.MODULES)
    for path in built:
        assert sorted(fatbin_entries(path.read_bytes())) == [("ptx", "87"), ("sass", "87")]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_build_step_without_nvcc_says_so(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("CUDA_HOME", str(tmp_path))
    assert build.main(["--out", str(tmp_path)]) == 1
    assert "nvcc is not on PATH or in $CUDA_HOME/bin" in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_status_codes_match_em_common():
    """One status scheme: the enum of em_common.h is what the launchers and Cython wrappers decode."""
    text = (cr.COMMON_DIR / "em_common.h").read_text()
    enum = dict((k, int(v)) for k, v in re.findall(r"\b(EM_(?:OK|ERR_\w+)) = (\d+)", text))
    assert enum == {"EM_OK": _status.OK, "EM_ERR_ARG": _status.ERR_ARG, "EM_ERR_NOMEM": _status.ERR_NOMEM,
                    "EM_ERR_RANGE": _status.ERR_RANGE, "EM_ERR_NAN": _status.ERR_NAN}
    for source in SOURCES:
        assert "EM_STATUS_" not in source.read_text() and "cudaError_t" not in source.read_text()


_C_TYPES = {"long long": "q", "int": "i", "float": "f", "double": "d"}


def _kernel_signatures():
    """{name: type string} from the extern "C" __global__ definitions of the sources."""
    found = {}
    for source in SOURCES:
        text = source.read_text()
        for name, params in re.findall(r'extern "C" __global__ void (\w+)\(([^)]*)\)', text):
            types = []
            for p in params.split(","):
                decl = " ".join(p.replace("const", "").split()[:-1]) if "*" not in p else "*"
                types.append("P" if decl == "*" else _C_TYPES[decl])
            found[name] = "".join(types)
    return found


def test_launch_signatures_match_the_kernels():
    """The Python launcher packs exactly the C parameter types of every kernel."""
    assert {k: sig for k, (_, sig) in cr.KERNELS.items()} == _kernel_signatures()
    for kernel, (module, _) in cr.KERNELS.items():
        assert kernel in (CUDA_DIR / f"{module}.cu").read_text()


def _nvrtc():
    try:
        from cuda.bindings import nvrtc
    except ImportError:
        pytest.skip("cuda-python (cuda.bindings.nvrtc) is not installed: the NVRTC fallback is not checked")
    try:
        nvrtc.nvrtcVersion()
    except Exception as exc:  # the bindings import, but libnvrtc is missing
        pytest.skip(f"libnvrtc is not loadable ({exc})")
    return nvrtc


@pytest.mark.nvcc
@pytest.mark.parametrize("module", cr.MODULES)
def test_nvrtc_fallback_compiles(module):
    """The run-time path (no fatbin) compiles the same sources with NVRTC for the PTX arch."""
    _nvrtc()
    ptx = cr.nvrtc_ptx(module, PTX)
    for kernel, (mod, _) in cr.KERNELS.items():
        if mod == module:
            assert f".entry {kernel}(".encode() in ptx


@pytest.mark.nvcc
@pytest.mark.parametrize("arch", ["87", "90"], ids=["sm_87-orin", "sm_90"])
@pytest.mark.parametrize("module", cr.MODULES)
def test_nvrtc_compiles_every_source_to_sass(module, arch):
    """Every CUDA source of the package, as CuPy's RawModule and pycuda compile it at run time (NVRTC, no GPU),
    to SASS for Orin (sm_87) and Hopper (sm_90): every kernel the launcher knows is in the cubin."""
    nvrtc = _nvrtc()

    def check(result):
        err, *rest = result
        assert err == nvrtc.nvrtcResult.NVRTC_SUCCESS, nvrtc.nvrtcGetErrorString(err)[1]
        return rest[0] if len(rest) == 1 else rest

    prog = check(nvrtc.nvrtcCreateProgram(cr.read_source(module).encode(), f"{module}.cu".encode(), 0, [], []))
    try:
        opts = [*(f.encode() for f in cr.include_flags()), f"--gpu-architecture=sm_{arch}".encode(), b"-std=c++14"]
        (err,) = nvrtc.nvrtcCompileProgram(prog, len(opts), opts)
        if err != nvrtc.nvrtcResult.NVRTC_SUCCESS:
            log = b" " * check(nvrtc.nvrtcGetProgramLogSize(prog))
            check(nvrtc.nvrtcGetProgramLog(prog, log))
            pytest.fail(f"NVRTC could not compile {module}.cu for sm_{arch}:\n{log.decode(errors='replace')}")
        cubin = b" " * check(nvrtc.nvrtcGetCUBINSize(prog))
        check(nvrtc.nvrtcGetCUBIN(prog, cubin))
    finally:
        nvrtc.nvrtcDestroyProgram(prog)
    assert cubin[:4] == b"\x7fELF"
    for kernel, (mod, _) in cr.KERNELS.items():
        if mod == module:
            assert kernel.encode() in cubin, kernel


def test_every_cuda_source_is_a_module_the_compile_tests_see():
    """No CUDA source outside the .cu modules (no ElementwiseKernel or RawKernel body in a Python string): what runs
    on a GPU is what nvcc and NVRTC compile here, and what the CPU build of the stage kernels tests."""
    package = CUDA_DIR.parents[1]
    for path in package.rglob("*.py"):
        text = path.read_text()
        assert not re.search(r"\b(ElementwiseKernel|ReductionKernel|RawKernel)\(", text), path
        for call in re.findall(r"(?:RawModule\(code=|SourceModule\()([^,)]*)", text):
            assert call.startswith("read_source("), (path, call)


def test_setup_py_builds_no_cuda():
    """pip install never runs nvcc: setup.py declares the Cython extensions only (the fatbins are a separate step)."""
    setup_py = (Path(__file__).resolve().parents[2] / "setup.py")
    if not setup_py.is_file():
        pytest.skip("the tests do not run from a clone")
    text = setup_py.read_text()
    for word in ("subprocess", "nvcc", "shutil", "copyfile", "spawn("):
        assert word not in text.split('"""', 2)[2], word  # the docstring may name the separate step
