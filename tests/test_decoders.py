"""Frame accuracy and error handling of the decoders, on synthetic clips and on real videos."""
from __future__ import annotations

import importlib.util
import time
from pathlib import Path
from typing import Dict, List, Sequence, Tuple

import av
import numpy as np
import pytest
import torch

from videosce.data.decoders import DECODERS, DecodeError, VideoInfo, decode_frames, probe_video

SHARED_VIDEOS = Path(__file__).resolve().parents[1] / ".." / "shared" / "videos"
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm"}
REAL_VIDEOS = sorted(
    p for p in SHARED_VIDEOS.resolve().rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES
) if SHARED_VIDEOS.is_dir() else []
NO_VIDEOS_REASON = f"real test videos not found at {SHARED_VIDEOS.resolve()}"
# Indices independent of the length so one reference pass can keep them; the last frame is added.
PROBE_INDICES = (0, 1, 7, 24, 27, 45, 100, 250)



def with_timeout(seconds: int):
    """pytest-timeout's mark when the plugin is installed, else nothing (the test also measures)."""
    return pytest.mark.timeout(seconds) if importlib.util.find_spec("pytest_timeout") else (lambda test: test)


H, W, NUM_FRAMES = 24, 32, 40


def synthetic_frame(i: int) -> np.ndarray:
    """Frame whose pixels identify `i`: red = i, plus a fixed gradient so frames are not flat."""
    frame = np.zeros((H, W, 3), dtype=np.uint8)
    frame[..., 0] = i
    frame[..., 1] = np.arange(W)[None, :] * 4
    frame[..., 2] = (np.arange(H)[:, None] * 5 + i * 3) % 256
    return frame


@pytest.fixture(scope="module")
def lossless_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lossless H.264 (RGB, with B-frames) so decode order differs from presentation order."""
    path = tmp_path_factory.mktemp("clip") / "indexed.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264rgb", rate=25, options={"crf": "0", "bf": "3"})
        stream.width, stream.height, stream.pix_fmt = W, H, "rgb24"
        for i in range(NUM_FRAMES):
            frame = av.VideoFrame.from_ndarray(synthetic_frame(i), format="rgb24")
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_lossless_clip_any_order_and_duplicates(lossless_clip: Path) -> None:
    indices = [17, 3, 3, 0, 39, 25, 17, 1]
    frames = decode_frames(lossless_clip, indices)
    assert frames.dtype == torch.uint8 and frames.shape == (len(indices), H, W, 3)
    for got, i in zip(frames, indices):
        assert np.array_equal(got.numpy(), synthetic_frame(i)), f"frame {i} differs"


@pytest.fixture(scope="module")
def bframe_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lossy H.264 with B-frames (packets stored out of presentation order).

    A moving gradient makes x264 pick B-frames; a flat grey band of level 8 + 6 * i names frame i.
    """
    path = tmp_path_factory.mktemp("clip") / "bframes.mp4"
    yy, xx = np.mgrid[:48, :64]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for i in range(NUM_FRAMES):
            frame = np.stack([(xx - 2 * i) % 64 * 4, yy * 5, np.full_like(xx, 128)], axis=-1).astype(np.uint8)
            frame[:16] = 8 + 6 * i
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


def test_bframe_clip_presentation_order(bframe_clip: Path) -> None:
    with av.open(str(bframe_clip)) as container:
        pts = [p.pts for p in container.demux(video=0) if p.size]
    assert pts != sorted(pts), "fixture should contain B-frames"
    indices = [30, 2, 39, 0, 2, 17, 1]
    frames = decode_frames(bframe_clip, indices)
    band = frames[:, :16].reshape(len(indices), -1).float().median(dim=1).values
    assert ((band - 8) / 6).round().long().tolist() == indices


def test_numpy_integer_indices(lossless_clip: Path) -> None:
    frames = decode_frames(lossless_clip, np.array([5, 2]))
    assert np.array_equal(frames[0].numpy(), synthetic_frame(5))


def test_empty_index_list(lossless_clip: Path) -> None:
    assert decode_frames(lossless_clip, []).shape == (0, H, W, 3)


def test_probe_lossless_clip(lossless_clip: Path) -> None:
    assert probe_video(lossless_clip) == VideoInfo(num_frames=NUM_FRAMES, fps=25.0, height=H, width=W)


