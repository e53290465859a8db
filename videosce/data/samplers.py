"""Clip samplers: pure functions from a video's length (and an RNG) to frame indices.

Rule for short videos: a clip that would run past the last frame repeats the last frame
(padding), so every clip has exactly `frames` indices and never leaves the video.
"""
from __future__ import annotations

from typing import List

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
