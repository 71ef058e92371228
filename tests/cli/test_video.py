"""``edgematte video`` on real files made with PyAV: codecs, streams, frames, audio and alpha planes."""

import errno
import os
import signal
import subprocess

import cv2
import numpy as np
import pytest
from clips import audio_seconds, decode_frames, disc_frame, probe, write_clip
from fresh_python import signal_when_ready

import edgematte
from edgematte.cli.__main__ import main
from edgematte.io import VideoOptions


def expected_alphas(tiny_onnx, clip):
    """The matte of every decoded frame of ``clip``, as the CLI computes it."""
    with edgematte.Matter(tiny_onnx, backend="ort-cpu", refine="fast") as m:
        return [m.process(frame).alpha.copy() for frame in decode_frames(clip)]


def audio_packets(path):
    import av

    with av.open(str(path)) as container:
        return [bytes(p) for p in container.demux(container.streams.audio[0]) if p.size]


@pytest.mark.parametrize("suffix", [".mp4", ".mkv", ".mov"])
def test_composite_is_h264_with_the_audio_copied(clip, tmp_path, model_args, suffix):
    out = tmp_path / f"out{suffix}"
    assert main(["video", str(clip), "-o", str(out), "--background", "green"] + model_args) == 0
    info = probe(out)
    assert info["video_codecs"] == ["h264"] and info["audio_codecs"] == ["aac"] and info["streams"] == 2
    assert info["frames"] == 10 and info["fps"] == pytest.approx(10.0)
    assert info["audio_seconds"] == pytest.approx(audio_seconds(clip), abs=0.03)
    assert audio_packets(out) == audio_packets(clip)  # remuxed, not re-encoded
    import av

    with av.open(str(out)) as container:
        assert container.streams.video[0].codec_context.pix_fmt == "yuv420p"
    green = decode_frames(out)[0][2, 2]  # a background corner: (B, G, R) of "green" = (64, 177, 0)
    assert np.abs(green.astype(int) - (64, 177, 0)).max() < 12
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["clip.mp4", out.name])


def test_no_audio_drops_the_audio(clip, tmp_path, model_args):
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip), "-o", str(out), "-b", "blur", "--no-audio"] + model_args) == 0
    assert probe(out)["streams"] == 1 and probe(out)["frames"] == 10


def test_audio_the_container_cannot_take_is_reencoded_in_sync(tmp_path, model_args):
    clip = write_clip(tmp_path / "in.mkv", audio="flac")  # FLAC cannot go into QuickTime: AAC instead
    out = tmp_path / "out.mov"
    assert main(["video", str(clip), "-o", str(out), "-b", "white"] + model_args) == 0
    info = probe(out)
    assert info["audio_codecs"] == ["aac"] and info["frames"] == 10
    assert info["audio_seconds"] == pytest.approx(1.0, abs=0.05)


def test_webm_is_vp9_with_the_alpha_plane(clip, tmp_path, model_args, tiny_onnx):
    out = tmp_path / "out.webm"
    assert main(["video", str(clip), "-o", str(out)] + model_args) == 0
    info = probe(out)
    assert info["video_codecs"] == ["vp9"] and info["audio_codecs"] == ["opus"] and info["frames"] == 10
    assert info["audio_seconds"] == pytest.approx(1.0, abs=0.05)
    planes = decode_frames(out, "bgra", decoder="libvpx-vp9")
    assert len(planes) == 10
    for got, want in zip(planes, expected_alphas(tiny_onnx, clip)):
        assert np.abs(got[..., 3].astype(int) - want).mean() < 6


def test_mov_without_background_is_prores_4444_with_alpha(clip, tmp_path, model_args, tiny_onnx):
    out = tmp_path / "out.mov"
    assert main(["video", str(clip), "-o", str(out)] + model_args) == 0
    info = probe(out)
    assert info["video_codecs"] == ["prores"] and info["frames"] == 10 and info["audio_codecs"] == ["aac"]
    for got, want in zip(decode_frames(out, "bgra"), expected_alphas(tiny_onnx, clip)):
        assert np.abs(got[..., 3].astype(int) - want).max() <= 2


