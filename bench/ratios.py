"""Print speed ratios from a pytest-benchmark JSON file.

Within each benchmark group, the entry whose ``extra_info["role"]`` is ``"baseline"`` is the
reference; every other entry is shown as ``baseline median / entry median`` (so > 1 means
faster than the baseline).

    pytest bench/test_kernels.py --benchmark-json bench/results/kernels.json
    python bench/ratios.py bench/results/kernels.json
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict


def ratio_rows(data: dict):
    groups = defaultdict(list)
    for bench in data["benchmarks"]:
        groups[bench.get("group") or bench["name"]].append(bench)
    for group, benches in sorted(groups.items()):
        baselines = [b for b in benches if b.get("extra_info", {}).get("role") == "baseline"]
        base = baselines[0]["stats"]["median"] if baselines else None
        for b in benches:
            median = b["stats"]["median"]
            ratio = base / median if base else float("nan")
            yield group, b["name"], median * 1e3, b["stats"].get("iqr", 0.0) * 1e3, ratio, b.get("extra_info", {})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("json_file")
    args = parser.parse_args()
    with open(args.json_file) as f:
        data = json.load(f)
    machine = data.get("machine_info", {})
    print(f"# {machine.get('cpu', {}).get('brand_raw', '?')}, {machine.get('cpu', {}).get('count', '?')} cpus, "
          f"commit {data.get('commit_info', {}).get('id', '?')[:10]}")
    print(f"{'group':<34} {'benchmark':<52} {'median ms':>10} {'iqr ms':>8} {'speedup':>8}")
    for group, name, median_ms, iqr_ms, ratio, _ in ratio_rows(data):
        print(f"{group:<34} {name:<52} {median_ms:>10.3f} {iqr_ms:>8.3f} {ratio:>7.2f}x")


if __name__ == "__main__":
    main()
