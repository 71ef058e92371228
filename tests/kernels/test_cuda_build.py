"""Compile-only checks of csrc/cuda: every .cu builds for every target with the machine's nvcc.

No GPU is needed: nvcc, a host C compiler and (optionally) NVRTC from cuda-python are enough.
Each test skips with a reason when its tool is absent.
"""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from edgematte.kernels import _cuda_runtime as cr

CUDA_DIR = Path(__file__).resolve().parents[2] / "csrc" / "cuda"
SOURCES = sorted(CUDA_DIR.glob("*.cu"))
SASS = ("75", "86", "87", "89", "90")
PTX = "75"
NVCC = shutil.which("nvcc")
needs_nvcc = pytest.mark.skipif(
    NVCC is None, reason="nvcc is not on PATH (install the CUDA toolkit to compile the kernels)"
)


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
        [NVCC, "-O3", "-fatbin", "-Werror", "all-warnings", *flags, "-o", str(out), str(source)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    entries = fatbin_entries(out.read_bytes())
    assert sorted(a for k, a in entries if k == "sass") == list(SASS)
    assert [a for k, a in entries if k == "ptx"] == [PTX]


@needs_nvcc
@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_compiles_as_cxx11_with_host_launchers(source, tmp_path):
    """Object file with host launchers, oldest dialect CUDA 11.4 accepts: no newer C++ slips in."""
    run = subprocess.run(
        [NVCC, "-std=c++11", "-O3", "-c", "-arch=sm_75", "-o", str(tmp_path / "k.o"), str(source)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr


@needs_nvcc
def test_header_is_valid_c_for_host_callers(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no host C compiler")
    (tmp_path / "x.cu").write_text("")
    dry = subprocess.run([NVCC, "--dryrun", "-c", str(tmp_path / "x.cu")], capture_output=True, text=True).stderr
    include = re.search(r'INCLUDES="-I([^"]+)"', dry).group(1)  # the toolkit's own include directory
    main = tmp_path / "main.c"
    launchers = "em_preprocess, em_upsample_alpha, em_make_trimap, em_composite, em_blur"
    fns = ", ".join(f"(void (*)(void)){name}" for name in launchers.split(", "))
    main.write_text(
        f'#include "em_cuda.h"\nint main(void) {{ void (*fns[])(void) = {{{fns}}}; return (int)(sizeof fns) == 0; }}\n'
    )
    run = subprocess.run(
        [cc, "-std=c99", "-Wall", "-Werror", "-fsyntax-only", f"-I{CUDA_DIR}", f"-I{include}", str(main)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr


_C_TYPES = {"long long": "q", "int": "i", "float": "f"}


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


@pytest.mark.parametrize("module", cr.MODULES)
def test_nvrtc_fallback_compiles(module):
    """The run-time path (no fatbin) compiles the same sources with NVRTC for the PTX arch."""
    _nvrtc()
    ptx = cr.nvrtc_ptx(module, PTX)
    for kernel, (mod, _) in cr.KERNELS.items():
        if mod == module:
            assert f".entry {kernel}(".encode() in ptx
