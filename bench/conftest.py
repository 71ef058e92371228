"""Benchmarks pin thread-count variables so ORT/OpenCV/OpenMP runs are comparable."""

import os

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(os.cpu_count() or 1))
