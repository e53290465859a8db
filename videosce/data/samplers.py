"""Clip samplers: pure functions from a video's length (and an RNG) to frame indices.

Rule for short videos: a frame clip (`stride`) that would run past the last frame repeats the last
frame (padding); a time clip spreads its frames over what its window holds. Either way every clip
has exactly `frames` indices and never leaves the video.

Two temporal options for the views of one video (both off by default):
- `ClipGap`: the distance between the starts of the views, bounded to [low, high] and drawn
  uniformly or from CVRL's decreasing density (Qian et al., CVPR 2021), in frames or seconds.
- segments (VCLR, Kuang et al., ICCV 2021): the video cut into S equal segments, one random clip
  in each, so a view covers the whole video (`segment_clips`, `segment_time_clips`).
"""
from __future__ import annotations

import math
from typing import List, NamedTuple, Optional, Sequence, Tuple

import numpy as np

from videosce.choices import ClipGapDist


def clip_span(frames: int, stride: int) -> int:
    """Number of source frames a clip covers, first to last inclusive."""
    return (frames - 1) * stride + 1


def difference_pairs(clip: Sequence[int]) -> List[Tuple[int, int]]:
    """For each frame i of a clip, the frames (a, b) whose difference a - b is its temporal difference.

    The SCE reference differences consecutive frames of the decoded clip at the native rate,
    frame t minus frame t + 1, and gives the clip's last frame the previous difference; its clips'
    last sampled frame is the window's last. So: (i, i + 1) for i before the clip's last frame,
    (last - 1, last) for the last; a clip of one frame has no motion: (i, i), a zero difference.
    """
    first, last = min(clip), max(clip)
    if first == last:
        return [(i, i) for i in clip]
    return [(i, i + 1) if i < last else (last - 1, last) for i in clip]


def clip_indices(start: int, frames: int, stride: int, num_frames: int) -> List[int]:
    if num_frames < 1:
        raise ValueError("a video needs at least one frame")
    return [min(start + i * stride, num_frames - 1) for i in range(frames)]


def random_clips(
    num_frames: int, frames: int, stride: int, num_clips: int, rng: np.random.Generator, gap: Optional[ClipGap] = None
) -> List[List[int]]:
    """`num_clips` clips with independent uniform start positions (they may overlap), or, with `gap`
    (in frames), views whose starts lie `gap`-distributed after the first view's (`gapped_starts`)."""
    last_start = max(num_frames - clip_span(frames, stride), 0)
    if gap is not None:
        starts = gapped_starts(0, last_start, sample_frame_gaps(last_start, gap, num_clips - 1, rng), rng)
        return [clip_indices(int(s), frames, stride, num_frames) for s in starts]
    starts = rng.integers(0, last_start + 1, size=num_clips)
    return [clip_indices(int(s), frames, stride, num_frames) for s in starts]


def uniform_clips(num_frames: int, frames: int, stride: int, num_clips: int) -> List[List[int]]:
    """`num_clips` clips with evenly spaced starts from the first to the last possible start."""
    last_start = max(num_frames - clip_span(frames, stride), 0)
    starts = np.linspace(0, last_start, num_clips).round().astype(int)
    return [clip_indices(int(s), frames, stride, num_frames) for s in starts]


# Time-based sampling, for variable frame rates and wrong metadata: a clip is a window of
# `duration` seconds with `frames` frames uniformly subsampled from it (the SCE recipe: 2.56 s,
# 8 frames), turned into frame indices through the per-frame timestamps (decoders.frame_timestamps).

TIME_EPS = 1e-6  # seconds: a timestamp within this of a window edge counts as on that edge


def video_end(timestamps: Sequence[float]) -> float:
    """End time of a video: last timestamp plus one mean frame interval (VideoInfo.duration's rule)."""
    if len(timestamps) < 1:
        raise ValueError("a video needs at least one frame")
    if len(timestamps) == 1:
        return float(timestamps[0])
    return float(timestamps[-1] + (timestamps[-1] - timestamps[0]) / (len(timestamps) - 1))


