"""PyAV backend: keyframe seeking that stays frame-exact, with a sequential fallback.

Frame `i` is the i-th frame a full sequential `container.decode` yields. One demux pass (cached
per file) sorts the packet timestamps, so presentation index i <-> pts[i] and the keyframe at or
before any frame are known without decoding. A request is split into segments (all clips of a
video in one pass): seek to the keyframe before a segment's first frame, decode forward skipping
unreferenced frames nobody asked for, identify frames by pts. Every output frame is checked
against the map (known pts, strictly increasing, the segment starts exactly at its keyframe);
a seek that overshoots (MPEG-TS) is retried with an earlier target, and any other mismatch
(e.g. AVI whose B-frames carry decode-order timestamps) or FFmpeg error falls back to counting
frames from the start, which also gives the exact "only N frames could be decoded" for damaged
files. Pixel-exact against a sequential decode on every file of ../shared/videos and on
synthetic open-GOP, B-frame, VFR, MPEG-TS, AVI, HEVC, MPEG-4, VP8/9 and edit-list files.
"""
from __future__ import annotations

import io
import os
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Dict, Iterator, List, NamedTuple, Optional, Tuple

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter

from videosce.data.decoders.base import (
    DecodeError,
    FileCache,
    PathLike,
    VideoInfo,
    check_file,
    past_end,
    register_decoder,
)

# A seek flushes the decoder and restarts at an I-frame: together they cost about as much as
# decoding the few frames it would skip: a wanted frame whose keyframe lies at most this many
# frames after the last wanted frame is reached by decoding on, not by a seek.
SEEK_MIN_SKIP = 8
# A video is truncated when its frames end this much before the length its container states:
# beyond one frame of rounding (a last frame's duration, an edit list) and well within what a cut file loses.
TRUNCATION_FRAMES = 2
TRUNCATION_FRACTION = 0.02
INDEX_CACHE = FileCache(size=8)  # probe then decode of one video hit it; datasets are far larger
GEOMETRY_CACHE = FileCache(size=16)


def _reason(exc: Exception) -> str:
    """FFmpeg's own wording without the errno prefix and the repeated file name."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


def _open(path: Path) -> av.container.InputContainer:
    """Open `path` and check it has a video stream; the caller closes the container."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, OSError) as exc:
        raise DecodeError(path, f"cannot open: {_reason(exc)}") from exc
    if not container.streams.video:
        kinds = ", ".join(s.type for s in container.streams) or "none"
        container.close()
        raise DecodeError(path, f"no video stream (streams: {kinds})")
    return container


@contextmanager
def _open_video(
    path: Path, opened: Optional[av.container.InputContainer] = None
) -> Iterator[Tuple[av.container.InputContainer, av.video.stream.VideoStream]]:
    """Yield `path`'s container (`opened`, or a new one) and first video stream; always closed after."""
    container = opened or _open(path)
    with container:
        yield container, container.streams.video[0]


