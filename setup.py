"""Native extensions only; metadata lives in pyproject.toml.

Every ``edgematte/kernels/*.pyx`` becomes ``edgematte.kernels.<name>``, compiled with the
plain C99 kernels in ``csrc/``. OpenMP is used when the compiler accepts it; the build
succeeds without it (kernels then run on one thread).

CUDA: ``csrc/cuda/*.cu`` and ``em_cuda.h`` are copied into ``edgematte/kernels/cuda/`` (for
run-time NVRTC), and when nvcc is found each ``.cu`` becomes a fatbin there with SASS for
sm_75/86/87/89/90 (those the nvcc supports) plus compute_75 PTX. EDGEMATTE_CUDA=0 skips the
fatbins, EDGEMATTE_CUDA=1 makes a missing or failing nvcc an error (otherwise a warning),
EDGEMATTE_CUDA_ARCHS="87" (comma- or space-separated) picks other SASS targets.
"""

import glob
import os
import re
import shutil
import subprocess
import sys

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = sorted(glob.glob("csrc/*.c"))


class BuildExtWithOptionalOpenMP(build_ext):
    """Adds -fopenmp (or /openmp) when a test compile with it succeeds."""

    def build_extensions(self):
        flags = ["/openmp"] if self.compiler.compiler_type == "msvc" else ["-fopenmp"]
        if os.environ.get("EDGEMATTE_NO_OPENMP") != "1" and self._compiles_with(flags):
            for ext in self.extensions:
                ext.extra_compile_args += flags
                if self.compiler.compiler_type != "msvc":
                    ext.extra_link_args += flags
        else:
            sys.stderr.write("edgematte: building without OpenMP; kernels will run on one thread\n")
        super().build_extensions()

    def run(self):  # the Cython extensions, then the CUDA fatbins (package data, not extensions)
        super().run()
        self._build_cuda()

    def _build_cuda(self):
        if self.inplace:
            dest = self.get_finalized_command("build_py").get_package_dir("edgematte.kernels")
        else:
            dest = os.path.join(self.build_lib, "edgematte", "kernels")
        dest = os.path.join(dest, "cuda")
        sources = sorted(glob.glob(os.path.join("csrc", "cuda", "*.cu")))
        if not sources:
            sys.stderr.write("edgematte: no csrc/cuda sources; CUDA kernels not installed\n")
            return
        os.makedirs(dest, exist_ok=True)
        for src in sources + [os.path.join("csrc", "cuda", "em_cuda.h")]:
            shutil.copyfile(src, os.path.join(dest, os.path.basename(src)))
        mode = os.environ.get("EDGEMATTE_CUDA", "auto")
        if mode == "0":
            return
        try:
            nvcc, flags = cuda_flags()
            for src in sources:
                out = os.path.join(dest, os.path.splitext(os.path.basename(src))[0] + ".fatbin")
                self.spawn([nvcc, "-O3", "-fatbin", *flags, "-o", out, src])
        except Exception as exc:  # nvcc absent or failing must not break the install unless asked for
            if mode == "1":
                raise
            sys.stderr.write(f"edgematte: CUDA fatbins not built ({exc}); kernels will compile at run time\n")

    def _compiles_with(self, flags):
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            source = os.path.join(tmp, "omp_check.c")
            with open(source, "w") as f:
                f.write("#include <omp.h>\nint main(void){return omp_get_max_threads() > 0 ? 0 : 1;}\n")
            try:
                objects = self.compiler.compile([source], output_dir=tmp, extra_postargs=flags)
                self.compiler.link_executable(objects, os.path.join(tmp, "omp_check"), extra_postargs=flags)
            except Exception:  # any compiler or linker failure means "no OpenMP"
                return False
        return True


# SASS targets and the CUDA release that first supports each
CUDA_ARCHS = {"75": (10, 0), "86": (11, 1), "87": (11, 4), "89": (11, 8), "90": (11, 8)}
PTX_ARCH = "75"


def cuda_flags():
    """(nvcc path, -gencode flags for the archs this nvcc supports); raises OSError without nvcc."""
    home = os.environ.get("CUDA_HOME") or os.environ.get("CUDA_PATH") or "/usr/local/cuda"
    nvcc = shutil.which("nvcc") or shutil.which("nvcc", path=os.path.join(home, "bin"))
    if not nvcc:
        raise OSError("nvcc not found on PATH or in $CUDA_HOME/bin")
    version = subprocess.run([nvcc, "--version"], capture_output=True, text=True, timeout=120).stdout
    found = re.search(r"release (\d+)\.(\d+)", version)
    if not found:
        raise OSError(f"cannot read the CUDA release from {nvcc} --version")
    release = (int(found.group(1)), int(found.group(2)))
    wanted = re.split(r"[,\s]+", os.environ.get("EDGEMATTE_CUDA_ARCHS", "").strip()) or []
    archs = [a for a in wanted if a] or [a for a, since in CUDA_ARCHS.items() if release >= since]
    flags = [f"-gencode=arch=compute_{a},code=sm_{a}" for a in archs]
    ptx = PTX_ARCH if PTX_ARCH in archs or not archs else archs[0]
    return nvcc, flags + [f"-gencode=arch=compute_{ptx},code=compute_{ptx}"]


def extensions():
    c_flags = ["-O3", "-std=c99"] if sys.platform != "win32" else ["/O2"]
    exts = []
    for pyx in sorted(glob.glob("edgematte/kernels/*.pyx")):
        name = "edgematte.kernels." + os.path.splitext(os.path.basename(pyx))[0]
        exts.append(
            Extension(
                name,
                [pyx] + CSRC,
                include_dirs=["csrc", numpy.get_include()],
                define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
                extra_compile_args=list(c_flags),
            )
        )
    return cythonize(exts, compiler_directives={"language_level": "3"})


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExtWithOptionalOpenMP})
