"""Data-loading benchmark: clips/s of our VideoClipDataset per decoder backend against pytorchvideo's
LabeledVideoDataset on the same videos and the same request (2 random clips per video, same clip
length and stride, same crop), plus a "GOP-bound" reference and worker memory over a long run.

GOP-bound: PyAV decoding only the frames from the keyframe before each clip to the clip's last
frame (overlapping ranges once), converting only the requested frames, with the stream index
computed up front: the work any exact keyframe-seeking PyAV decoder must do (ours may beat it by
skipping unreferenced frames it does not need). Each pipeline runs in a fresh DataLoader; the
clock starts at the first batch (worker start-up excluded); repeats are interleaved so load
changes on a shared machine hit every pipeline alike. `step_ms` simulates the model step per
batch (a sleep, as a GPU would leave the CPU free): data-wait share = time blocked on the loader
/ total time, so with step_ms=0 it is 100% by construction.
"""
from __future__ import annotations

import json
import multiprocessing
import os
import statistics
import time
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import av
import numpy as np
import torch
from av.video.reformatter import VideoReformatter
from torch.utils.data import DataLoader, Dataset, RandomSampler
from tqdm import tqdm

from videosce.data.datasets import VideoClipDataset, VideoRecord
from videosce.data.decoders import DecodeError, MissingDependencyError, get_decoder, probe_video
from videosce.data.decoders.pyav import StreamIndex, stream_index
from videosce.data.samplers import clip_span, random_clips

MARKER = ".complete"
BASELINE = "pytorchvideo (pyav)"  # the pipeline every ratio is taken against
GOP_BOUND = "GOP-bound (PyAV)"


@dataclass(frozen=True)
class VideoSetSpec:
    """The generated benchmark set: long enough that keyframe seeking matters."""

    num_videos: int = 24
    seconds: int = 10
    fps: int = 25
    width: int = 320
    height: int = 240
    gop: int = 50


@dataclass(frozen=True)
class Settings:
    frames: int = 8
    stride: int = 4
    crop: int = 112
    num_clips: int = 2
    workers: int = 2
    batch_videos: int = 8
    clips_per_run: int = 400
    repeats: int = 3
    rss_clips: int = 6000  # a worker's RSS climbs over its first ~1,000-1,500 clips (touching pages), then stays flat
    step_ms: float = 0.0
    seed: int = 0


