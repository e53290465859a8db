"""Dataset health check before a long run: every listed video (train + test) is probed and its
first and last frames decoded, in parallel, with the decoder, timeout and frame-size limit
(data.max_pixels) training will use.

A file whose last frame cannot be decoded is reported too: training samples clips up to the
last frame the container lists, so a truncated or damaged tail fails there, not at open. A file
whose frames end well before the length its container states, or with damaged packets, is
reported as cut short (training skips or uses it, per data.truncated). Listed files that cannot
be read (missing, a directory, a dangling symlink, a symlink loop, ...) are listed with the reason.
Readable videos shorter than one configured clip are listed as well: their clips repeat the last
frame (samplers.py), so they train on partly frozen clips.
"""
from __future__ import annotations

import logging
import statistics
from collections import Counter
from dataclasses import dataclass, field
from functools import partial
from multiprocessing import Pool
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

from omegaconf import DictConfig
from tqdm import tqdm

from videosce.data.builders import usable_workers
from videosce.data.datasets import SUBSETS, read_index, shown
from videosce.data.decoders import DecodeError, VideoInfo, decode_frames, probe_video
from videosce.data.samplers import clip_span

TOP_RESOLUTIONS = 10


@dataclass(frozen=True)
class VideoCheck:
    """One file's result: `info` when it opens, else a one-line `error`; `damage` when it is cut short."""

    path: str
    info: Optional[VideoInfo] = None
    error: Optional[str] = None
    damage: str = ""


def check_video(path: str, backend: str = "pyav", timeout_s: Optional[float] = None, max_pixels: Optional[int] = None) -> VideoCheck:
    """Probe, then decode the first and the last frame; never raises for a bad file.

    A cut-short file (VideoInfo.damage) is reported as such, with the decode failure its cut may cause."""
    try:
        info = probe_video(path, backend=backend, timeout_s=timeout_s, max_pixels=max_pixels)
    except DecodeError as exc:
        return VideoCheck(path, error=exc.reason or str(exc))
    except Exception as exc:  # a checker reports every file; a library bug must not stop the scan
        return VideoCheck(path, error=_unexpected(exc))
    try:
        decode_frames(path, [0, info.num_frames - 1], backend=backend, timeout_s=timeout_s)
    except DecodeError as exc:
        if not info.damage:
            return VideoCheck(path, error=exc.reason or str(exc))
        return VideoCheck(path, info=info, damage=f"{info.damage}; {exc.reason or exc}")
    except Exception as exc:
        return VideoCheck(path, error=_unexpected(exc))
    return VideoCheck(path, info=info, damage=info.damage)


def _unexpected(exc: Exception) -> str:
    return f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}"


class ClipLength(NamedTuple):
    """What one clip of the config covers: `frames` source frames (data.frames x data.stride), or
    `seconds` (data.clip_duration > 0)."""

    frames: int = 0
    seconds: float = 0.0

    @classmethod
    def of(cls, data_cfg: DictConfig) -> "ClipLength":
        if data_cfg.clip_duration > 0:
            return cls(seconds=float(data_cfg.clip_duration))
        return cls(frames=clip_span(data_cfg.frames, data_cfg.stride))

    def covers(self, info: VideoInfo) -> bool:
        """False when the video is shorter than the clip (a duration the backend could not measure passes)."""
        if self.seconds:
            return info.duration == 0.0 or info.duration >= self.seconds
        return info.num_frames >= self.frames

    def __str__(self) -> str:
        return f"{self.seconds:g} s (data.clip_duration)" if self.seconds else f"{self.frames} frames (data.frames x data.stride)"


