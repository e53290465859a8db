"""Dataset health check before a long run: every listed video (train + test) is probed and its
first and last frames decoded, in parallel, with the decoder and timeout training will use.

A file whose last frame cannot be decoded is reported too: training samples clips up to the
last frame the container lists, so a truncated or damaged tail fails there, not at open.
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
from pathlib import Path
from typing import Iterator, List, NamedTuple, Optional, Sequence, Tuple

from omegaconf import DictConfig, OmegaConf
from tqdm import tqdm

from videosce.data.builders import usable_workers
from videosce.data.datasets import SUBSETS, read_index
from videosce.data.decoders import DecodeError, VideoInfo, decode_frames, probe_video
from videosce.data.samplers import clip_span

REPORT_FILE = "check_dataset.txt"
TOP_RESOLUTIONS = 10


@dataclass(frozen=True)
class VideoCheck:
    """One file's result: `info` when readable, else a one-line `error`."""

    path: str
    info: Optional[VideoInfo] = None
    error: Optional[str] = None


def check_video(path: str, backend: str = "pyav", timeout_s: Optional[float] = None) -> VideoCheck:
    """Probe, then decode the first and the last frame; never raises for a bad file."""
    try:
        info = probe_video(path, backend=backend, timeout_s=timeout_s)
        decode_frames(path, [0, info.num_frames - 1], backend=backend, timeout_s=timeout_s)
    except DecodeError as exc:
        return VideoCheck(path, error=exc.reason or str(exc))
    except Exception as exc:  # a checker reports every file; a library bug must not stop the scan
        return VideoCheck(path, error=f"unexpected {type(exc).__name__}: {' '.join(str(exc).split())}")
    return VideoCheck(path, info=info)


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
    warnings: List[str] = field(default_factory=list)  # e.g. listed videos missing on disk
    clip: ClipLength = ClipLength()

    @property
    def bad(self) -> List[VideoCheck]:
        return sorted((c for c in self.checks if c.error), key=lambda c: c.path)

    @property
    def short(self) -> List[VideoCheck]:
        """Readable videos shorter than one clip."""
        return sorted((c for c in self.checks if c.info is not None and not self.clip.covers(c.info)), key=lambda c: c.path)

    def format(self) -> str:
        """Human-readable summary; unreadable files as "<path>\\t<reason>" lines, like bad_videos.txt."""
        good = [c.info for c in self.checks if c.info is not None]
        lines = [f"checked {len(self.checks)} videos: {len(good)} readable, {len(self.bad)} unreadable"]
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
            lines.append("unreadable videos (path<TAB>reason):")
            lines += [f"{c.path}\t{c.error}" for c in self.bad]
        return "\n".join(lines)


def _stats(name: str, values: Sequence[float]) -> str:
    return (f"{name}: min {min(values):.2f}  median {statistics.median(values):.2f}  "
            f"mean {statistics.fmean(values):.2f}  max {max(values):.2f}")


class _Collect(logging.Handler):
    """Keeps the split readers' warnings (listed videos missing on disk) for the report."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: List[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def dataset_paths(data_cfg: DictConfig) -> Tuple[List[str], List[str]]:
    """Distinct video paths of train + test, and the readers' warnings."""
    handler = _Collect()
    reader_log = logging.getLogger("videosce.data.datasets")
    reader_log.addHandler(handler)
    try:
        paths = {str(r.path) for subset in SUBSETS for r in read_index(data_cfg, subset).records}
    finally:
        reader_log.removeHandler(handler)
    return sorted(paths), handler.messages


def _run_checks(paths: List[str], backend: str, timeout_s: Optional[float], workers: int) -> Iterator[VideoCheck]:
    check = partial(check_video, backend=backend, timeout_s=timeout_s)
    if workers <= 1:
        yield from map(check, paths)
        return
    with Pool(workers) as pool:
        yield from pool.imap_unordered(check, paths, chunksize=4)


def check_dataset(cfg: DictConfig, progress: bool = True) -> CheckReport:
    """Scan every video of `cfg.data` with `data.num_workers` processes and a progress bar."""
    paths, warnings = dataset_paths(cfg.data)
    # data.decode_timeout_s bounds each probe/decode when the config defines it (None: no deadline).
    timeout_s = OmegaConf.select(cfg, "data.decode_timeout_s")
    checks = list(tqdm(_run_checks(paths, cfg.data.decoder, timeout_s, usable_workers(cfg.data.num_workers)),
                       total=len(paths), desc="checking videos", unit="video", disable=not progress))
    return CheckReport(checks, warnings, ClipLength.of(cfg.data))


def run(cfg: DictConfig, progress: bool = True) -> int:
    """Print the report, write it to <output_dir>/check_dataset.txt; exit code 1 if any video is unreadable."""
    report = check_dataset(cfg, progress)
    text = report.format()
    out = Path(cfg.output_dir) / REPORT_FILE
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(text + "\n")
    print(text)
    print(f"report written to {out}")
    return 1 if report.bad else 0
