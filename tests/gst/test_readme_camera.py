"""The README's "Camera apps" commands run as written, on a real clip named as the README names it."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent.parent


def section(title: str) -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    return text.split("\n## Camera apps\n", 1)[1].split("\n## ", 1)[0].split(f"### {title}\n", 1)[1].split("\n### ")[0]


def commands(title: str, start: str) -> list:
    """The bash lines of ``title``'s first block that start with ``start`` (continuations joined)."""
    block = section(title).split("```bash\n", 1)[1].split("```", 1)[0].replace("\\\n", " ")
    return [line.split("  #")[0].strip() for line in block.splitlines() if line.startswith(start)]


@pytest.fixture
def talk(shared_data, tmp_path, monkeypatch, selfie_env):
    clip = shared_data / "videos" / "asl_book.mkv"
    if not clip.is_file():
        pytest.skip(f"{clip} is absent")
    shutil.copy(clip, tmp_path / "talk.mp4")  # decodebin and FFmpeg read the content, not the name
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_the_element_commands(gst_env, talk):
    from clips import probe

    edgematte = f"{sys.executable} -m edgematte.cli"
    lines = commands("The GStreamer element", "eval") + commands("The GStreamer element", "gst-launch-1.0 filesrc")
    assert len(lines) == 2
    script = " && ".join(line.replace("edgematte gst", f"{edgematte} gst") for line in lines)
    done = subprocess.run(["bash", "-c", script], env=gst_env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr
    assert probe(talk / "talk_green.mp4")["frames"] == probe(talk / "talk.mp4")["frames"]


def test_the_live_command_and_the_python_example(gst_env, talk, capsys):
    from edgematte.cli.__main__ import main

    (line,) = commands("The live path", "edgematte webcam --source talk.mp4")
    assert main(line.split()[1:]) == 0 and (talk / "stats.json").is_file()
    code = section("The live path").split("```python\n", 1)[1].split("```", 1)[0]
    exec(compile(code, "README.md#the-live-path", "exec"), {})
    assert (talk / "talk_green.mp4").is_file() and capsys.readouterr().out
