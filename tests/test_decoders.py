"""The decoder contract, run through every registered backend: frame accuracy against an
independent sequential PyAV decode (synthetic lossless clips whose pixels name the frame, and the
real videos of ../shared/videos), keyframe seeking, probing, bad files and timeouts.
"""
from __future__ import annotations

import importlib.util
import io
import threading
import time
from fractions import Fraction
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import av
import numpy as np
import pytest
import torch

from videosce.data.decoders import (
    DECODERS,
    DecodeError,
    MissingDependencyError,
    VideoInfo,
    decode_frames,
    frame_timestamps,
    get_decoder,
    probe_video,
    register_decoder,
)
from videosce.data.decoders.dali import dali_input
from videosce.data.decoders.pyav import _plan, remux_segments, stream_index

from helpers import require, write_vp9

SHARED_VIDEOS = (Path(__file__).resolve().parents[1] / ".." / "shared" / "videos").resolve()
VIDEO_SUFFIXES = {".mp4", ".avi", ".mkv", ".mov", ".webm"}
REAL_VIDEOS = sorted(p for p in SHARED_VIDEOS.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES) if SHARED_VIDEOS.is_dir() else []
NO_VIDEOS_REASON = f"real test videos not found at {SHARED_VIDEOS}"
BACKENDS = DECODERS.list()
# Indices independent of the length so one reference pass can keep them; the last frame is added.
PROBE_INDICES = (0, 1, 7, 24, 27, 45, 100, 250)
# DALI converts YUV to RGB with its own kernel. Measured on CPU against PyAV: max 4 / mean 1.34 on
# moviepy/no_duration.webm, max 6 / mean 1.62 on the synthetic VP9 clip. NVDEC's conversion is
# not measured here (no GPU), hence the margin.
DALI_TOLERANCE = {"max": 32, "mean": 3.0}
# Real files a backend cannot decode; they must raise this one-line DecodeError, never wrong frames.
KNOWN_LIMITS = {
    ("decord", "moviepy/no_duration.webm"): "decord cannot open: Failed to measure duration/frame-count",
    ("torchcodec", "mmaction2/test.avi"): "torchcodec orders frames by timestamp",
    ("torchcodec", "mmaction2/S001C001P001R001A001_rgb.avi"): "torchcodec orders frames by timestamp",
}
# corrupted.mp4 decodes 28 of 50 frames; decord also fails on the frames just before the damage
# (its read-ahead reaches the bad packet), so the shared contract stops at frame 22 there.
CONTRACT_END = {"decord/corrupted.mp4": 23}


def with_timeout(seconds: int):
    """pytest-timeout's mark when the plugin is installed, else nothing (the test also measures)."""
    return pytest.mark.timeout(seconds) if importlib.util.find_spec("pytest_timeout") else (lambda test: test)


def dali_on_cpu() -> bool:
    return getattr(get_decoder("dali"), "device", "cpu") == "cpu"


def expected_refusal(backend: str, path: Path) -> Optional[str]:
    """The DecodeError a backend must raise for `path` (a measured limit), or None: frames expected."""
    name = str(path.relative_to(SHARED_VIDEOS)) if path.is_relative_to(SHARED_VIDEOS) else path.name
    index = stream_index(path)
    if (backend, name) in KNOWN_LIMITS:
        return KNOWN_LIMITS[(backend, name)]
    if backend in ("decord", "torchcodec") and index.container == "mpegts":
        return f"{backend} returns wrong frames on MPEG-TS"
    if backend == "torchcodec" and not index.seekable:
        return "torchcodec orders frames by timestamp"
    if backend == "dali" and dali_on_cpu() and index.codec not in ("vp8", "vp9", "mjpeg"):
        return "DALI's CPU decoder cannot decode .* use data.decoder=pyav, decord or torchcodec"
    return None


def as_numpy(frames: torch.Tensor) -> np.ndarray:
    return frames.cpu().numpy()