@pytest.mark.parametrize("target", ["frames/%04d.png", "folder"])
def test_png_sequence_keeps_the_alpha(clip, tmp_path, model_args, tiny_onnx, target):
    (tmp_path / "folder").mkdir()
    assert main(["video", str(clip), "-o", str(tmp_path / target)] + model_args) == 0
    folder = tmp_path / target.split("/")[0]
    files = sorted(folder.iterdir())
    assert len(files) == 10 and files[0].name in ("0001.png", "frame_000001.png")
    for path, want in zip(files, expected_alphas(tiny_onnx, clip)):
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert image.shape == (48, 64, 4) and np.array_equal(image[..., 3], want)


@pytest.mark.parametrize("suffix", [".mov", ".webm"])
def test_an_input_video_with_alpha_keeps_its_transparency(tmp_path, model_args, suffix):
    from edgematte.io import VideoSink

    source = tmp_path / f"in{suffix}"
    with VideoSink(source, 10, (64, 48), alpha=True, options=VideoOptions(crf=4)) as sink:
        for i in range(5):
            own = np.full((48, 64, 1), 255, np.uint8)
            own[:, 32:] = 0  # the right half is transparent in the input
            sink.write(np.dstack([disc_frame(i), own]))
    assert main(["video", str(source), "-o", str(tmp_path / "f%02d.png")] + model_args) == 0
    for i in range(5):
        alpha = cv2.imread(str(tmp_path / f"f{i + 1:02d}.png"), cv2.IMREAD_UNCHANGED)[..., 3]
        assert alpha[:, 36:].max() <= 8 and alpha[24, 16 + 3 * i] > 200


def test_matte_only_and_side_outputs(clip, tmp_path, model_args, tiny_onnx):
    out, alpha, fgr = tmp_path / "matte.mp4", tmp_path / "pha.mp4", tmp_path / "fgr/%03d.png"
    args = ["video", str(clip), "-o", str(out), "--matte-only", "--output-alpha", str(alpha)]
    assert main(args + ["--output-foreground", str(fgr)] + model_args) == 0
    want = expected_alphas(tiny_onnx, clip)
    for path in (out, alpha):
        frames = decode_frames(path, "gray")
        assert len(frames) == 10
        assert all(np.abs(g.astype(int) - w).mean() < 4 for g, w in zip(frames, want))
    assert len(list((tmp_path / "fgr").iterdir())) == 10


def test_alpha_into_mp4_is_refused_before_any_work(clip, tmp_path, model_args, capsys):
    assert main(["video", str(clip), "-o", str(tmp_path / "o.mp4")] + model_args) == 2
    err = capsys.readouterr().err
    assert ".webm" in err and "--matte-only" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]


@pytest.mark.parametrize("kind", ["folder", "pattern"])
def test_image_sequence_in(tmp_path, model_args, kind):
    (tmp_path / "in").mkdir()
    for i in range(6):
        cv2.imwrite(str(tmp_path / "in" / f"f{i:03d}.png"), disc_frame(i))
    source = tmp_path / "in" if kind == "folder" else tmp_path / "in" / "f%03d.png"
    out = tmp_path / "out.mp4"
    assert main(["video", str(source), "-o", str(out), "-b", "black", "--fps", "12"] + model_args) == 0
    info = probe(out)
    assert info["frames"] == 6 and info["fps"] == pytest.approx(12.0) and info["streams"] == 1


