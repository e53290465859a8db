"""datasets/prepare_videos.py on a few tiny generated videos: resize, keyframe interval, resume, bad inputs."""
from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import av
import numpy as np
import pytest

from videosce.data.decoders import decode_frames, probe_video
from videosce.data.decoders.pyav import stream_index

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "datasets" / "prepare_videos.py"
spec = importlib.util.spec_from_file_location("prepare_videos", SCRIPT)
prepare = importlib.util.module_from_spec(spec)
spec.loader.exec_module(prepare)


def write_video(path: Path, codec: str, size: tuple, frames: int, options: dict, rotation: float = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25, options=options)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        base = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
        for i in range(frames):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(np.roll(base, 2 * i, axis=1), format="rgb24")))
        container.mux(stream.encode())


@pytest.fixture
def source(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    write_video(src / "ClassA" / "v_a.mp4", "libx264", (96, 64), 30, {"g": "250"})
    write_video(src / "ClassB" / "v_b.avi", "mpeg4", (64, 48), 20, {"bf": "2", "qscale": "3"})
    (src / "ClassB" / "v_bad.avi").write_bytes(b"not a video" * 100)
    return src


def test_resize_gop_and_failures(source: Path, tmp_path: Path) -> None:
    dst = tmp_path / "dst"
    assert prepare.prepare_videos(source, dst, short_side=32, gop=4, workers=1, progress=False) == (2, 0, 1)
    a, b = dst / "ClassA" / "v_a.mp4", dst / "ClassB" / "v_b.mp4"
    assert probe_video(a)[:4] == (30, 25.0, 32, 48) and probe_video(b)[:4] == (20, 25.0, 32, 42)
    assert stream_index(a).keyframes.tolist() == [0, 4, 8, 12, 16, 20, 24, 28]
    assert stream_index(b).seekable and not stream_index(b).leading_pictures  # closed GOPs, real timestamps
    assert decode_frames(b, [19, 0]).shape == (2, 32, 42, 3)
    failures = (dst / prepare.FAILURES_FILE).read_text().splitlines()
    assert len(failures) == 1 and failures[0].startswith(f"{source / 'ClassB' / 'v_bad.avi'}\tInvalidDataError")
    assert not list(dst.rglob("*.partial"))


def test_cli_resumes_in_parallel_and_rewrites_splits(source: Path, tmp_path: Path) -> None:
    dst, splits_in, splits_out = tmp_path / "dst", tmp_path / "splits_in", tmp_path / "splits_out"
    splits_in.mkdir()
    (splits_in / "trainlist01.txt").write_text("ClassA/v_a.avi 1\nClassB/v_b.avi 2\n")
    (splits_in / "classInd.txt").write_text("1 ClassA\n2 ClassB\n")
    (dst / "ClassA").mkdir(parents=True)
    (dst / "ClassA" / "v_a.mp4.partial").write_bytes(b"left by an interrupted run")
    args = [sys.executable, str(SCRIPT), "--src", str(source), "--dst", str(dst), "--short-side", "32", "--gop", "4",
            "--workers", "2", "--splits-in", str(splits_in), "--splits-out", str(splits_out)]
    first = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert first.returncode == 1 and "converted 2, already done 0, failed 1" in first.stdout, first.stderr[-2000:]
    second = subprocess.run(args, capture_output=True, text=True, timeout=120)
    assert "converted 0, already done 2, failed 1" in second.stdout
    assert (splits_out / "trainlist01.txt").read_text() == "ClassA/v_a.mp4 1\nClassB/v_b.mp4 2\n"
    assert (splits_out / "classInd.txt").read_text() == "1 ClassA\n2 ClassB\n"


@pytest.mark.parametrize("degrees", [-90, 90, 180])
def test_display_rotation_is_baked_in_or_kept(tmp_path: Path, degrees: int) -> None:
    """Phone videos: by default the prepared file stores the upright frames a player shows (our
    decoders return stored pixels); --rotation keep stores the source orientation plus the matrix."""
    src, turns = tmp_path / "src", prepare.quarter_turns(degrees)
    write_video(src / "C" / "phone.mp4", "libx264", (64, 48), 6, {"crf": "0"}, rotation=degrees)
    source = decode_frames(src / "C" / "phone.mp4", [0, 5]).numpy()
    upright = np.rot90(source, turns, axes=(1, 2))
    for mode, expected, stored_rotation in (("apply", upright, 0), ("keep", source, degrees)):
        dst = tmp_path / mode
        assert prepare.prepare_videos(src, dst, short_side=64, gop=4, crf=0, progress=False, rotation=mode) == (1, 0, 0)
        out = dst / "C" / "phone.mp4"
        frames = decode_frames(out, [0, 5]).numpy()
        assert frames.shape == expected.shape
        np.testing.assert_array_equal(frames, expected)  # crf 0 is lossless: the planes are only rearranged
        with av.open(str(out)) as container:
            assert prepare.quarter_turns(next(container.decode(video=0)).rotation or 0) == prepare.quarter_turns(stored_rotation)


def test_output_size_keeps_aspect_and_never_upscales() -> None:
    assert prepare.output_size(320, 240, 256) == (320, 240)
    assert prepare.output_size(1920, 1080, 256) == (456, 256)
    assert prepare.output_size(340, 256, 128) == (170, 128)
    assert prepare.output_size(480, 640, 320) == (320, 426)


def test_help() -> None:
    result = subprocess.run([sys.executable, str(SCRIPT), "--help"], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and "--short-side" in result.stdout