def assert_frames_match(backend: str, got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Pixel-exact, except DALI: within DALI_TOLERANCE and closer to the wanted frame than to any other."""
    if backend != "dali":
        assert np.array_equal(got, want), f"{what}: differs from the sequential PyAV decode"
        return
    error = np.abs(got.astype(np.int16) - want.astype(np.int16))
    assert error.max() <= DALI_TOLERANCE["max"] and error.mean() <= DALI_TOLERANCE["mean"], (
        f"{what}: max {error.max()} mean {error.mean():.2f} beyond {DALI_TOLERANCE}"
    )


def keep(i: int) -> bool:
    """Frames the reference keeps: PROBE_INDICES and every 5th frame (the seek stress test draws from them)."""
    return i in PROBE_INDICES or i % 5 == 2


def reference_decode(path: Path, keep_all: bool = False) -> Tuple[int, Dict[int, np.ndarray]]:
    """Independent full sequential decode: frame count and the kept frames (plus the last one)."""
    kept: Dict[int, np.ndarray] = {}
    count, previous = 0, None
    with av.open(str(path)) as container:
        try:
            for frame in container.decode(video=0):
                if keep_all or keep(count):
                    kept[count] = frame.to_ndarray(format="rgb24")
                previous, count = frame, count + 1
        except av.error.InvalidDataError:
            pass  # corrupted.mp4: the frames before the failure are the reference
    assert previous is not None, f"{path}: reference decode produced no frames"
    kept[count - 1] = previous.to_ndarray(format="rgb24")
    return count, kept


# ---------------------------------------------------------------- synthetic clips (pixels name the frame)

H, W, NUM_FRAMES = 24, 32, 40


def synthetic_frame(i: int) -> np.ndarray:
    """Frame whose pixels identify `i`: red = i, plus a fixed gradient so frames are not flat."""
    frame = np.zeros((H, W, 3), dtype=np.uint8)
    frame[..., 0] = i
    frame[..., 1] = np.arange(W)[None, :] * 4
    frame[..., 2] = (np.arange(H)[:, None] * 5 + i * 3) % 256
    return frame


def write_clip(path: Path, codec: str, num_frames: int = NUM_FRAMES, options: Optional[Dict[str, str]] = None,
               pix_fmt: str = "rgb24", pts_ms: Optional[Sequence[int]] = None) -> Path:
    """Encode synthetic_frame(0..n-1); `pts_ms` gives a variable frame rate (time base 1 ms)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=25, options=options or {})
        stream.width, stream.height, stream.pix_fmt = W, H, pix_fmt
        if pts_ms is not None:
            stream.codec_context.time_base = Fraction(1, 1000)
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(synthetic_frame(i), format="rgb24")
            if pts_ms is not None:
                frame.pts = pts_ms[i]
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def lossless_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lossless H.264 (RGB, with B-frames) so decode order differs from presentation order."""
    return write_clip(tmp_path_factory.mktemp("clip") / "indexed.mp4", "libx264rgb", options={"crf": "0", "bf": "3"})


# Clips with several GOPs, so seeking, open GOPs, variable frame rate and containers are exercised.
# x264 drops B-frames in lossless mode, so the B-frame variants are near-lossless and checked
# against the sequential reference decode; the lossless ones against the frames that were encoded.
SYNTHETIC_VARIANTS = {  # name: (codec, options, variable frame rate, lossless)
    "h264rgb-gop8.mp4": ("libx264rgb", {"crf": "0", "g": "8"}, False, True),
    "h264rgb-vfr.mkv": ("libx264rgb", {"crf": "0", "g": "6"}, True, True),
    "ffv1.mkv": ("ffv1", {}, False, True),
    "h264rgb-bframes-gop8.mp4": ("libx264rgb", {"crf": "10", "x264-params": "keyint=8:bframes=3:b-adapt=0"}, False, False),
    "h264rgb-bframes-opengop.mkv": ("libx264rgb", {"crf": "10", "x264-params": "keyint=8:open-gop=1:bframes=3:b-adapt=0"}, False, False),
    "h264rgb-bframes-vfr.mp4": ("libx264rgb", {"crf": "10", "x264-params": "keyint=6:bframes=2:b-adapt=0"}, True, False),
    "h264rgb-bframes.ts": ("libx264rgb", {"crf": "10", "x264-params": "keyint=8:bframes=3:b-adapt=0"}, False, False),
    "h264rgb-gop8.avi": ("libx264rgb", {"crf": "10", "g": "8", "bf": "0"}, False, False),
    "mpeg4-bframes.mp4": ("mpeg4", {"qscale": "2", "bf": "2", "g": "8"}, False, False),
    "mpeg4-bframes.avi": ("mpeg4", {"qscale": "2", "bf": "2", "g": "8"}, False, False),
}
VFR_PTS_MS = np.cumsum([0] + [int(x) for x in np.random.default_rng(3).choice([20, 33, 40, 90], NUM_FRAMES - 1)]).tolist()


@pytest.fixture(scope="module", params=sorted(SYNTHETIC_VARIANTS))
def variant(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Tuple[Path, List[np.ndarray]]:
    """(clip, the frames every backend must return): the encoded frames, or the sequential decode."""
    codec, options, vfr, lossless = SYNTHETIC_VARIANTS[request.param]
    pix_fmt = {"ffv1": "bgr0", "mpeg4": "yuv420p"}.get(codec, "rgb24")
    path = write_clip(tmp_path_factory.mktemp("variant") / request.param, codec, options=options,
                      pix_fmt=pix_fmt, pts_ms=VFR_PTS_MS if vfr else None)
    if lossless:
        return path, [synthetic_frame(i) for i in range(NUM_FRAMES)]
    count, frames = reference_decode(path, keep_all=True)
    assert count == NUM_FRAMES
    return path, [frames[i] for i in range(count)]


@pytest.fixture(scope="module")
def vp9_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lossy VP9 with keyframes every 8 frames: the codec DALI decodes without a GPU."""
    return write_clip(tmp_path_factory.mktemp("vp9") / "indexed.webm", "libvpx-vp9", options={"g": "8", "crf": "4"}, pix_fmt="yuv420p")