def test_video_background_is_looped(clip, tmp_path, model_args):
    background = tmp_path / "bg.mp4"
    import av

    with av.open(str(background), "w") as container:  # 3 frames: grey 40, 120, 200
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i, level in enumerate((40, 120, 200)):
            frame = av.VideoFrame.from_ndarray(np.full((48, 64, 3), level, np.uint8), format="bgr24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    out = tmp_path / "out.mkv"
    assert main(["video", str(clip), "-o", str(out), "-b", str(background), "--crf", "0"] + model_args) == 0
    corners = [int(f[1, 1].mean()) for f in decode_frames(out)]
    assert len(corners) == 10
    assert np.abs(np.array(corners) - ([40, 120, 200] * 3 + [40])).max() < 20, corners


def test_crf_and_bitrate_change_the_size(tmp_path, model_args, make_clip):
    clip = make_clip(tmp_path / "in.mp4", frames=10, size=(128, 96), audio=None)
    sizes = {}
    for name, option in (("fine", ["--crf", "5"]), ("coarse", ["--crf", "45"]), ("rate", ["--bitrate", "20k"])):
        out = tmp_path / f"{name}.mp4"
        assert main(["video", str(clip), "-o", str(out), "-b", "blur"] + option + model_args) == 0
        sizes[name] = out.stat().st_size
    assert sizes["coarse"] < sizes["fine"] and sizes["rate"] < sizes["fine"]


def test_another_encoder(clip, tmp_path, model_args, capsys):
    out = tmp_path / "out.mkv"
    assert (
        main(["video", str(clip), "-o", str(out), "-b", "red", "--encoder", "mpeg4", "--bitrate", "300k"] + model_args)
        == 0
    )
    assert probe(out)["video_codecs"] == ["mpeg4"] and probe(out)["frames"] == 10
    assert main(["video", str(clip), "-o", str(out), "-b", "red", "--encoder", "no_such_codec"] + model_args) == 2
    assert "no_such_codec" in capsys.readouterr().err and probe(out)["video_codecs"] == ["mpeg4"]


# -- nothing lost ---------------------------------------------------------------------------
@pytest.mark.parametrize("how", ["same", "symlink", "relative", "alpha"])
def test_output_equal_to_input_is_refused_and_the_input_kept(clip, tmp_path, model_args, capsys, monkeypatch, how):
    before = clip.read_bytes()
    target = {"same": clip, "symlink": tmp_path / "link.mp4", "relative": "./clip.mp4", "alpha": tmp_path / "o.mkv"}[
        how
    ]
    if how == "symlink":
        os.symlink(clip, target)
    monkeypatch.chdir(tmp_path)
    extra = ["--output-alpha", str(clip)] if how == "alpha" else []
    assert main(["video", str(clip), "-o", str(target), "-b", "green"] + extra + model_args) == 2
    assert "is the input" in capsys.readouterr().err
    assert clip.read_bytes() == before


@pytest.mark.parametrize("failure, code", [(edgematte.ModelError("boom"), 1), (KeyboardInterrupt(), 130)])
def test_failure_mid_video_leaves_no_partial_file(clip, tmp_path, model_args, monkeypatch, failure, code):
    from edgematte.matter import Matter

    real = Matter.process
    calls = []

    def failing(self, frame, *args):
        calls.append(1)
        if len(calls) == 4:
            raise failure
        return real(self, frame, *args)

    monkeypatch.setattr(Matter, "process", failing)
    out = tmp_path / "out.mp4"
    assert main(["video", str(clip), "-o", str(out), "-b", "blur"] + model_args) == code
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4"]
    out.write_bytes(b"previous result")  # an earlier file at the destination survives untouched
    calls.clear()
    assert main(["video", str(clip), "-o", str(out), "-b", "blur"] + model_args) == code
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4"]


class _FullDisk:
    """A file that takes ``room`` bytes, then fails every write with ``number`` (ENOSPC: a full disk; EIO: a bad one)."""

    def __init__(self, path, room, number=errno.ENOSPC):
        self.file, self.room, self.number = open(path, "wb"), room, number

    def write(self, data):
        if self.file.tell() + len(data) > self.room:
            raise OSError(self.number, os.strerror(self.number))
        return self.file.write(data)

    def __getattr__(self, name):
        return getattr(self.file, name)


@pytest.mark.parametrize(
    "room, number, cause",
    [
        (0, errno.ENOSPC, "the disk is full"),
        (3000, errno.ENOSPC, "the disk is full"),
        (3000, errno.EIO, "an input/output"),
    ],
)
def test_injected_write_failure_exits_1_and_keeps_the_old_output(
    clip, tmp_path, model_args, monkeypatch, capsys, room, number, cause
):
    monkeypatch.setattr("edgematte.io.sinks._open_output", lambda path: _FullDisk(path, room, number))
    out = tmp_path / "out.mp4"
    out.write_bytes(b"previous result")
    assert main(["video", str(clip), "-o", str(out), "-b", "blur"] + model_args) == 1
    err = capsys.readouterr().err
    assert f"could not write {str(out)!r}: {cause}" in err and "partial" not in err and "Errno" not in err
    assert out.read_bytes() == b"previous result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.mp4", "out.mp4"]


@pytest.fixture
def small_tmpfs(tmp_path):
    """A 64 KiB tmpfs mounted at tmp_path/full (skips where mounting is not permitted)."""
    mount = tmp_path / "full"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode().strip() or 'not permitted'})")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


