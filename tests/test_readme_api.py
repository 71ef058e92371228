"""The README's "Use it from Python" example runs as written."""

import shutil
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def python_block(section: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    body = text.split(f"## {section}\n", 1)[1]
    return body.split("```python\n", 1)[1].split("```", 1)[0]


def test_use_it_from_python_example(selfie_env, tmp_path, monkeypatch, capsys):
    import cv2

    (tmp_path / "docs").mkdir()
    shutil.copy(REPO / "docs" / "astronaut.jpg", tmp_path / "docs" / "astronaut.jpg")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    (tmp_path / "home").mkdir()
    exec(compile(python_block("Use it from Python"), "README.md", "exec"), {})
    assert cv2.imread(str(tmp_path / "home" / "green.png")).shape == (512, 512, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["docs", "home"]  # nothing written where it ran
    assert "'model'" in capsys.readouterr().out