@pytest.mark.parametrize("backend", BACKENDS)
def test_synthetic_clips_any_order_and_duplicates(backend: str, variant: Tuple[Path, List[np.ndarray]]) -> None:
    require(backend)
    path, expected = variant
    indices = [17, 3, 3, 0, 39, 25, 17, 1, 30, 31, 9]
    refusal = expected_refusal(backend, path)
    if refusal:
        with pytest.raises(DecodeError, match=refusal):
            decode_frames(path, indices, backend=backend)
        return
    frames = decode_frames(path, indices, backend=backend)
    assert frames.dtype == torch.uint8 and frames.shape == (len(indices), H, W, 3)
    for got, i in zip(as_numpy(frames), indices):
        assert_frames_match(backend, got, expected[i], f"{backend} {path.name} frame {i}")


def test_bframe_variants_have_bframes(variant: Tuple[Path, List[np.ndarray]]) -> None:
    path = variant[0]
    if "bframes" in path.name and not path.name.endswith(".avi"):  # AVI stores no presentation times
        with av.open(str(path)) as container:
            pts = [p.pts for p in container.demux(video=0) if p.size]
        assert pts != sorted(pts), f"{path.name} should store frames out of presentation order"


@pytest.mark.parametrize("backend", BACKENDS)
def test_vp9_clip_matches_pyav(backend: str, vp9_clip: Path) -> None:
    require(backend)
    indices = [0, 39, 8, 9, 17, 17, 30]
    reference = as_numpy(decode_frames(vp9_clip, indices))
    got = as_numpy(decode_frames(vp9_clip, indices, backend=backend))
    for i, (g, want) in enumerate(zip(got, reference)):
        assert_frames_match(backend, g, want, f"{backend} vp9 frame {indices[i]}")
        # right frame, not a neighbour: the red channel encodes the index (lossy, so the median)
        assert abs(float(np.median(g[..., 0])) - indices[i]) < 3


