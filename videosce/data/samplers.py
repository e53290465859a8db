"""Clip samplers: pure functions from a video's length (and an RNG) to frame indices.

Rule for short videos: a clip that would run past the last frame repeats the last frame
(padding), so every clip has exactly `frames` indices and never leaves the video.
"""
from __future__ import annotations

from typing import List, Sequence, Tuple

import numpy as np


def clip_span(frames: int, stride: int) -> int:
    """Number of source frames a clip covers, first to last inclusive."""
    return (frames - 1) * stride + 1


def clip_indices(start: int, frames: int, stride: int, num_frames: int) -> List[int]:
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    return [min(start + i * stride, num_frames - 1) for i in range(frames)]


def random_clips(num_frames: int, frames: int, stride: int, num_clips: int, rng: np.random.Generator) -> List[List[int]]:
    """`num_clips` clips with independent uniform start positions (they may overlap)."""
    last_start = max(num_frames - clip_span(frames, stride), 0)
    starts = rng.integers(0, last_start + 1, size=num_clips)
    return [clip_indices(int(s), frames, stride, num_frames) for s in starts]


def uniform_clips(num_frames: int, frames: int, stride: int, num_clips: int) -> List[List[int]]:
    """`num_clips` clips with evenly spaced starts from the first to the last possible start."""
    last_start = max(num_frames - clip_span(frames, stride), 0)
    starts = np.linspace(0, last_start, num_clips).round().astype(int)
    return [clip_indices(int(s), frames, stride, num_frames) for s in starts]


# Time-based sampling, for variable frame rates and wrong metadata: a clip is a window of
# `duration` seconds with `frames` frames uniformly subsampled (the SCE recipe: 2.56 s, 8 frames),
# turned into frame indices through the per-frame timestamps (decoders.frame_timestamps).

TIME_EPS = 1e-6  # seconds: a sample time within this of a frame's timestamp shows that frame


def video_end(timestamps: Sequence[float]) -> float:
    """End time of a video: last timestamp plus one mean frame interval (VideoInfo.duration's rule)."""
    if len(timestamps) < 1:
        raise ValueError("a video needs at least one frame")
    if len(timestamps) == 1:
        return float(timestamps[0])
    return float(timestamps[-1] + (timestamps[-1] - timestamps[0]) / (len(timestamps) - 1))


def time_clip_indices(timestamps: Sequence[float], start: float, duration: float, frames: int) -> List[int]:
    """The frames shown at times start + k * duration / frames, k = 0..frames-1.

    A frame is shown from its timestamp to the next one, so each sample takes the last frame whose
    timestamp is <= the sample time; times past the end repeat the last frame (clip_indices' rule).
    """
    if len(timestamps) < 1:
        raise ValueError("a video needs at least one frame")
    if duration <= 0 or frames < 1:
        raise ValueError(f"a clip needs duration > 0 and frames >= 1, got duration={duration}, frames={frames}")
    times = start + np.arange(frames) * (duration / frames)
    positions = np.searchsorted(np.asarray(timestamps, dtype=np.float64), times + TIME_EPS, side="right") - 1
    return np.clip(positions, 0, len(timestamps) - 1).astype(int).tolist()


def _start_range(timestamps: Sequence[float], duration: float) -> Tuple[float, float]:
    """First and last start time of a window that stays inside the video (both the first when it is short)."""
    end = video_end(timestamps)
    first = float(timestamps[0])
    return first, max(end - duration, first)


def random_time_clips(
    timestamps: Sequence[float], duration: float, frames: int, num_clips: int, rng: np.random.Generator
) -> List[List[int]]:
    """`num_clips` windows with independent uniform start times (they may overlap)."""
    first, last_start = _start_range(timestamps, duration)
    starts = rng.uniform(first, last_start, size=num_clips)
    return [time_clip_indices(timestamps, float(s), duration, frames) for s in starts]


def uniform_time_clips(timestamps: Sequence[float], duration: float, frames: int, num_clips: int) -> List[List[int]]:
    """`num_clips` windows with evenly spaced start times from the first to the last possible start."""
    first, last_start = _start_range(timestamps, duration)
    return [time_clip_indices(timestamps, float(s), duration, frames) for s in np.linspace(first, last_start, num_clips)]