class _Handoff:
    """The container that just built a file's index, kept open for the decode that follows it
    (a dataset probes, then decodes, the same video), which then skips a second open (~1.3 ms).
    One slot per process; a taker owns the container; a forked child never uses its parent's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slot: Optional[Tuple[Tuple[str, int, int], int, av.container.InputContainer]] = None

    def put(self, path: Path, container: av.container.InputContainer) -> None:
        with self._lock:
            previous, self._slot = self._slot, (_identity(path), os.getpid(), container)
        if previous is not None and previous[1] == os.getpid():
            previous[2].close()

    def take(self, path: Path) -> Optional[av.container.InputContainer]:
        with self._lock:
            if self._slot is None or self._slot[:2] != (_identity(path), os.getpid()):
                return None
            container, self._slot = self._slot[2], None
        return container


def _identity(path: Path) -> Tuple[str, int, int]:
    stat = path.stat()
    return str(path), stat.st_size, stat.st_mtime_ns


HANDOFF = _Handoff()


@dataclass
class StreamIndex:
    """What one demux pass tells about a video stream: frame count, timestamps and keyframes.

    `pts` holds one sorted presentation timestamp per frame, or is empty when packets lack
    unique timestamps. `seekable` is False when frames can only be identified by counting from
    the start: no usable pts, AVI with B-frames, or a decode that contradicted the map (learnt
    once, then remembered while the index is cached).
    """

    num_frames: int
    fps: float
    height: int
    width: int
    codec: str
    container: str  # FFmpeg's demuxer name, e.g. "mov,mp4,m4a,3gp,3g2,mj2", "matroska,webm", "avi"
    time_base: Fraction
    pts: np.ndarray
    keyframes: np.ndarray  # presentation indices of keyframes, ascending
    early_targets: np.ndarray  # per keyframe: min(pts, dts), for demuxers whose pts seeks overshoot
    seekable: bool
    leading_pictures: bool = False  # open GOPs: frames decoded after a keyframe but shown before it
    discarded: int = 0  # packets an edit list cuts (the decoder drops their frames)
    position: Dict[int, int] = field(default_factory=dict)  # pts -> presentation index
    seek_early: bool = False  # learnt: seeking to a keyframe's pts landed after it (MPEG-TS)
    stated_duration: float = 0.0  # seconds the container says the video lasts; 0.0 when it does not say
    corrupt: int = 0  # packets the demuxer flagged corrupt (e.g. the last one of a file cut mid-packet)

    def seek_target(self, k: int) -> int:
        """Timestamp to seek to for keyframe k: its pts lands exactly on MP4, Matroska and AVI, while
        min(pts, dts) lands a GOP early there; MPEG-TS needs min(pts, dts) (its pts seek overshoots)."""
        return int(self.early_targets[k] if self.seek_early else self.pts[self.keyframes[k]])

    def duration(self) -> float:
        """Seconds from the pts span plus one mean frame interval; num_frames / fps without pts."""
        if len(self.pts) > 1:
            span = float((int(self.pts[-1]) - int(self.pts[0])) * self.time_base)
            return span * self.num_frames / (self.num_frames - 1)
        return self.num_frames / self.fps

    def damage(self) -> str:
        """One line on what the file lacks, or "": frames ending well before the stated length
        (a file cut short: Matroska then simply has fewer packets), or damaged packets."""
        problems = []
        end = self.duration()
        if self.stated_duration - end > max(TRUNCATION_FRAMES / self.fps, TRUNCATION_FRACTION * self.stated_duration):
            problems.append(f"truncated: its frames end at {end:.2f} s of the {self.stated_duration:.2f} s its container states")
        if self.corrupt:
            problems.append(f"{self.corrupt} of {self.num_frames} video packets damaged (cut short or flagged corrupt)")
        return "; ".join(problems)

    def timestamps(self) -> np.ndarray:
        """Presentation time of each frame in seconds from the first frame."""
        if len(self.pts):
            return (self.pts - self.pts[0]).astype(np.float64) * float(self.time_base)
        return np.arange(self.num_frames, dtype=np.float64) / self.fps


def _stated_duration(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> float:
    """The video's length as the container states it, in seconds (0.0: not stated): the stream's own
    duration (MP4, AVI), else Matroska's per-track DURATION tag, else the file's duration when the
    video is its only stream (another stream may be longer)."""
    if stream.duration and stream.time_base:
        return float(stream.duration * stream.time_base)
    tag = stream.metadata.get("DURATION", "")
    try:
        hours, minutes, seconds = tag.split(":")
        return int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    except ValueError:
        pass
    if container.duration and len(container.streams) == 1:
        return container.duration / av.time_base
    return 0.0


def _build_index(path: Path) -> StreamIndex:
    """Demux the video packets once (no decoding): one packet per frame, far cheaper than decoding."""
    container = _open(path)
    stream = container.streams.video[0]
    rows: List[Tuple[object, object, bool]] = []  # (pts, dts, keyframe) in decode order
    discarded = corrupt = 0
    try:
        for packet in container.demux(stream):
            if packet.size and packet.is_discard:
                discarded += 1
            elif packet.size:
                rows.append((packet.pts, packet.dts, packet.is_keyframe))
                corrupt += packet.is_corrupt
        if not rows:
            raise DecodeError(path, "video stream has no packets")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not rate:
            raise DecodeError(path, "video stream has no frame rate")
    except av.error.FFmpegError as exc:
        container.close()
        raise DecodeError(path, f"cannot count video packets: {_reason(exc)}") from exc
    except DecodeError:
        container.close()
        raise
    codec, demuxer = stream.codec_context.name, container.format.name
    # AVI stores no timestamps; FFmpeg's guesses for reordered (B-)frames are decode-order numbers.
    avi_reordered = demuxer == "avi" and bool(stream.codec_context.has_b_frames)
    time_base = stream.time_base or Fraction(1, 1)
    height, width = stream.height, stream.width
    facts = {"discarded": discarded, "stated_duration": _stated_duration(container, stream), "corrupt": corrupt}
    HANDOFF.put(path, container)
    pts_list = [p for p, _, _ in rows]
    if None in pts_list or len(set(pts_list)) < len(pts_list):
        empty = np.zeros(0, dtype=np.int64)
        return StreamIndex(len(rows), float(rate), height, width, codec, demuxer, time_base, empty, empty, empty, False, **facts)
    pts = np.array(sorted(pts_list), dtype=np.int64)
    position = {int(p): i for i, p in enumerate(pts)}
    keys = sorted((position[p], p if d is None else min(p, d)) for p, d, key in rows if key)
    key_pts, leading = None, False
    for p, _, key in rows:
        key_pts = p if key else key_pts
        leading = leading or (key_pts is not None and p < key_pts)
    return StreamIndex(
        len(rows), float(rate), height, width, codec, demuxer, time_base, pts,
        np.array([k for k, _ in keys], dtype=np.int64), np.array([t for _, t in keys], dtype=np.int64),
        not avi_reordered, leading, position=position, **facts,
    )


def stream_index(path: PathLike) -> StreamIndex:
    """The cached demux index of `path` (rebuilt when the file changes)."""
    return INDEX_CACHE.get(check_file(path), _build_index)


def frame_timestamps(path: PathLike) -> np.ndarray:
    """Presentation time (s, from the first frame) of every frame, for time-based clip sampling."""
    return stream_index(path).timestamps()


class Geometry(NamedTuple):
    """Stored frame size and the display rotation (degrees) the container asks players to apply."""

    height: int
    width: int
    rotation: float


def _read_geometry(path: Path) -> Geometry:
    """Decodes the first frame: PyAV exposes the display matrix only on decoded frames."""
    with _open_video(path) as (container, stream):
        try:
            frame = next(container.decode(stream), None)
        except av.error.FFmpegError as exc:
            raise DecodeError(path, f"cannot decode the first frame: {_reason(exc)}") from exc
        if frame is None:
            raise DecodeError(path, "video stream has no frames")
        return Geometry(frame.height, frame.width, float(frame.rotation or 0))


def frame_geometry(path: PathLike) -> Geometry:
    """Cached `Geometry` of `path`, for backends whose library rotates frames (decord, torchcodec)."""
    return GEOMETRY_CACHE.get(check_file(path), _read_geometry)


class _NeedsSequential(Exception):
    """The pts map cannot serve this request; `permanent` when the file itself contradicts it."""

    def __init__(self, permanent: bool) -> None:
        super().__init__()
        self.permanent = permanent


class _Overshoot(Exception):
    """A seek landed after the keyframe it aimed at."""


def _plan(index: StreamIndex, wanted: List[int], min_skip: Optional[int] = None) -> List[Tuple[int, List[int]]]:
    """Group sorted frame indices into (keyframe position, frames) segments, one seek each: a new
    segment when its keyframe lies more than `min_skip` (default SEEK_MIN_SKIP) frames after the
    previous segment's last frame.

    Keyframe position -1 (frames before the first keyframe) means: decode from the file's start.
    """
    min_skip = SEEK_MIN_SKIP if min_skip is None else min_skip
    segments: List[Tuple[int, List[int]]] = []
    for frame in wanted:
        k = int(np.searchsorted(index.keyframes, frame, side="right")) - 1
        key = int(index.keyframes[k]) if k >= 0 else 0
        if segments and key - segments[-1][1][-1] <= min_skip:
            segments[-1][1].append(frame)
        else:
            segments.append((k, [frame]))
    return segments


def _to_rgb(frame: av.VideoFrame, reformatter: VideoReformatter) -> np.ndarray:
    """Same pixels as frame.to_ndarray(format="rgb24"), 2.5x faster: the scaler context is reused."""
    return reformatter.reformat(frame, format="rgb24").to_ndarray()


def _decode_segment(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, index: StreamIndex,
    k: int, frames_wanted: List[int], out: Dict[int, np.ndarray], reformatter: VideoReformatter,
) -> None:
    """Seek to keyframe `k` (or start fresh) and decode forward until the segment's last frame."""
    start = 0 if k < 0 else int(index.keyframes[k])
    if k >= 0:
        container.seek(index.seek_target(k), backward=True, any_frame=False, stream=stream)
    targets = set(frames_wanted)
    needed_pts = {int(index.pts[i]) for i in targets | {start}}  # `start` proves where decoding begins
    last, previous, started = frames_wanted[-1], -1, False
    context, skipping = stream.codec_context, False
    for packet in container.demux(stream):
        # Frames nobody references and nobody asked for are skipped: their absence changes no pixel.
        skip = packet.pts is not None and packet.pts not in needed_pts
        if skip != skipping:
            context.skip_frame, skipping = ("NONREF" if skip else "DEFAULT"), skip
        for frame in packet.decode():
            i = index.position.get(frame.pts, -1) if frame.pts is not None else -1
            if i <= previous:
                raise _NeedsSequential(permanent=True)
            previous = i
            if i < start:
                continue  # leading pictures of an open GOP, or a seek that landed earlier
            if not started and i != start:
                raise _Overshoot() if k >= 0 else _NeedsSequential(permanent=True)
            started = True
            if i in targets:
                out[i] = _to_rgb(frame, reformatter)
            if i >= last:
                break
        else:
            continue
        break
    context.skip_frame = "DEFAULT"
    if not targets <= out.keys():
        raise _NeedsSequential(permanent=False)