@pytest.mark.parametrize("backend", BACKENDS)
def test_probe_agrees_across_backends(backend: str, lossless_clip: Path, vp9_clip: Path) -> None:
    require(backend)
    for path in (lossless_clip, vp9_clip):
        info = probe_video(path, backend=backend)
        assert (info.num_frames, info.height, info.width) == (NUM_FRAMES, H, W)
        assert info.fps == pytest.approx(25.0, rel=0.01)
        assert info.duration == pytest.approx(NUM_FRAMES / 25, abs=0.041)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_request_and_past_the_end(backend: str, vp9_clip: Path) -> None:
    require(backend)
    assert decode_frames(vp9_clip, [], backend=backend).shape == (0, H, W, 3)
    with pytest.raises(DecodeError, match=f"index {NUM_FRAMES} is past the end: only {NUM_FRAMES} frames"):
        decode_frames(vp9_clip, [0, NUM_FRAMES], backend=backend)


# ---------------------------------------------------------------- PyAV specifics: order, seeking, timestamps


@pytest.fixture(scope="module")
def bframe_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Lossy H.264 with B-frames (packets stored out of presentation order).

    A moving gradient makes x264 pick B-frames; a flat grey band of level 8 + 6 * i names frame i.
    """
    path = tmp_path_factory.mktemp("clip") / "bframes.mp4"
    yy, xx = np.mgrid[:48, :64]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=25, options={"g": "10"})
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
    indices = [30, 2, 39, 0, 2, 17, 1, 21]
    frames = decode_frames(bframe_clip, indices)
    band = frames[:, :16].reshape(len(indices), -1).float().median(dim=1).values
    assert ((band - 8) / 6).round().long().tolist() == indices


@pytest.fixture(scope="module")
def avi_bframes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """MPEG-4 Part 2 with B-frames in AVI: timestamps in decode order, so seeking by pts is wrong."""
    path = tmp_path_factory.mktemp("avi") / "bframes.avi"
    return write_clip(path, "mpeg4", options={"bf": "2", "g": "8", "qscale": "2"}, pix_fmt="yuv420p")


def test_avi_with_bframes_is_decoded_by_counting(avi_bframes: Path) -> None:
    assert not stream_index(avi_bframes).seekable
    count, reference = reference_decode(avi_bframes)
    indices = [37, 2, 17, 12]
    for got, i in zip(as_numpy(decode_frames(avi_bframes, indices)), indices):
        assert np.array_equal(got, reference[i]), f"frame {i} differs from the sequential decode"


def test_plan_groups_frames_into_seek_segments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Keyframes every 8 frames: a seek only when it skips more than SEEK_MIN_SKIP frames."""
    import videosce.data.decoders.pyav as pyav_backend

    index = stream_index(write_clip(tmp_path / "gop8.mkv", "ffv1", options={"g": "8"}, pix_fmt="bgr0"))
    assert index.keyframes.tolist() == [0, 8, 16, 24, 32]
    wanted = [1, 2, 7, 9, 10, 17, 25, 26, 39]
    monkeypatch.setattr(pyav_backend, "SEEK_MIN_SKIP", 2)
    assert _plan(index, wanted) == [(0, [1, 2, 7, 9, 10]), (2, [17]), (3, [25, 26]), (4, [39])]
    monkeypatch.setattr(pyav_backend, "SEEK_MIN_SKIP", 6)
    assert _plan(index, wanted) == [(0, [1, 2, 7, 9, 10, 17]), (3, [25, 26, 39])]
    assert _plan(index, wanted, min_skip=0) == [(0, [1, 2, 7]), (1, [9, 10]), (2, [17]), (3, [25, 26]), (4, [39])]


# ---------------------------------------------------------------- remuxing what DALI decodes

# Files whose pts map cannot place every frame of a cut: open GOPs (leading pictures), MPEG-4 with
# B-frames (its B-frames count as leading pictures), AVI with B-frames (no presentation times).
REMUX_REFUSED = {"h264rgb-bframes-opengop.mkv", "mpeg4-bframes.mp4", "mpeg4-bframes.avi"}