@dataclass
class CheckReport:
    checks: List[VideoCheck]
    warnings: List[str] = field(default_factory=list)  # the split readers' (duplicates, unreadable listed files)
    unlisted: List[Tuple[str, str]] = field(default_factory=list)  # listed files that cannot be read: (path, reason)
    clip: ClipLength = ClipLength()

    @property
    def bad(self) -> List[VideoCheck]:
        return sorted((c for c in self.checks if c.error), key=lambda c: c.path)

    @property
    def cut_short(self) -> List[VideoCheck]:
        return sorted((c for c in self.checks if c.damage and not c.error), key=lambda c: c.path)

    @property
    def short(self) -> List[VideoCheck]:
        """Readable videos (not cut short) shorter than one clip."""
        return sorted((c for c in self.checks if c.info is not None and not c.damage and not self.clip.covers(c.info)), key=lambda c: c.path)

    @property
    def ok(self) -> bool:
        return not (self.bad or self.cut_short or self.unlisted)

    def format(self) -> str:
        """Human-readable summary; each problem file as a "<path>\\t<reason>" line."""
        good = [c.info for c in self.checks if c.info is not None and not c.damage]
        lines = [f"checked {len(self.checks)} videos: {len(good)} readable, {len(self.bad)} unreadable, {len(self.cut_short)} cut short"]
        if self.unlisted:
            reasons = Counter(reason for _, reason in self.unlisted)
            lines.append(f"{len(self.unlisted)} listed files cannot be read: " + ", ".join(f"{n} {reason}" for reason, n in reasons.most_common()))
        lines += [f"warning: {w}" for w in self.warnings]
        if good:
            lines.append(_stats("duration (s)", [i.duration for i in good]))
            lines.append(_stats("fps", [i.fps for i in good]))
            lines.append(_stats("frames", [float(i.num_frames) for i in good]))
            sizes = Counter(f"{i.width}x{i.height}" for i in good)
            lines.append(f"resolutions (width x height: videos), {len(sizes)} distinct:")
            lines += [f"  {size:>11}: {count}" for size, count in sizes.most_common(TOP_RESOLUTIONS)]
            if len(sizes) > TOP_RESOLUTIONS:
                lines.append(f"  {'others':>11}: {sum(c for _, c in sizes.most_common()[TOP_RESOLUTIONS:])}")
        if self.short:
            lines.append(f"{len(self.short)} readable videos are shorter than one clip of {self.clip}: their clips repeat "
                         "the last frame (path<TAB>frames, seconds):")
            lines += [f"{c.path}\t{c.info.num_frames} frames, {c.info.duration:.2f} s" for c in self.short]
        if self.bad:
            lines.append("unreadable videos, skipped in training (path<TAB>reason):")
            lines += [f"{shown(c.path)}\t{c.error}" for c in self.bad]
        if self.cut_short:
            lines.append("cut-short videos, skipped in training with data.truncated=skip, used with data.truncated=use (path<TAB>reason):")
            lines += [f"{shown(c.path)}\t{c.damage}" for c in self.cut_short]
        if self.unlisted:
            lines.append("listed files that cannot be read (path<TAB>reason):")
            lines += [f"{shown(path)}\t{reason}" for path, reason in self.unlisted]
        return "\n".join(lines)


def _stats(name: str, values: Sequence[float]) -> str:
    return (f"{name}: min {min(values):.2f}  median {statistics.median(values):.2f}  "
            f"mean {statistics.fmean(values):.2f}  max {max(values):.2f}")


class _Collect(logging.Handler):
    """Keeps the split readers' warnings (duplicate entries, listed files that cannot be read) for the report."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def dataset_paths(data_cfg: DictConfig) -> Tuple[List[str], List[Tuple[str, str]], List[str]]:
    """Distinct readable video paths of train + test, the listed files that cannot be read
    (path, reason), and the readers' warnings."""
    handler = _Collect()
    reader_log = logging.getLogger("videosce.data.datasets")
    reader_log.addHandler(handler)
    try:
        indices = [read_index(data_cfg, subset) for subset in SUBSETS]
    finally:
        reader_log.removeHandler(handler)
    paths = {str(r.path) for index in indices for r in index.records}
    unlisted = {str(path): reason for index in indices for path, reason in index.skipped}
    return sorted(paths), sorted(unlisted.items()), handler.messages


def _run_checks(paths: List[str], backend: str, timeout_s: Optional[float], max_pixels: Optional[int], workers: int) -> Iterator[VideoCheck]:
    check = partial(check_video, backend=backend, timeout_s=timeout_s, max_pixels=max_pixels)
    if workers <= 1:
        yield from map(check, paths)
        return
    with Pool(workers) as pool:
        yield from pool.imap_unordered(check, paths, chunksize=4)


def check_dataset(data_cfg: DictConfig, progress: bool = True) -> CheckReport:
    """Scan every video of the `data` section with `data.num_workers` processes (at most the CPUs) and a progress bar."""
    paths, unlisted, warnings = dataset_paths(data_cfg)
    checks = list(tqdm(_run_checks(paths, data_cfg.decoder, data_cfg.decode_timeout_s, data_cfg.max_pixels, usable_workers(data_cfg.num_workers)),
                       total=len(paths), desc="checking videos", unit="video", disable=not progress))
    return CheckReport(checks, warnings, unlisted, ClipLength.of(data_cfg))