def _decode_seeking(path: Path, index: StreamIndex, wanted: List[int]) -> Dict[int, np.ndarray]:
    out: Dict[int, np.ndarray] = {}
    reformatter = VideoReformatter()
    plan = _plan(index, wanted)
    # the handed-off container sits at the end of the file: usable only when the first segment seeks
    opened = HANDOFF.take(path) if plan[0][0] >= 0 else None
    with _open_video(path, opened) as (container, stream):
        try:
            for k, frames_wanted in plan:
                try:
                    _decode_segment(container, stream, index, k, frames_wanted, out, reformatter)
                except _Overshoot:
                    if index.seek_early:
                        raise _NeedsSequential(permanent=True) from None
                    index.seek_early = True  # remembered for this file while its index is cached
                    _decode_segment(container, stream, index, k, frames_wanted, out, reformatter)
        except _Overshoot:
            raise _NeedsSequential(permanent=True) from None
        except av.error.FFmpegError as exc:
            raise _NeedsSequential(permanent=False) from exc
    return out


def _decode_sequential(path: Path, wanted: List[int]) -> Dict[int, np.ndarray]:
    """Count frames from the start up to max(wanted), converting only the requested ones."""
    targets, last = set(wanted), wanted[-1]
    out: Dict[int, np.ndarray] = {}
    decoded, reformatter = 0, VideoReformatter()
    with _open_video(path) as (container, stream):
        try:
            for frame in container.decode(stream):
                if decoded in targets:
                    out[decoded] = _to_rgb(frame, reformatter)
                decoded += 1
                if decoded > last:
                    break
        except av.error.FFmpegError as exc:
            # Decoding stops right after `last`, so a failure means a requested frame is missing;
            # a damaged tail after the requested frames is never reached.
            missing = min(targets - out.keys())
            detail = f" could be decoded before FFmpeg failed ({_reason(exc)})"
            raise DecodeError(path, past_end(missing, decoded, detail)) from exc
    if len(out) < len(targets):
        raise DecodeError(path, past_end(min(targets - out.keys()), decoded, " could be decoded"))
    return out