def decode_all(data: np.ndarray) -> List[np.ndarray]:
    """Every frame of an in-memory container, sequentially: the reference for where frames landed."""
    with av.open(io.BytesIO(data.tobytes())) as container:
        return [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]


def assert_remux_exact(path: Path, wanted: List[int], reference: Dict[int, np.ndarray]) -> int:
    """The remuxed frames at their shifted indices equal the whole file's sequential decode; returns the frame count."""
    remuxed = remux_segments(path, wanted)
    assert remuxed is not None and sorted(remuxed.rows) == wanted
    frames = decode_all(remuxed.data)
    for i in wanted:
        assert np.array_equal(frames[remuxed.rows[i]], reference[i]), f"{path.name}: frame {i} moved in the remux"
    return len(frames)


def test_remux_segments_keeps_only_the_clips_gops(variant: Tuple[Path, List[np.ndarray]]) -> None:
    """Two clips far apart: the container holds only the GOPs from each clip's keyframe to its last
    frame, and every wanted frame sits at its shifted index, pixel-exact; files whose frames a cut
    cannot place exactly are refused, and DALI then gets the whole file."""
    path, expected = variant
    wanted = [3, 4, 5, 30, 33, 36]
    if path.name in REMUX_REFUSED:
        assert remux_segments(path, wanted) is None
        data, rows = dali_input(path, wanted)
        assert data.tobytes() == path.read_bytes() and rows == {i: i for i in wanted}
        return
    index = stream_index(path)
    segments = _plan(index, wanted, min_skip=0)
    assert len(segments) >= 2  # the clips lie in different GOPs
    needed = sum(frames[-1] - int(index.keyframes[k]) + 1 for k, frames in segments)
    # with B-frames a segment also holds the reference frame decoded before its last B-frame
    assert needed <= assert_remux_exact(path, wanted, dict(enumerate(expected))) <= needed + len(segments) < NUM_FRAMES