def uniform_subsample(count: int, frames: int) -> List[int]:
    """`frames` positions spread over `count` items from the first to the last: floor(k (count - 1) / (frames - 1)).

    pytorchvideo's UniformTemporalSubsample (the SCE reference's) computes the same with a float32
    linspace; the two agree whenever frames <= count (checked against it for every count < 2000 and
    the usual clip lengths); with more samples than items its float rounding can put a sample that
    falls exactly on an item one item earlier, where this exact form does not.
    """
    if count < 1 or frames < 1:
        raise ValueError(f"need count >= 1 and frames >= 1, got count={count}, frames={frames}")
    if frames == 1:
        return [0]
    return [k * (count - 1) // (frames - 1) for k in range(frames)]


def time_clip_indices(timestamps: Sequence[float], start: float, duration: float, frames: int) -> List[int]:
    """`frames` frames spread evenly over the window [start, start + duration), its first frame to its last.

    Why: this is what the SCE reference computes: pytorchvideo decodes the frames whose timestamps
    lie in the window, then UniformTemporalSubsample keeps `frames` of them (`uniform_subsample`).
    A window past the end holds the video's remaining frames; a window holding no timestamp at all
    (a long gap in a variable-rate video) shows the frame on screen at `start`, repeated.
    """
    if len(timestamps) < 1:
        raise ValueError("a video needs at least one frame")
    if duration <= 0 or frames < 1:
        raise ValueError(f"a clip needs duration > 0 and frames >= 1, got duration={duration}, frames={frames}")
    ts = np.asarray(timestamps, dtype=np.float64)
    first = int(np.searchsorted(ts, start - TIME_EPS, side="left"))
    stop = int(np.searchsorted(ts, start + duration - TIME_EPS, side="left"))
    if stop <= first:
        shown = int(np.searchsorted(ts, start + TIME_EPS, side="right")) - 1
        return [min(max(shown, 0), len(ts) - 1)] * frames
    return [first + i for i in uniform_subsample(stop - first, frames)]


def _start_range(timestamps: Sequence[float], duration: float) -> Tuple[float, float]:
    """First and last start time of a window that stays inside the video (both the first when it is short)."""
    end = video_end(timestamps)
    first = float(timestamps[0])
    return first, max(end - duration, first)


def random_time_clips(
    timestamps: Sequence[float], duration: float, frames: int, num_clips: int, rng: np.random.Generator,
    gap: Optional[ClipGap] = None,
) -> List[List[int]]:
    """`num_clips` windows with independent uniform start times (they may overlap), or, with `gap`
    (in seconds), views whose starts lie `gap`-distributed after the first view's (`gapped_starts`)."""
    first, last_start = _start_range(timestamps, duration)
    if gap is not None:
        starts = gapped_starts(first, last_start, sample_gaps(last_start - first, gap, num_clips - 1, rng), rng)
        return [time_clip_indices(timestamps, float(s), duration, frames) for s in starts]
    starts = rng.uniform(first, last_start, size=num_clips)
    return [time_clip_indices(timestamps, float(s), duration, frames) for s in starts]


def uniform_time_clips(timestamps: Sequence[float], duration: float, frames: int, num_clips: int) -> List[List[int]]:
    """`num_clips` windows with evenly spaced start times from the first to the last possible start."""
    first, last_start = _start_range(timestamps, duration)
    return [time_clip_indices(timestamps, float(s), duration, frames) for s in np.linspace(first, last_start, num_clips)]


# ---- clip-gap control: the distance between the starts of the views of one video

GAP_DISTRIBUTIONS = (ClipGapDist.uniform, ClipGapDist.cvrl)  # data.clip_gap_dist's values other than off


class ClipGap(NamedTuple):
    """How far apart the views of a video start: frames for frame clips, seconds for time clips.

    Why: near clips share content, far ones may not (CVRL, Qian et al., CVPR 2021, Sec. 3.2): forcing
    invariance between distant clips hurts, so CVRL draws the interval t between the two starts from
    a decreasing density P(t) ∝ c - t on [0, T] (c >= T), T the longest interval the video allows,
    then puts the first clip uniformly in [0, T - t] and the second t later.
    `low`/`high` bound t (capped per video at T; a video too short for `low` gets T);
    `distribution` "uniform" draws t uniformly on the bounds, "cvrl" from CVRL's density restricted
    to them, with c = `c_scale` * T (1: the triangle 2 (T - t) / T^2; larger: flatter).
    """

    low: float = 0.0
    high: float = math.inf
    distribution: str = ClipGapDist.cvrl
    c_scale: float = 1.0


def _gap_bounds(max_gap: float, gap: ClipGap) -> Tuple[float, float]:
    low = min(max(gap.low, 0.0), max_gap)
    return low, max(min(gap.high, max_gap), low)


def _check_gap(gap: ClipGap) -> None:
    if gap.distribution not in GAP_DISTRIBUTIONS or gap.c_scale < 1 or gap.low > gap.high:
        raise ValueError(f"bad ClipGap {gap}: distribution in {', '.join(GAP_DISTRIBUTIONS)}, c_scale >= 1, low <= high")


def sample_gaps(max_gap: float, gap: ClipGap, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` continuous gaps (seconds) in the bounds of `gap` capped at `max_gap` (= T >= 0).

    CVRL by inverse CDF: with density ∝ c - t on [a, b] (c >= b), (c - t)^2 is uniform on
    [(c - b)^2, (c - a)^2], so t = c - sqrt(u) with u drawn uniformly there.
    """
    _check_gap(gap)
    low, high = _gap_bounds(max_gap, gap)
    if gap.distribution == ClipGapDist.uniform:
        return rng.uniform(low, high, size=size)
    c = gap.c_scale * max_gap
    return c - np.sqrt(rng.uniform((c - high) ** 2, (c - low) ** 2, size=size))


def sample_frame_gaps(max_gap: int, gap: ClipGap, size: int, rng: np.random.Generator) -> np.ndarray:
    """`size` integer gaps (frames): exact draws from the discrete form of the density, P(k) ∝ c - k
    (cvrl) or P(k) ∝ 1 (uniform) over the integers k in the bounds capped at `max_gap`."""
    _check_gap(gap)
    low, high = _gap_bounds(float(max_gap), gap)
    low = min(math.ceil(low), max_gap)
    ks = np.arange(low, max(math.floor(high), low) + 1)  # no integer in the bounds: the one above `low`
    weights = gap.c_scale * max_gap - ks.astype(np.float64) if gap.distribution == ClipGapDist.cvrl else np.ones(len(ks))
    if weights.sum() <= 0:  # c = T = k: all mass at the one allowed gap
        weights = np.ones(len(ks))
    return rng.choice(ks, size=size, p=weights / weights.sum())


def gapped_starts(first: float, last_start: float, gaps: np.ndarray, rng: np.random.Generator) -> List[float]:
    """Starts of 1 + len(gaps) views: view 0 uniform in [first, last_start - max gap], view k `gaps[k-1]`
    later, so every view starts in [first, last_start] (inside the video). Integer `gaps` (frames)
    give integer starts; float gaps (seconds) give uniform float anchors."""
    span = float(np.max(gaps)) if len(gaps) else 0.0
    if np.issubdtype(np.asarray(gaps).dtype, np.integer):
        anchor = int(rng.integers(int(first), int(last_start - span) + 1))
    else:
        anchor = float(rng.uniform(first, max(last_start - span, first)))
    return [anchor] + [anchor + g for g in np.asarray(gaps).tolist()]


# ---- video-level views (VCLR): one random clip in each of S equal segments


def segment_clips(num_frames: int, frames: int, stride: int, segments: int, rng: np.random.Generator) -> List[List[int]]:
    """One clip per segment k = [floor(k N / S), floor((k+1) N / S)) of the N frames, start uniform over
    the positions keeping the clip inside its segment (the segment's first frame when it is shorter
    than the clip; past the video's end the last frame repeats). Why: a view then spans the whole
    video, VCLR's global context (Kuang et al., ICCV 2021)."""
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}")
    span = clip_span(frames, stride)
    bounds = [(k * num_frames) // segments for k in range(segments + 1)]
    starts = [rng.integers(a, max(b - span, a) + 1) for a, b in zip(bounds[:-1], bounds[1:])]
    return [clip_indices(int(s), frames, stride, num_frames) for s in starts]


def segment_time_clips(
    timestamps: Sequence[float], duration: float, frames: int, segments: int, rng: np.random.Generator
) -> List[List[int]]:
    """`segment_clips` in time: segment k = [t0 + k L / S, t0 + (k+1) L / S) of the video's L seconds,
    window start uniform over the positions keeping the `duration` window inside its segment."""
    if segments < 1:
        raise ValueError(f"segments must be >= 1, got {segments}")
    first = float(timestamps[0]) if len(timestamps) else 0.0
    bounds = first + np.arange(segments + 1) * (video_end(timestamps) - first) / segments
    starts = [rng.uniform(a, max(b - duration, a)) for a, b in zip(bounds[:-1], bounds[1:])]
    return [time_clip_indices(timestamps, float(s), duration, frames) for s in starts]