@pytest.mark.parametrize("target", ["out.mp4", "out.webm", "seq/%04d.png"])
def test_real_full_disk_exits_1_and_leaves_nothing(tmp_path, small_tmpfs, model_args, make_clip, capsys, target):
    clip = make_clip(tmp_path / "big.mp4", frames=30, size=(320, 240))
    out = small_tmpfs / target
    args = ["video", str(clip), "-o", str(out), "--crf", "0"] + (["-b", "blur"] if target.endswith("mp4") else [])
    assert main(args + model_args) == 1
    assert "the disk is full" in capsys.readouterr().err
    assert [p for p in small_tmpfs.rglob("*") if p.is_file()] == []


def test_real_full_disk_for_photos(tmp_path, small_tmpfs, model_args, capsys):
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)  # ~230 KB as PNG
    cv2.imwrite(str(tmp_path / "noise.png"), noise)
    (small_tmpfs / "o.png").write_bytes(b"previous")
    assert main(["matte", str(tmp_path / "noise.png"), "-o", str(small_tmpfs / "o.png")] + model_args) == 1
    assert f"could not write {str(small_tmpfs / 'o.png')!r}: the disk is full" in capsys.readouterr().err
    assert [p.name for p in small_tmpfs.iterdir()] == ["o.png"] and (small_tmpfs / "o.png").read_bytes() == b"previous"


def _signal_mid_video(tmp_path, make_clip, model_args, sig):
    """Start `edgematte video` on a long clip in a fresh interpreter, send ``sig`` once the output appears;
    return (exit code, stderr, output folder)."""
    clip = make_clip(tmp_path / "long.mp4", frames=400, size=(320, 240))
    out_dir = tmp_path / "out"
    out_dir.mkdir()
    args = ["-m", "edgematte.cli", "video", str(clip), "-o", str(out_dir / "o.mp4")] + model_args + ["-b", "blur"]
    code, err = signal_when_ready(args, cwd=tmp_path, sig=sig,
                                  ready=lambda: any(p.stat().st_size > 0 for p in out_dir.iterdir()))
    return code, err, out_dir


def test_sigkill_mid_video_then_the_next_run_removes_the_debris(tmp_path, make_clip, model_args):
    code, _, out_dir = _signal_mid_video(tmp_path, make_clip, model_args, signal.SIGKILL)
    assert code == -signal.SIGKILL
    debris = list(out_dir.iterdir())
    assert len(debris) == 1 and ".partial" in debris[0].name  # visibly a temporary
    short = write_clip(tmp_path / "short.mp4", frames=3)
    assert main(["video", str(short), "-o", str(out_dir / "other.mp4"), "-b", "red"] + model_args) == 0
    assert [p.name for p in out_dir.iterdir()] == ["other.mp4"]


def test_sigint_from_outside_leaves_no_partial_file(tmp_path, make_clip, model_args):
    code, err, out_dir = _signal_mid_video(tmp_path, make_clip, model_args, signal.SIGINT)
    assert code == 130, err
    assert list(out_dir.iterdir()) == []


def test_missing_video_is_a_runtime_error(tmp_path, model_args, capsys):
    assert main(["video", str(tmp_path / "none.mp4"), "-o", str(tmp_path / "o.mp4"), "-b", "red"] + model_args) == 1
    assert "does not exist" in capsys.readouterr().err


def test_unknown_output_container_is_a_usage_error(clip, tmp_path, model_args, capsys):
    assert main(["video", str(clip), "-o", str(tmp_path / "o.gif"), "-b", "red"] + model_args) == 2
    assert "suffix" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "o.gif")


def test_temporal_option_runs(clip, tmp_path, model_args):
    out = tmp_path / "smooth.mkv"
    assert main(["video", str(clip), "-o", str(out), "--temporal", "0.6", "--matte-only"] + model_args) == 0
    assert probe(out)["frames"] == 10


def test_shared_clip_round_trip(shared_data, tmp_path, model_args):
    """A real recorded clip (if present): every frame and the container's frame rate survive."""
    videos = sorted((shared_data / "videos").glob("*.mkv")) if (shared_data / "videos").is_dir() else []
    if not videos:
        pytest.skip(f"no clips in {shared_data / 'videos'}")
    source = probe(videos[0])
    out = tmp_path / "out.mp4"
    args = ["video", str(videos[0]), "-o", str(out), "-b", "green"]
    assert main(args + model_args) == 0
    info = probe(out)
    assert info["frames"] == source["frames"] and info["fps"] == pytest.approx(source["fps"], rel=0.01)
    assert info["audio_codecs"] == source["audio_codecs"]