def _render(path: Path, spec: VideoSetSpec, seed: int) -> None:
    """Panning texture + a moving block + grain: real motion, so x264 uses P/B-frames as on camera video."""
    rng = np.random.default_rng(seed)
    tile = np.repeat(np.repeat(rng.integers(0, 256, (spec.height // 8 + 1, spec.width // 8 + 1, 3), dtype=np.uint8), 8, 0), 8, 1)
    canvas = np.tile(tile, (2, 2, 1))
    vx, vy = rng.uniform(-3, 3, 2)
    partial = path.with_name(path.name + ".partial")
    with av.open(str(partial), "w", format="mp4") as container:
        options = {"g": str(spec.gop), "crf": "23", "threads": "1"}
        stream = container.add_stream("libx264", rate=spec.fps, options=options)
        stream.width, stream.height, stream.pix_fmt = spec.width, spec.height, "yuv420p"
        for i in range(spec.seconds * spec.fps):
            x, y = int(i * vx) % spec.width, int(i * vy) % spec.height
            frame = canvas[y:y + spec.height, x:x + spec.width].astype(np.int16)
            cx = int(spec.width / 2 + spec.width / 3 * np.sin(i / 15 + seed))
            cy = int(spec.height / 2 + spec.height / 3 * np.cos(i / 11))
            frame[max(cy - 20, 0):cy + 20, max(cx - 20, 0):cx + 20] = (255 - i % 256, 40, 200)
            frame += rng.integers(-8, 9, frame.shape)
            image = av.VideoFrame.from_ndarray(np.clip(frame, 0, 255).astype(np.uint8), format="rgb24")
            container.mux(stream.encode(image))
        container.mux(stream.encode())
    os.replace(partial, path)


def benchmark_videos(root: Path, spec: VideoSetSpec = VideoSetSpec(), progress: bool = True) -> List[Path]:
    """The generated set under `root`/<spec>, made once and reused."""
    root = root / f"{spec.num_videos}x{spec.seconds}s_{spec.width}x{spec.height}_{spec.fps}fps_gop{spec.gop}"
    root.mkdir(parents=True, exist_ok=True)
    paths = [root / f"bench_{i:03d}.mp4" for i in range(spec.num_videos)]
    marker = root / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == asdict(spec) and all(p.is_file() for p in paths):
        return paths
    marker.unlink(missing_ok=True)
    for i, path in enumerate(tqdm(paths, desc="benchmark videos", disable=not progress)):
        _render(path, spec, i)
    marker.write_text(json.dumps(asdict(spec)))
    return paths


def rss_mb(pid: Optional[int] = None) -> float:
    """Resident memory of a process (default: this one), via psutil when installed, else /proc."""
    try:
        import psutil
    except ImportError:
        status = Path(f"/proc/{pid or 'self'}/status").read_text()
        return int(next(line for line in status.splitlines() if line.startswith("VmRSS:")).split()[1]) / 1024
    return psutil.Process(pid).memory_info().rss / 2**20


class RandomCrop:
    """The one transform every pipeline gets: uint8 (T,H,W,3) -> float (3,T,S,S), random crop, [0,1]."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __call__(self, clip: torch.Tensor, rng: np.random.Generator) -> torch.Tensor:
        height, width = clip.shape[1:3]
        top, left = int(rng.integers(0, height - self.size + 1)), int(rng.integers(0, width - self.size + 1))
        return clip[:, top:top + self.size, left:left + self.size].permute(3, 0, 1, 2).float().div_(255.0)


class _WithMemory(Dataset):
    """Adds (worker pid, worker RSS MB) to each item, so memory is followed across the run."""

    def __init__(self, inner: Dataset) -> None:
        self.inner = inner

    def __len__(self) -> int:
        return len(self.inner)

    def __getitem__(self, index: int):
        clips, label, _ = self.inner[index]
        return clips, label, os.getpid(), rss_mb()


class GopBoundDataset(Dataset):
    """Same clips as VideoClipDataset, decoded with the least PyAV work: keyframe -> last frame per clip."""

    def __init__(self, paths: Sequence[Path], indexes: Dict[Path, StreamIndex], settings: Settings, transform: RandomCrop) -> None:
        self.paths, self.indexes, self.settings, self.transform = list(paths), indexes, settings, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, item: int):
        path, s = self.paths[item], self.settings
        index = self.indexes[path]
        rng = np.random.default_rng([s.seed, item])
        clips = random_clips(index.num_frames, s.frames, s.stride, s.num_clips, rng)
        ranges = sorted((int(np.searchsorted(index.keyframes, c[0], side="right")) - 1, c[-1]) for c in clips)
        merged: List[List[int]] = []
        for k, last in ranges:
            if merged and index.keyframes[k] <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([k, last])
        wanted = {i for c in clips for i in c}
        frames: Dict[int, np.ndarray] = {}
        reformatter = VideoReformatter()  # the RGB conversion our PyAV backend uses
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for k, last in merged:
                container.seek(index.seek_target(k), backward=True, any_frame=False, stream=stream)
                for frame in container.decode(stream):
                    i = index.position[frame.pts]
                    if i in wanted:
                        frames[i] = reformatter.reformat(frame, format="rgb24").to_ndarray()
                    if i >= last:
                        break
        return [self.transform(torch.from_numpy(np.stack([frames[i] for i in c])), rng) for c in clips], 0, os.getpid(), rss_mb()


class _PytorchvideoTransform:
    """pytorchvideo.transforms does not import with torchvision 0.29: uniform temporal subsample + our crop."""

    def __init__(self, frames: int, crop: RandomCrop, seed: int) -> None:
        self.frames, self.crop, self.rng = frames, crop, np.random.default_rng(seed)

    def __call__(self, sample: dict) -> dict:
        clips = []
        for video in sample["video"]:  # (3, T, H, W) float 0..255
            keep = torch.linspace(0, video.shape[1] - 1, self.frames).round().long()
            thwc = video[:, keep].permute(1, 2, 3, 0).to(torch.uint8)
            clips.append(self.crop(thwc, self.rng))
        return {"video": clips, "label": sample["label"], "pid": os.getpid(), "rss": rss_mb()}


def _pytorchvideo_loader(paths: Sequence[Path], settings: Settings, fps: float, items: int) -> DataLoader:
    from pytorchvideo.data import LabeledVideoDataset
    from pytorchvideo.data.clip_sampling import RandomMultiClipSampler

    repeats = -(-items // len(paths))
    listing = [(str(p), {"label": 0}) for p in paths] * repeats
    dataset = LabeledVideoDataset(
        listing[:items],
        RandomMultiClipSampler(Fraction(clip_span(settings.frames, settings.stride)) / Fraction(fps).limit_denominator(1001), settings.num_clips),
        video_sampler=RandomSampler,
        transform=_PytorchvideoTransform(settings.frames, RandomCrop(settings.crop), settings.seed),
        decode_audio=False,
        decoder="pyav",
    )
    return DataLoader(dataset, batch_size=settings.batch_videos, num_workers=settings.workers)


@dataclass
class Run:
    clips: int
    seconds: float
    wait_seconds: float
    memory: Dict[int, List[float]] = field(default_factory=dict)  # worker pid -> RSS MB per batch

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds

    @property
    def wait_share(self) -> float:
        return self.wait_seconds / self.seconds


def per_repeat_ratios(runs: Sequence[Run], baseline: Sequence[Run]) -> List[float]:
    """clips/s over the baseline's clips/s of the same repeat."""
    return [r.clips_per_s / b.clips_per_s for r, b in zip(runs, baseline)]


def time_loader(loader: Iterable, step_ms: float) -> Run:
    """Iterate the loader once; the clock starts when the first batch arrives."""
    clips, waited, memory = 0, 0.0, {}
    iterator = iter(loader)
    first = next(iterator)
    start = time.perf_counter()
    batch = first
    while True:
        pids, rss = (batch["pid"], batch["rss"]) if isinstance(batch, dict) else (batch[2], batch[3])
        for pid, mb in zip(pids.tolist(), rss.tolist()):
            memory.setdefault(pid, []).append(mb)
        if batch is not first:
            clips += len(pids) * len(batch["video"] if isinstance(batch, dict) else batch[0])
        if step_ms:
            time.sleep(step_ms / 1000)
        before = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            break
        waited += time.perf_counter() - before
    return Run(clips, time.perf_counter() - start, waited, memory)


class Benchmark:
    """Builds one fresh DataLoader per run for each pipeline over the same videos and request."""

    def __init__(self, paths: Sequence[Path], settings: Settings) -> None:
        self.paths, self.settings = list(paths), settings
        self.transform = RandomCrop(settings.crop)
        self.indexes = {p: stream_index(p) for p in self.paths}
        self.fps = statistics.median(probe_video(p).fps for p in self.paths)

    def _items(self, clips: int) -> int:
        return -(-clips // self.settings.num_clips) + self.settings.batch_videos  # + the untimed first batch

    def ours(self, decoder: str, clips: int) -> DataLoader:
        s = self.settings
        records = [VideoRecord(p, 0) for p in self.paths]
        dataset = VideoClipDataset(records, self.transform, s.frames, s.stride, s.num_clips, train=True, decoder=decoder, seed=s.seed)
        sampler = RandomSampler(dataset, replacement=True, num_samples=self._items(clips), generator=torch.Generator().manual_seed(s.seed))
        return DataLoader(_WithMemory(dataset), batch_size=s.batch_videos, num_workers=s.workers, sampler=sampler)

    def gop_bound(self, clips: int) -> DataLoader:
        s = self.settings
        dataset = GopBoundDataset(self.paths, self.indexes, s, self.transform)
        sampler = RandomSampler(dataset, replacement=True, num_samples=self._items(clips), generator=torch.Generator().manual_seed(s.seed))
        return DataLoader(dataset, batch_size=s.batch_videos, num_workers=s.workers, sampler=sampler)

    def pytorchvideo(self, clips: int) -> DataLoader:
        return _pytorchvideo_loader(self.paths, self.settings, self.fps, self._items(clips))


def _why_unusable(name: str, sample: Path) -> Optional[str]:
    try:
        get_decoder(name).decode(sample, [0])
    except (MissingDependencyError, DecodeError) as exc:
        return str(exc).split(": ", 1)[-1]
    return None


def usable_decoders(names: Sequence[str], sample: Path) -> Tuple[List[str], Dict[str, str]]:
    """Backends that load and decode the benchmark files here; the others with the reason.

    Tried in a throw-away forked process, so the libraries (DALI maps GBs) stay out of the
    process whose memory the DataLoader workers inherit.
    """
    with multiprocessing.get_context("fork").Pool(1) as pool:
        reasons = {name: pool.apply(_why_unusable, (name, sample)) for name in names}
    return [n for n in names if reasons[n] is None], {n: r for n, r in reasons.items() if r is not None}


def grows(values: Sequence[float], tolerance: float = 0.10) -> bool:
    """True when the second half of a run reaches more than `tolerance` above the first half's peak.

    Peaks, not end points: a fork child's RSS first climbs while it touches pages shared with its
    parent, then may swing around a plateau (torchcodec workers over 16,000 clips: 538 -> 617 ->
    603 -> 628 -> 631 MB, see the README); a leak keeps raising the peak."""
    half = len(values) // 2
    return half > 0 and max(values[half:]) > (1 + tolerance) * max(values[:half])


def _memory_line(name: str, run: Run) -> str:
    """Per worker: RSS after the first item, then at each quarter of the run, and the verdict."""
    parts = []
    for _, values in sorted(run.memory.items()):
        points = [values[0]] + [values[min(len(values) - 1, len(values) * q // 4)] for q in (1, 2, 3, 4)]
        parts.append(" -> ".join(f"{v:.0f}" for v in points) + " MB")
    growing = any(grows(values) for values in run.memory.values())
    return f"  {name:<22} {run.clips} clips; per worker {'; '.join(parts)}  [{'GROWING' if growing else 'flat'}]"


def _log_speed_table(runs: Dict[str, List[Run]], log: Callable[[str], None]) -> None:
    """Median clips/s per pipeline, ratios to pytorchvideo and the fastest decoder vs the GOP bound."""
    median = {name: statistics.median(r.clips_per_s for r in rs) for name, rs in runs.items()}
    base = median.get(BASELINE)
    log(f"\n{'pipeline':<24}{'clips/s (median)':>17}  {'runs':<30}{'data wait':>10}{'vs pytorchvideo':>17}{'per repeat':>12}")
    for name, rs in runs.items():
        ratio = f"{median[name] / base:.2f}x" if base else "-"
        paired = f"{statistics.median(per_repeat_ratios(rs, runs[BASELINE])):.2f}x" if base else "-"
        each = " ".join(f"{r.clips_per_s:.1f}" for r in rs)
        wait = statistics.median(r.wait_share for r in rs)
        log(f"{name:<24}{median[name]:>17.1f}  {each:<30}{wait:>9.0%}{ratio:>17}{paired:>12}")
    if base:
        log("vs pytorchvideo: ratio of the medians; per repeat: median of the ratios within each repeat "
            "(neighbours in time, so load that drifts over the run cancels)")
    ours = {n: v for n, v in median.items() if n.startswith("videosce")}
    if ours:
        fastest = max(ours, key=ours.get)
        log(f"fastest decoder ({fastest}) reaches {ours[fastest] / median[GOP_BOUND]:.0%} of the GOP-bound rate")


def run_benchmark(paths: Sequence[Path], settings: Settings, decoders: Sequence[str], describe: str,
                  with_pytorchvideo: bool = True, log: Callable[[str], None] = print) -> Dict[str, List[Run]]:
    """Interleaved repeats of every pipeline, then one long run per decoder for memory; prints the table."""
    bench = Benchmark(paths, settings)
    usable, skipped = usable_decoders(decoders, paths[0])
    pipelines: Dict[str, Callable[[int], DataLoader]] = {f"videosce {d}": (lambda c, d=d: bench.ours(d, c)) for d in usable}
    pipelines[GOP_BOUND] = bench.gop_bound
    if with_pytorchvideo:
        pipelines[BASELINE] = bench.pytorchvideo
    s = settings
    log(describe)
    log(f"{s.workers} workers, batches of {s.batch_videos} videos x {s.num_clips} clips of {s.frames} frames "
        f"(stride {s.stride}), crop {s.crop}, step {s.step_ms:g} ms; {s.repeats} repeats x {s.clips_per_run} clips")
    for name, reason in skipped.items():
        log(f"  skipped {name}: {reason}")
    runs: Dict[str, List[Run]] = {name: [] for name in pipelines}
    for repeat in range(s.repeats):
        for name, make in pipelines.items():
            runs[name].append(time_loader(make(s.clips_per_run), s.step_ms))
            log(f"  repeat {repeat + 1}: {name:<22} {runs[name][-1].clips_per_s:7.1f} clips/s")
    if s.repeats:
        _log_speed_table(runs, log)
    if s.rss_clips:
        log(f"worker RSS over {s.rss_clips} clips (after the first item, then at each quarter):")
        for decoder in usable:
            long_run = time_loader(bench.ours(decoder, s.rss_clips), 0.0)
            log(_memory_line(f"videosce {decoder}", long_run))
    return runs

