"""Print pip constraints that pin every dependency in pyproject.toml's [project] dependencies at its floor.

CI's oldest leg installs with these (``pip install -c``), so the floors pyproject states are the versions
tested. A dependency without a ``>=`` floor is an error: each must say the oldest version it works with.
Run from the repository root: ``python3 .ci/oldest_constraints.py > oldest.txt``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

try:
    import tomllib
except ImportError:  # Python < 3.11
    import tomli as tomllib

FLOOR = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*>=\s*([0-9][^,;\s]*)\s*(?:[,;].*)?$")


def floors(pyproject: Path) -> list:
    """[(name, floor version)] of the [project] dependencies, in their order."""
    dependencies = tomllib.loads(pyproject.read_text())["project"]["dependencies"]
    pins = []
    for requirement in dependencies:
        match = FLOOR.match(requirement)
        if match is None:
            raise SystemExit(f"{pyproject}: dependency {requirement!r} has no '>=' floor; expected one")
        pins.append((match.group(1), match.group(2)))
    return pins


def main() -> int:
    root = Path(__file__).resolve().parent.parent
    for name, version in floors(root / "pyproject.toml"):
        print(f"{name}=={version}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