class Remuxed(NamedTuple):
    """An in-memory container holding only the packets some frames need, and where those frames are in it."""

    data: np.ndarray  # the container's bytes
    rows: Dict[int, int]  # frame index in the source -> frame index in `data`


def remux_segments(path: PathLike, wanted: List[int]) -> Optional[Remuxed]:
    """Copy, without re-encoding, the packets that decode the sorted frames `wanted` into an
    in-memory Matroska container (it takes VP8/9, MJPEG, H.264 and HEVC, and the timestamps it is
    given, in ms), for a decoder that cannot seek (DALI's decodes every frame from the first one
    it is given): per segment of `_plan`, a new one wherever a keyframe starts after the previous
    wanted frame so the frames between clips are never decoded, the packets from the keyframe at
    or before its first frame through its last frame; segments follow one another on one timeline.

    None when the pts map cannot vouch for the frames' positions (no unique timestamps, AVI with
    B-frames, open GOPs, edit lists, frames before the first keyframe, a seek that misses its
    keyframe) or the muxer refuses the stream: the caller then decodes the whole file.
    """
    path = check_file(path)
    index = stream_index(path)
    if not wanted or not index.seekable or index.leading_pictures or index.discarded:
        return None
    plan = _plan(index, wanted, min_skip=0)
    if plan[0][0] < 0:
        return None
    buffer, rows, count = io.BytesIO(), {}, 0
    try:
        # the container that built the index, when it is still there: every segment seeks
        with _open_video(path, HANDOFF.take(path)) as (container, stream), av.open(buffer, "w", format="matroska") as output:
            target = output.add_stream_from_template(stream)
            next_pts: Optional[int] = None
            last_dts: Optional[int] = None
            for k, frames in plan:
                segment = _segment_packets(container, stream, index, k, frames[-1])
                if segment is None:
                    return None
                packets, positions = segment
                shift = 0 if next_pts is None else next_pts - packets[0].pts
                if last_dts is not None and packets[0].dts is not None:
                    shift = max(shift, last_dts + 1 - packets[0].dts)
                for packet in packets:
                    packet.pts += shift
                    if packet.dts is not None:
                        packet.dts = last_dts = packet.dts + shift
                    packet.stream = target
                    output.mux(packet)
                end = max(positions)
                step = int(index.pts[end + 1] - index.pts[end]) if end + 1 < index.num_frames else 1
                next_pts = int(index.pts[end]) + shift + step
                order = {position: count + row for row, position in enumerate(sorted(positions))}
                rows.update((frame, order[frame]) for frame in frames)
                count += len(positions)
    except av.error.FFmpegError:
        return None
    return Remuxed(np.frombuffer(buffer.getvalue(), dtype=np.uint8), rows)