def test_remux_segments_is_exact_on_real_video(real_video: Tuple[Path, int, Dict[int, np.ndarray]]) -> None:
    """Two late clips of reference frames (one frame in 5, stride 5) cut out of every real file
    whose pts map allows it (else None: the whole file is decoded)."""
    path, count, reference = real_video
    usable = sorted(i for i in reference if i < count and i % 5 == 2)
    wanted = sorted(set(usable[len(usable) // 2 : len(usable) // 2 + 4] + usable[-4:]))
    index = stream_index(path)
    if not index.seekable or index.leading_pictures or index.discarded:
        assert remux_segments(path, wanted) is None
        return
    assert assert_remux_exact(path, wanted, reference) <= count - wanted[0] + max(np.diff(index.keyframes), default=count)


def test_frame_timestamps_and_duration_follow_pts(variant: Tuple[Path, List[np.ndarray]]) -> None:
    times = frame_timestamps(variant[0])
    info = probe_video(variant[0])
    assert len(times) == info.num_frames == NUM_FRAMES
    if "vfr" in variant[0].name:
        assert np.allclose(times, (np.array(VFR_PTS_MS) - VFR_PTS_MS[0]) / 1000)
        assert info.duration == pytest.approx(VFR_PTS_MS[-1] / 1000 * NUM_FRAMES / (NUM_FRAMES - 1))
    else:
        assert np.allclose(times, np.arange(NUM_FRAMES) / 25)
        assert info.duration == pytest.approx(NUM_FRAMES / 25)


def test_numpy_integer_indices(lossless_clip: Path) -> None:
    frames = decode_frames(lossless_clip, np.array([5, 2]))
    assert np.array_equal(frames[0].numpy(), synthetic_frame(5))


def test_probe_lossless_clip(lossless_clip: Path) -> None:
    assert probe_video(lossless_clip) == VideoInfo(num_frames=NUM_FRAMES, fps=25.0, height=H, width=W, duration=1.6)


def test_video_info_duration_has_a_default() -> None:
    assert VideoInfo(10, 25.0, 24, 32).duration == 0.0


# ---------------------------------------------------------------- real videos


@pytest.fixture(
    scope="module",
    params=[pytest.param(p, id=str(p.relative_to(SHARED_VIDEOS))) for p in REAL_VIDEOS]
    or [pytest.param(None, marks=pytest.mark.skip(reason=NO_VIDEOS_REASON), id="no-shared-videos")],
)
def real_video(request: pytest.FixtureRequest) -> Tuple[Path, int, Dict[int, np.ndarray]]:
    """(path, frame count, reference frames); module scope groups the tests of one file together."""
    path = request.param
    return (path, *reference_decode(path))


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_video_matches_sequential_decode(backend: str, real_video: Tuple[Path, int, Dict[int, np.ndarray]]) -> None:
    require(backend)
    path, count, reference = real_video
    name = str(path.relative_to(SHARED_VIDEOS))
    end = CONTRACT_END.get(name, count)
    indices: List[int] = sorted((i for i in set(PROBE_INDICES) | {end - 1} if i < end), reverse=True)
    indices.append(indices[-1])  # a duplicate, and overall not in ascending order
    refusal = expected_refusal(backend, path)
    if refusal:
        with pytest.raises(DecodeError, match=refusal) as info:
            decode_frames(path, indices, backend=backend)
        assert "\n" not in str(info.value)
        return
    frames = as_numpy(decode_frames(path, indices, backend=backend))
    assert frames.shape[0] == len(indices)
    for got, i in zip(frames, indices):
        assert_frames_match(backend, got, reference[i], f"{backend} {name} frame {i}")

    info = probe_video(path, backend=backend)
    pyav_info = probe_video(path)
    assert info.num_frames >= count and info.num_frames == pyav_info.num_frames
    assert info.fps == pytest.approx(pyav_info.fps, rel=0.05)  # torchcodec: frames / content duration
    assert info.duration == pytest.approx(pyav_info.duration, abs=1.5 / pyav_info.fps)
    assert (info.height, info.width) == tuple(frames.shape[1:3])


def test_pyav_seeking_is_exact_on_real_video(real_video: Tuple[Path, int, Dict[int, np.ndarray]]) -> None:
    """Random sparse requests and 2-clip requests (8 frames, stride 5) against the reference."""
    path, count, reference = real_video
    usable = sorted(i for i in reference if i < count)
    rng = np.random.default_rng(len(usable))
    requests = [rng.choice(usable, size=min(6, len(usable))).tolist() for _ in range(3)]
    strided = [i for i in usable if i % 5 == 2]
    for _ in range(3):
        starts = rng.integers(0, max(len(strided) - 8, 1), size=2)
        requests.append([strided[min(s + j, len(strided) - 1)] for s in starts for j in range(8)] if strided else usable)
    for indices in requests:
        frames = decode_frames(path, indices).numpy()
        for got, i in zip(frames, indices):
            assert np.array_equal(got, reference[i]), f"{path}: frame {i} differs (request {indices})"


def dali_close(got: np.ndarray, want: np.ndarray) -> bool:
    error = np.abs(got.astype(np.int16) - want.astype(np.int16))
    return bool(error.max() <= DALI_TOLERANCE["max"] and error.mean() <= DALI_TOLERANCE["mean"])


def test_dali_decodes_a_late_clip_of_a_long_vp9_video(tmp_path: Path) -> None:
    """A clip near the end of a 240-frame VP9 video (keyframe every 8), through the per-video decoder
    and the batched pipeline: DALI is given only the GOPs from keyframe 200 on, each cut after the
    clip's last frame in it, and returns the
    frames of a full sequential PyAV decode within DALI_TOLERANCE, which rejects both neighbours of
    every frame (the texture moves one pixel per frame)."""
    require("dali")
    from videosce.data.dali_loader import DALIBatchDecoder

    path = write_vp9(tmp_path / "long.webm", 240, 48, 64, seed=5)
    count, reference = reference_decode(path, keep_all=True)
    assert count == 240
    late, early = list(range(205, 236, 3)), [0, 3, 6]
    late_input, late_rows = dali_input(path, late)
    # segments from keyframes 200 (200-205), 208 (208-214), 216 (216-223), 224 (224-229), 232 (232-235)
    assert late_rows == {205: 5, 208: 6, 211: 9, 214: 12, 217: 14, 220: 17, 223: 20, 226: 23, 229: 26, 232: 27, 235: 30}
    assert len(late_input) < path.stat().st_size / 4
    early_input, early_rows = dali_input(path, early)
    assert early_rows == {i: i for i in early}

    def check(frames: np.ndarray, indices: List[int], what: str) -> None:
        assert len(frames) == len(indices)
        for got, i in zip(frames, indices):
            assert dali_close(got, reference[i]), f"{what}: frame {i} beyond {DALI_TOLERANCE}"
            assert not dali_close(got, reference[i - 1]) and not dali_close(got, reference[i + 1]), f"{what}: frame {i} ambiguous"

    check(as_numpy(decode_frames(path, late[::-1], backend="dali")), late[::-1], "per-video decoder")
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    batched = DALIBatchDecoder(2, device, num_threads=1).decode(
        [late_input, early_input], [[late_rows[i] for i in late], [early_rows[i] for i in early]])
    check(as_numpy(batched[0]), late, "batched pipeline")
    check(as_numpy(batched[1])[1:], early[1:], "batched pipeline")


@pytest.mark.skipif(not (SHARED_VIDEOS / "decord" / "corrupted.mp4").is_file(), reason=NO_VIDEOS_REASON)
@with_timeout(60)
@pytest.mark.parametrize("backend", BACKENDS)
def test_corrupted_video(backend: str) -> None:
    """corrupted.mp4 claims 50 frames; PyAV decodes 28 then FFmpeg fails. Every backend raises past it."""
    require(backend)
    path = SHARED_VIDEOS / "decord" / "corrupted.mp4"
    if backend == "dali" and dali_on_cpu():
        pytest.skip("H.264 needs DALI on a GPU")
    assert decode_frames(path, [20, 0, 12], backend=backend).shape[0] == 3
    start = time.monotonic()
    match = "index 40 is past the end: only 28 frames" if backend == "pyav" else "failed"
    with pytest.raises(DecodeError, match=match) as info:
        decode_frames(path, [0, 40], backend=backend)
    assert "\n" not in str(info.value)
    assert time.monotonic() - start < 10
    if backend == "pyav":
        assert decode_frames(path, [27, 0, 12]).shape[0] == 3


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="NVDEC needs a CUDA GPU")
@pytest.mark.skipif(not REAL_VIDEOS, reason=NO_VIDEOS_REASON)
def test_dali_nvdec_decodes_h264_on_gpu() -> None:
    require("dali")
    assert get_decoder("dali").device == "mixed"
    path = SHARED_VIDEOS / "mmaction2" / "demo.mp4"
    count, reference = reference_decode(path)
    indices = [250, 2, 100, 27, 27]
    frames = decode_frames(path, indices, backend="dali")
    assert frames.is_cuda and frames.shape == (len(indices), 256, 340, 3)
    for got, i in zip(as_numpy(frames), indices):
        assert_frames_match("dali", got, reference[i], f"NVDEC demo.mp4 frame {i}")


# ---------------------------------------------------------------- bad files


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


def assert_decode_error(path: Path, match: str, indices: Sequence[int] = (0,), backend: str = "pyav") -> None:
    """Both entry points raise a one-line DecodeError naming the file and the reason."""
    for call in (lambda: decode_frames(path, indices, backend=backend), lambda: probe_video(path, backend=backend)):
        with pytest.raises(DecodeError, match=match) as info:
            call()
        message = str(info.value)
        assert "\n" not in message and message.startswith(f"{path}: ")


@pytest.mark.parametrize("backend", BACKENDS)
def test_missing_empty_and_garbage_files(backend: str, tmp_path: Path) -> None:
    require(backend)
    assert_decode_error(tmp_path / "nope.mp4", "file not found", backend=backend)
    empty = tmp_path / "empty.mp4"
    empty.touch()
    assert_decode_error(empty, "empty", backend=backend)
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(np.random.default_rng(0).integers(0, 256, 10_000, dtype=np.uint8).tobytes())
    assert_decode_error(garbage, "cannot open", backend=backend)


def test_audio_only_file(audio_only: Path) -> None:
    assert_decode_error(audio_only, r"no video stream \(streams: audio\)")


def test_negative_index(lossless_clip: Path) -> None:
    with pytest.raises(DecodeError, match="frame index -1 is negative"):
        decode_frames(lossless_clip, [3, -1])


def test_index_past_end(lossless_clip: Path) -> None:
    with pytest.raises(DecodeError, match=f"index {NUM_FRAMES} is past the end: only {NUM_FRAMES} frames"):
        decode_frames(lossless_clip, [0, NUM_FRAMES])


def test_unknown_backend_lists_registered(lossless_clip: Path) -> None:
    assert {"pyav", "decord", "torchcodec", "dali"} <= set(DECODERS.list())
    with pytest.raises(ValueError, match="unknown decoder backend 'nope'.*pyav"):
        decode_frames(lossless_clip, [0], backend="nope")


def test_missing_optional_library_names_the_pip_package(monkeypatch: pytest.MonkeyPatch) -> None:
    from videosce.data.decoders import base

    monkeypatch.setattr(base.importlib, "import_module", lambda name: (_ for _ in ()).throw(ImportError(name)))
    with pytest.raises(MissingDependencyError, match=r"'decord' needs decord: pip install decord==0\.6\.0"):
        DECODERS.create("decord")


# ---------------------------------------------------------------- timeouts


RELEASE = threading.Event()


@pytest.fixture(scope="module")
def stalling_backend() -> str:
    """A backend whose calls block until released: stands in for a decode that hangs in FFmpeg."""
    name = "stalling-test-backend"
    if name not in DECODERS:

        @register_decoder(name, module="av", pip="av")
        class Stalling:
            def probe(self, path: Path) -> VideoInfo:
                RELEASE.wait(30)
                return VideoInfo(1, 25.0, H, W)

            def decode(self, path: Path, indices: List[int]) -> torch.Tensor:
                RELEASE.wait(30)
                return torch.zeros(len(indices), H, W, 3, dtype=torch.uint8)

    yield name
    RELEASE.set()  # let the abandoned threads finish


@with_timeout(30)
def test_hanging_decode_times_out(stalling_backend: str, lossless_clip: Path) -> None:
    start = time.monotonic()
    with pytest.raises(DecodeError, match=r"decode timed out after 0\.3 s") as info:
        decode_frames(lossless_clip, [0], backend=stalling_backend, timeout_s=0.3)
    assert str(info.value).startswith(f"{lossless_clip}: ")
    with pytest.raises(DecodeError, match=r"probe timed out after 0\.3 s"):
        probe_video(lossless_clip, backend=stalling_backend, timeout_s=0.3)
    assert time.monotonic() - start < 5


def test_timeout_passes_results_and_errors_through(lossless_clip: Path) -> None:
    frames = decode_frames(lossless_clip, [5], timeout_s=30)
    assert np.array_equal(frames[0].numpy(), synthetic_frame(5))
    with pytest.raises(DecodeError, match="past the end"):
        decode_frames(lossless_clip, [NUM_FRAMES], timeout_s=30)
    assert probe_video(lossless_clip, timeout_s=30).num_frames == NUM_FRAMES


def test_cached_index_follows_file_changes(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "clip.mkv", "ffv1", num_frames=10, pix_fmt="bgr0")
    assert probe_video(path).num_frames == 10
    write_clip(tmp_path / "clip.mkv", "ffv1", num_frames=12, pix_fmt="bgr0")
    assert probe_video(path).num_frames == 12
