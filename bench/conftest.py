"""Benchmarks pin thread-count variables so ORT/OpenCV/OpenMP runs are comparable."""

import os
import sys
from pathlib import Path

# test fixtures (tiny models, random checkpoints) live in tests/, never in the package
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(var, str(os.cpu_count() or 1))