def _segment_packets(
    container: av.container.InputContainer, stream: av.video.stream.VideoStream, index: StreamIndex, k: int, last: int,
) -> Optional[Tuple[List[av.Packet], List[int]]]:
    """The packets, in decode order, from keyframe `k` until every frame up to `last` is among them,
    and their frames' presentation indices; None when the seek misses the keyframe (after retrying
    with the early target) or a packet has no known pts."""
    start = int(index.keyframes[k])
    container.seek(index.seek_target(k), backward=True, any_frame=False, stream=stream)
    packets: List[av.Packet] = []
    positions: List[int] = []
    missing = set(range(start, last + 1))
    for packet in container.demux(stream):
        if not packet.size:
            continue
        i = index.position.get(packet.pts, -1) if packet.pts is not None else -1
        if not packets and 0 <= i < start:
            continue  # a seek that landed earlier
        if not packets and i > start and not index.seek_early:  # MPEG-TS: learnt as _decode_seeking does
            index.seek_early = True
            return _segment_packets(container, stream, index, k, last)
        if i < start or (not packets and i != start):
            return None
        packets.append(packet)
        positions.append(i)
        missing.discard(i)
        if not missing:
            return packets, positions
    return None


@register_decoder("pyav", module="av", pip="av")
class PyAVDecoder:
    """Decoder backed by PyAV (bundled FFmpeg); CPU only."""

    def probe(self, path: Path) -> VideoInfo:
        index = stream_index(path)
        return VideoInfo(index.num_frames, index.fps, index.height, index.width, index.duration(), index.damage())

    def decode(self, path: Path, indices: List[int]) -> torch.Tensor:
        """Seek + decode forward per segment; sequential when timestamps cannot identify frames."""
        index = stream_index(path)
        if not indices:
            return torch.empty((0, index.height, index.width, 3), dtype=torch.uint8)
        wanted = sorted(set(indices))
        if wanted[-1] >= index.num_frames:
            raise DecodeError(path, past_end(wanted[-1], index.num_frames, " in the video"))
        frames = None
        if index.seekable:
            try:
                frames = _decode_seeking(path, index, wanted)
            except _NeedsSequential as exc:
                index.seekable = not exc.permanent
        if frames is None:
            frames = _decode_sequential(path, wanted)
        return torch.from_numpy(np.stack([frames[i] for i in indices]))
