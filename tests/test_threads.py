"""A Matter serves one thread at a time: shared by threads it serialises them, never crashing or mixing results.

Each case runs in a fresh interpreter: before the lock, ONNX Runtime aborted the whole process
(``Assertion '__n < this->size()' failed`` in run_with_iobinding) in most runs.
"""

from __future__ import annotations

import subprocess
import textwrap

from fresh_python import fresh_python

SCRIPT = textwrap.dedent(
    """
    import sys, threading
    import numpy as np, cv2
    import edgematte

    model, mode = sys.argv[1], sys.argv[2]
    frames = []
    for i in range(6):  # red discs (foreground for the tiny model) of different sizes on blue
        f = np.full((180, 240, 3), (255, 0, 0), np.uint8)
        cv2.circle(f, (120, 90), 20 + 10 * i, (0, 0, 255), -1)
        frames.append(f)
    with edgematte.Matter(model, backend="ort-cpu", refine="fast") as ref:
        expected = [ref.process(f).alpha.copy() for f in frames]
        expected_green = [ref.replace_background(f, (0, 255, 0)).copy() for f in frames]

    shared = edgematte.Matter(model, backend="ort-cpu", refine="fast") if mode == "shared" else None
    wrong, errors = [], []

    def work(worker):
        matter = shared or edgematte.Matter(model, backend="ort-cpu", refine="fast")
        try:
            for n in range(150):
                k = (n + worker) % len(frames)
                res = matter.process(frames[k], (0, 255, 0) if n % 2 else edgematte.pipeline.NO_COMPOSITE)
                if not np.array_equal(res.alpha, expected[k]):
                    wrong.append((worker, n))
                if n % 2 and not np.array_equal(res.composite, expected_green[k]):
                    wrong.append((worker, n, "composite"))
        except Exception as exc:
            errors.append(repr(exc))

    threads = [threading.Thread(target=work, args=(w,)) for w in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(f"wrong={len(wrong)} errors={errors}")
    sys.exit(1 if wrong or errors else 0)
    """
)


def _run(tiny_onnx, tmp_path, mode):
    argv, kwargs = fresh_python(["-c", SCRIPT, str(tiny_onnx), mode], cwd=tmp_path, capture_output=True, text=True)
    proc = subprocess.run(argv, timeout=300, **kwargs)
    assert proc.returncode == 0, f"exit {proc.returncode}: {proc.stdout} {proc.stderr[-2000:]}"
    assert "wrong=0 errors=[]" in proc.stdout


def test_one_matter_shared_by_threads_is_served_correctly(tiny_onnx, tmp_path):
    _run(tiny_onnx, tmp_path, "shared")


def test_one_matter_per_thread_runs_in_parallel_correctly(tiny_onnx, tmp_path):
    _run(tiny_onnx, tmp_path, "own")
