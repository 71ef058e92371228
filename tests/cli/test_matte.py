import cv2
import numpy as np
import pytest

import edgematte
from edgematte.cli.__main__ import main


@pytest.fixture
def photos(tmp_path):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i, centre in enumerate([(40, 40), (80, 60), (120, 80)]):
        frame = np.empty((120, 160, 3), np.uint8)
        frame[...] = (255, 0, 0)
        cv2.circle(frame, centre, 30, (0, 0, 255), -1)
        cv2.imwrite(str(folder / f"p{i}.png"), frame)
    (folder / "notes.txt").write_text("not an image")
    return folder


def test_one_photo_to_png_with_alpha(photos, tmp_path, model_args, tiny_onnx, capsys):
    out = tmp_path / "out" / "cut.png"
    assert main(["matte", str(photos / "p0.png"), "-o", str(out)] + model_args) == 0
    written = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    image = cv2.imread(str(photos / "p0.png"))
    assert written.shape == (120, 160, 4)
    with edgematte.Matter(tiny_onnx, backend="ort-cpu") as m:
        result = m.process(image, None)
        np.testing.assert_array_equal(written[..., 3], result.alpha)
        # under the alpha: the colours with the old background removed from the edge, the photo where opaque
        np.testing.assert_array_equal(written[..., :3], result.foreground)
        np.testing.assert_array_equal(written[..., :3][result.alpha == 255], image[result.alpha == 255])
    assert "wrote" in capsys.readouterr().out


def test_folder_with_colour_background(photos, tmp_path, model_args):
    out = tmp_path / "composites"
    assert main(["matte", str(photos), "-o", str(out), "--background", "#00FF00"] + model_args) == 0
    written = sorted(p.name for p in out.iterdir())
    assert written == ["p0.png", "p1.png", "p2.png"]
    image = cv2.imread(str(out / "p1.png"), cv2.IMREAD_UNCHANGED)
    assert image.shape == (120, 160, 3)
    assert tuple(image[5, 155]) == (0, 255, 0)  # far from the disc: the new background (BGR)
    assert tuple(image[60, 80]) == (0, 0, 255)  # the disc itself is kept


@pytest.mark.parametrize("background", ["blur", "image", "0,0,0", "white"])
def test_background_kinds(photos, tmp_path, model_args, background):
    if background == "image":
        cv2.imwrite(str(tmp_path / "bg.jpg"), np.full((50, 50, 3), 200, np.uint8))
        background = str(tmp_path / "bg.jpg")
    out = tmp_path / "out.jpg"
    assert main(["matte", str(photos / "p2.png"), "-o", str(out), "-b", background] + model_args) == 0
    assert cv2.imread(str(out)).shape == (120, 160, 3)


@pytest.mark.parametrize(
    "argv_tail, code, message",
    [
        (["missing.png", "-o", "o.png"], 1, "does not exist"),
        (["{photos}/notes.txt", "-o", "o.png"], 1, "could not decode"),
        (["{photos}/p0.png", "-o", "o.png", "--model", "no-such-model"], 1, "expected one of"),
        (["{photos}/p0.png", "-o", "o.jpg"], 2, "with alpha"),
        (["{photos}/p0.png", "-o", "o.bmp"], 2, "with alpha"),
        (["{photos}", "-o", "o.png"], 2, "expected a folder"),
        (["{photos}/p0.png", "-o", "o.png", "-b", "plaid"], 2, "--background"),
        (["{photos}/p0.png", "-o", "{photos}/p0.png"], 2, "which is the input"),
        (["-", "{photos}/p0.png", "-o", "-"], 2, "expected '-' alone"),
        (["{photos}/p0.png", "-o", "o.png", "--threads", "0"], 2, "argument --threads: received '0'"),
        (["{photos}/p0.png", "-o", "o.png", "--refine", "best"], 2, "argument --refine: invalid choice"),
    ],
)
def test_errors_exit_1_at_run_time_and_2_for_usage_with_one_line(photos, tmp_path, monkeypatch, model_args, capsys,
                                                                 argv_tail, code, message):
    monkeypatch.chdir(tmp_path)
    argv = ["matte"] + [a.replace("{photos}", str(photos)) for a in argv_tail]
    if "--model" not in argv:
        argv += model_args
    try:
        got = main(argv)
    except SystemExit as exc:  # argparse's own usage errors
        got = exc.code
    assert got == code
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("edgematte matte: error:"), err
    assert message in err[0]
    assert not (tmp_path / "o.png").exists() and not (tmp_path / "o.jpg").exists()


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["matte", "x.png"])  # no -o
    assert info.value.code == 2


