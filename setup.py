"""Native extensions only; metadata and package data live in pyproject.toml.

Every ``edgematte/kernels/*.pyx`` becomes ``edgematte.kernels.<name>``, compiled with the plain C99
kernels in ``csrc/`` (and ``edgematte/kernels/em_common.h``). OpenMP is used when the compiler
accepts it; the build succeeds without it (kernels then run on one thread), or skips it with
EDGEMATTE_NO_OPENMP=1. ``pip install -e .`` builds them in place, so a clone imports its own kernels.

The CUDA kernels are not built here: their sources ship as package data and compile at run time
(NVRTC), or ahead of time with ``python -m edgematte.kernels.cuda.build`` (nvcc -> fatbins).
"""

import glob
import os
import sys
import tempfile

import numpy
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext


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

    def _compiles_with(self, flags):
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


def extensions():
    c_flags = ["-O3", "-std=c99"] if sys.platform != "win32" else ["/O2"]
    sources = sorted(glob.glob("csrc/*.c"))
    exts = [
        Extension(
            "edgematte.kernels." + os.path.splitext(os.path.basename(pyx))[0],
            [pyx] + sources,
            include_dirs=["csrc", "edgematte/kernels", numpy.get_include()],
            define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
            extra_compile_args=list(c_flags),
        )
        for pyx in sorted(glob.glob("edgematte/kernels/*.pyx"))
    ]
    return cythonize(exts, compiler_directives={"language_level": "3"})


setup(ext_modules=extensions(), cmdclass={"build_ext": BuildExtWithOptionalOpenMP})