def reference_decode(path: Path) -> Tuple[int, Dict[int, np.ndarray]]:
    """Independent full sequential decode: frame count and the frames at PROBE_INDICES + last."""
    kept: Dict[int, np.ndarray] = {}
    count, previous = 0, None
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                if count in PROBE_INDICES:
                    kept[count] = frame.to_ndarray(format="rgb24")
                previous, count = frame, count + 1
        except av.error.InvalidDataError:
            pass  # corrupted.mp4: the frames before the failure are the reference
    assert previous is not None, f"{path}: reference decode produced no frames"
    kept[count - 1] = previous.to_ndarray(format="rgb24")
    return count, kept


@pytest.mark.parametrize(
    "path",
    [pytest.param(p, id=str(p.relative_to(SHARED_VIDEOS.resolve()))) for p in REAL_VIDEOS]
    or [pytest.param(None, marks=pytest.mark.skip(reason=NO_VIDEOS_REASON), id="no-shared-videos")],
)
def test_real_video_matches_sequential_decode(path: Path) -> None:
    count, reference = reference_decode(path)
    indices: List[int] = sorted(reference, reverse=True)
    indices.append(indices[-1])  # a duplicate, and overall not in ascending order
    frames = decode_frames(path, indices)
    assert frames.shape[0] == len(indices)
    for got, i in zip(frames, indices):
        assert np.array_equal(got.numpy(), reference[i]), f"{path}: frame {i} differs from sequential decode"

    info = probe_video(path)
    assert info.num_frames >= count
    assert info.fps > 0
    assert (info.height, info.width) == tuple(frames.shape[1:3])


@pytest.mark.skipif(not (SHARED_VIDEOS / "decord" / "corrupted.mp4").is_file(), reason=NO_VIDEOS_REASON)
@with_timeout(30)
def test_corrupted_video() -> None:
    """corrupted.mp4 claims 50 frames; PyAV decodes 28 then FFmpeg fails."""
    path = SHARED_VIDEOS / "decord" / "corrupted.mp4"
    assert decode_frames(path, [27, 0, 12]).shape[0] == 3
    start = time.monotonic()
    with pytest.raises(DecodeError, match="index 40 is past the end: only 28 frames"):
        decode_frames(path, [0, 40])
    assert time.monotonic() - start < 10


@pytest.fixture
def audio_only(tmp_path: Path) -> Path:
    path = tmp_path / "tone.wav"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("pcm_s16le", rate=8000, layout="mono")
        samples = (np.sin(np.arange(800) / 5) * 8000).astype(np.int16)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="s16", layout="mono")
        frame.sample_rate = 8000
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def assert_decode_error(path: Path, match: str, indices: Sequence[int] = (0,)) -> None:
    """Both entry points raise a one-line DecodeError naming the file and the reason."""
    for call in (lambda: decode_frames(path, indices), lambda: probe_video(path)):
        with pytest.raises(DecodeError, match=match) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{path}: ")


def test_missing_file(tmp_path: Path) -> None:
    assert_decode_error(tmp_path / "nope.mp4", "file not found")


def test_empty_file(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    path.touch()
    assert_decode_error(path, "empty")


def test_garbage_file(tmp_path: Path) -> None:
    path = tmp_path / "garbage.mp4"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes())
    assert_decode_error(path, "cannot open")


def test_audio_only_file(audio_only: Path) -> None:
    assert_decode_error(audio_only, r"no video stream \(streams: audio\)")


def test_negative_index(lossless_clip: Path) -> None:
    with pytest.raises(DecodeError, match="frame index -1 is negative"):
        decode_frames(lossless_clip, [3, -1])


def test_index_past_end(lossless_clip: Path) -> None:
    with pytest.raises(DecodeError, match=f"index {NUM_FRAMES} is past the end: only {NUM_FRAMES} frames"):
        decode_frames(lossless_clip, [0, NUM_FRAMES])


def test_unknown_backend_lists_registered(lossless_clip: Path) -> None:
    assert "pyav" in DECODERS
    with pytest.raises(ValueError, match="unknown decoder backend 'nope'.*pyav"):
        decode_frames(lossless_clip, [0], backend="nope")