def test_readme_command_with_the_default_model(selfie_env, tmp_path, capsys):
    from pathlib import Path

    photo = Path(__file__).resolve().parents[2] / "docs" / "astronaut.jpg"
    out = tmp_path / "astronaut.png"
    assert main(["matte", str(photo), "-o", str(out), "--background", "green"]) == 0
    result = cv2.imread(str(out), cv2.IMREAD_UNCHANGED)
    assert result.shape == (512, 512, 3)
    assert tuple(result[10, 500]) == (64, 177, 0)  # "green" is RGB (0, 177, 64)


def test_task_and_input_size_options(photos, tmp_path, tiny_onnx):
    dynamic = tiny_onnx.parent / "tiny_seg_dynamic.onnx"
    out = tmp_path / "o.png"
    argv = ["matte", str(photos / "p0.png"), "-o", str(out), "--model", str(dynamic), "--backend", "ort-cpu"]
    assert main(argv) == 1  # dynamic input and no size
    assert main(argv + ["--input-size", "64x48", "--task", "matting"]) == 0
    assert cv2.imread(str(out), cv2.IMREAD_UNCHANGED).shape == (120, 160, 4)


def test_a_bad_file_is_skipped_and_counted(photos, tmp_path, model_args, capsys):
    (photos / "broken.png").write_bytes(b"not a png")
    out = tmp_path / "out"
    assert main(["matte", str(photos), "-o", str(out)] + model_args) == 1
    captured = capsys.readouterr()
    skipped = [line for line in captured.err.splitlines() if "skipped" in line]
    assert len(skipped) == 1 and "broken.png" in skipped[0] and "could not decode" in skipped[0]
    assert "3 written, 1 failed" in captured.out
    assert sorted(p.name for p in out.iterdir()) == ["p0.png", "p1.png", "p2.png"]  # p1, p2 after the bad one


def test_recursive_mirrors_sub_folders(photos, tmp_path, model_args, capsys):
    (photos / "sub").mkdir()
    cv2.imwrite(str(photos / "sub" / "p0.png"), cv2.imread(str(photos / "p0.png")))
    out = tmp_path / "out"
    assert main(["matte", str(photos), "-o", str(out), "-b", "white"] + model_args) == 0
    assert not (out / "sub").exists()
    assert main(["matte", str(photos), "-o", str(out), "-b", "white", "--recursive"] + model_args) == 0
    assert (out / "sub" / "p0.png").is_file() and "4 written, 0 failed" in capsys.readouterr().out


def test_stdin_to_stdout(photos, tmp_path, tiny_onnx):
    import subprocess

    from fresh_python import fresh_python

    args = ["-m", "edgematte.cli", "matte", "-", "-o", "-", "--model", str(tiny_onnx), "--backend", "ort-cpu"]
    argv, kwargs = fresh_python(args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    done = subprocess.run(argv, input=(photos / "p0.png").read_bytes(), timeout=120, **kwargs)
    assert done.returncode == 0, done.stderr.decode()
    image = cv2.imdecode(np.frombuffer(done.stdout, np.uint8), cv2.IMREAD_UNCHANGED)
    assert image.shape == (120, 160, 4)


@pytest.mark.parametrize("how", ["same", "folder"])
def test_output_equal_to_input_is_refused(photos, model_args, capsys, how):
    before = {p: p.read_bytes() for p in photos.iterdir()}
    target = photos / "p0.png" if how == "same" else photos
    source = photos / "p0.png" if how == "same" else photos
    assert main(["matte", str(source), "-o", str(target)] + model_args) == 2  # usage: refused before anything is opened
    assert "is the input" in capsys.readouterr().err
    assert {p: p.read_bytes() for p in photos.iterdir()} == before


def test_rgba_photo_keeps_its_transparency(tmp_path, model_args):
    photo = np.zeros((40, 40, 4), np.uint8)
    photo[..., 2] = 255  # red everywhere: foreground for the tiny model
    photo[:, 20:, 3] = 255  # ... but the left half is transparent
    cv2.imwrite(str(tmp_path / "in.png"), photo)
    assert main(["matte", str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png")] + model_args) == 0
    alpha = cv2.imread(str(tmp_path / "out.png"), cv2.IMREAD_UNCHANGED)[..., 3]
    assert (alpha[:, :20] == 0).all() and alpha[:, 25:].min() > 200


def test_read_only_output_names_the_path_and_cause(photos, tmp_path, model_args, capsys, monkeypatch):
    import errno

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", str(tmp_path / ".o.123.abc.partial.png"))

    monkeypatch.setattr("edgematte.io.sinks.atomic_path", read_only)
    out = tmp_path / "o.png"
    assert main(["matte", str(photos / "p0.png"), "-o", str(out)] + model_args) == 1
    err = capsys.readouterr().err.strip()
    assert err == f"edgematte matte: error: could not write {str(out)!r}: the file system is read-only"
