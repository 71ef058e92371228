"""Build the CUDA fatbins: ``python -m edgematte.kernels.cuda.build [--archs 87] [--out DIR]``.

A separate step from ``pip install`` (which never runs nvcc): each ``*.cu`` of this folder becomes
``<name>.fatbin`` beside it (or in ``--out``), with SASS for sm_75/86/87/89/90 (those this nvcc
supports) plus compute_75 PTX for newer GPUs. Without fatbins the kernels still run: the sources
compile at run time with NVRTC, with a logged warning. On Jetson, run it with the JetPack's own
nvcc (``PATH=/usr/local/cuda/bin:$PATH``), since newer PTX does not load on an older driver.

nvcc is looked up on PATH, then in ``$CUDA_HOME/bin`` (default /usr/local/cuda). ``--archs`` (or
``EDGEMATTE_CUDA_ARCHS``, comma- or space-separated) picks other SASS targets.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from ...errors import BackendUnavailableError, KernelError
from ...files import atomic_path
from ._runtime import COMMON_DIR, CUDA_DIR, MODULES

#: SASS targets and the CUDA release that first supports each
ARCHS = {"75": (10, 0), "86": (11, 1), "87": (11, 4), "89": (11, 8), "90": (11, 8)}
PTX_ARCH = "75"


def find_nvcc() -> str:
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    nvcc = shutil.which("nvcc") or shutil.which("nvcc", path=os.path.join(home, "bin"))
    if not nvcc:
        raise BackendUnavailableError("nvcc is not on PATH or in $CUDA_HOME/bin; expected the CUDA toolkit")
    return nvcc


def gencode_flags(nvcc: str, archs: Optional[Sequence[str]] = None) -> List[str]:
    """-gencode flags: SASS for ``archs`` (default: those of ARCHS this nvcc supports) + one PTX."""
    if not archs:
        version = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=120).stdout
        found = re.search(r"release (\d+)\.(\d+)", version)
        if not found:
            raise KernelError(f"{nvcc} --version names no CUDA release; expected 'release X.Y'")
        release = (int(found.group(1)), int(found.group(2)))
        archs = [a for a, since in ARCHS.items() if release >= since]
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    ptx = PTX_ARCH if PTX_ARCH in archs else archs[0]
    return flags + [f"-gencode=arch=compute_{ptx},code=compute_{ptx}"]


def build(out_dir: Optional[Path] = None, archs: Optional[Sequence[str]] = None) -> List[Path]:
    """Compile every kernel source to ``<out_dir>/<name>.fatbin`` (default: this folder); returns the paths."""
    nvcc = find_nvcc()
    flags = gencode_flags(nvcc, archs)
    out_dir = CUDA_DIR if out_dir is None else Path(out_dir)
    built = []
    for module in MODULES:
        dest = out_dir / f"{module}.fatbin"
        with atomic_path(dest) as tmp:
            cmd = [nvcc, "-O3", "-fatbin", f"-I{CUDA_DIR}", f"-I{COMMON_DIR}", *flags, "-o", str(tmp),
                   str(CUDA_DIR / f"{module}.cu")]
            run = subprocess.run(cmd, capture_output=True, text=True)
            if run.returncode != 0:
                raise KernelError(f"nvcc failed on {module}.cu (exit {run.returncode}):\n{run.stderr}")
        built.append(dest)
    return built


def _archs(text: str) -> Tuple[str, ...]:
    return tuple(a for a in re.split(r"[,\s]+", text.strip()) if a)


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m edgematte.kernels.cuda.build", description=__doc__.split("\n")[0])
    parser.add_argument("--archs", default=os.environ.get("EDGEMATTE_CUDA_ARCHS", ""),
                        help="SASS targets, e.g. '87' or '75,86' (default: every supported one)")
    parser.add_argument("--out", type=Path, default=None, help=f"output folder (default: {CUDA_DIR})")
    args = parser.parse_args(argv)
    try:
        for path in build(args.out, _archs(args.archs)):
            sys.stdout.write(f"{path}\n")
    except (BackendUnavailableError, KernelError) as exc:
        sys.stderr.write(f"edgematte: {exc}\n")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
