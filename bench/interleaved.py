"""This build's kernels against an earlier build's, calls interleaved, for a noisy (shared) machine.

    git worktree add /tmp/prev <commit> && (cd /tmp/prev && python setup.py build_ext --inplace)
    python bench/interleaved.py /tmp/prev [--rounds 300] [--threads 1]

pytest-benchmark (``EDGEMATTE_BENCH_PREVIOUS=... pytest bench/test_kernels.py -k previous``) times one
side after the other, so load that comes and goes between them shows up as a speed change. Here
each round times the previous call and this call back to back (alternating which goes first), and
the result is the median of the per-round ratios (previous / this: > 1 means this build is faster)
beside each side's median. Same calls and 1920x1080 inputs as bench/test_kernels.py.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import edgematte  # noqa: E402
from test_kernels import _calls, _import_previous, _mask, H, W  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("previous", help="a checkout of the earlier commit with its kernels built in place")
    parser.add_argument("--rounds", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    previous = _import_previous(args.previous)
    rng = np.random.default_rng(0)
    frame = (rng.integers(0, 256, (H, W, 3), dtype=np.uint8), _mask(rng),
             rng.integers(0, 256, (H, W, 3), dtype=np.uint8))
    ours, theirs = _calls(edgematte, frame), _calls(previous, frame)
    print(f"# {W}x{H}, threads={args.threads}, {args.rounds} interleaved rounds, previous = {args.previous}")
    print(f"{'op':<18} {'previous ms':>12} {'this ms':>10} {'previous/this':>14}")
    for op in ours:
        prev_t, this_t = [], []
        for i in range(args.rounds):
            pair = [(theirs[op], prev_t), (ours[op], this_t)]
            for call, times in (pair if i % 2 else pair[::-1]):
                start = time.perf_counter()
                call(args.threads)
                times.append(time.perf_counter() - start)
        ratio = np.median(np.array(prev_t) / np.array(this_t))
        print(f"{op:<18} {np.median(prev_t) * 1e3:>12.3f} {np.median(this_t) * 1e3:>10.3f} {ratio:>13.3f}x")


if __name__ == "__main__":
    main()
