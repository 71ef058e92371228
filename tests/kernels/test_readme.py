"""The README's Kernels example runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).resolve().parents[2] / "README.md"


def test_readme_kernels_example_runs():
    section = README.read_text().split("\n## Kernels", 1)[1].split("\n## ", 1)[0]
    code = re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)
    exec(compile(code, "README.md#kernels", "exec"), {})  # noqa: S102 - running the documented example is the test
