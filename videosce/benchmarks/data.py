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

Device-side pipelines (`run_device_benchmark`), with the SCE recipe's full augmentation:
- augmentation: `data.augment_on=worker` (per clip in the workers) against `device` (workers only
  decode; the batch is augmented in the training process, here on the CPU, so its CPU cost is
  counted in full: on a GPU only the kernel launches remain on the CPU). CPU time per clip =
  user + system seconds of the process and its finished workers over the run, start-up included.
- DALI on VP9 files (what its CPU operators decode): the batched pipeline against the per-video
  decoder, in DataLoader workers and in the main process (how it runs when CUDA is present).
"""
from __future__ import annotations

import json
import multiprocessing
import os
import resource
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

from videosce.data.dali_loader import DALIClipLoader
from videosce.data.datasets import VideoClipDataset, VideoRecord
from videosce.data.device_augment import DeviceAugment, collate_deferred
from videosce.data.transforms import TrainClipTransform
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
    codec: str = "h264"  # h264 (libx264, .mp4) | vp9 (libvpx-vp9, .webm: DALI's CPU operators decode it)


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
    with av.open(str(partial), "w", format="mp4" if spec.codec == "h264" else "webm") as container:
        options = {"g": str(spec.gop), "crf": "23", "threads": "1"}
        if spec.codec == "vp9":
            options.update({"crf": "32", "b:v": "0", "deadline": "realtime", "cpu-used": "8"})
        stream = container.add_stream("libx264" if spec.codec == "h264" else "libvpx-vp9", rate=spec.fps, options=options)
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


def benchmark_videos(root: Path, spec: VideoSetSpec = VideoSetSpec(), progress: bool = True, processes: int = 1) -> List[Path]:
    """The generated set under `root`/<spec>, made once (by `processes` processes) and reused."""
    root = root / f"{spec.num_videos}x{spec.seconds}s_{spec.width}x{spec.height}_{spec.fps}fps_gop{spec.gop}{'' if spec.codec == 'h264' else '_' + spec.codec}"
    root.mkdir(parents=True, exist_ok=True)
    suffix = ".mp4" if spec.codec == "h264" else ".webm"
    paths = [root / f"bench_{i:03d}{suffix}" for i in range(spec.num_videos)]
    marker = root / MARKER
    if marker.is_file() and json.loads(marker.read_text()) == asdict(spec) and all(p.is_file() for p in paths):
        return paths
    marker.unlink(missing_ok=True)
    jobs = [(path, spec, i) for i, path in enumerate(paths)]
    if processes > 1:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            list(tqdm(pool.imap_unordered(_render_job, jobs), total=len(jobs), desc="benchmark videos", disable=not progress))
    else:
        for job in tqdm(jobs, desc="benchmark videos", disable=not progress):
            _render_job(job)
    marker.write_text(json.dumps(asdict(spec)))
    return paths


def _render_job(job: Tuple[Path, VideoSetSpec, int]) -> None:
    _render(*job)


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
        clips, label, item = self.inner[index]
        return clips, label, item, os.getpid(), rss_mb()


class GopBoundDataset(Dataset):
    """Same clips as VideoClipDataset, decoded with the least PyAV work: keyframe -> last frame per clip.

    A file whose timestamps cannot name its frames (no unique pts, AVI with B-frames: `seekable`
    False) can only be decoded by counting frames from the start, so its bound is one sequential
    pass up to the last requested frame."""

    def __init__(self, paths: Sequence[Path], indexes: Dict[Path, StreamIndex], settings: Settings, transform: RandomCrop) -> None:
        self.paths, self.indexes, self.settings, self.transform = list(paths), indexes, settings, transform

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, item: int):
        path, s = self.paths[item], self.settings
        index = self.indexes[path]
        rng = np.random.default_rng([s.seed, item])
        clips = random_clips(index.num_frames, s.frames, s.stride, s.num_clips, rng)
        wanted = {i for c in clips for i in c}
        decode = self._seeking if index.seekable else self._counting
        frames = decode(path, index, clips, wanted)
        return [self.transform(torch.from_numpy(np.stack([frames[i] for i in c])), rng) for c in clips], 0, item, os.getpid(), rss_mb()

    @staticmethod
    def _seeking(path: Path, index: StreamIndex, clips: List[List[int]], wanted: set) -> Dict[int, np.ndarray]:
        ranges = sorted((int(np.searchsorted(index.keyframes, c[0], side="right")) - 1, c[-1]) for c in clips)
        merged: List[List[int]] = []
        for k, last in ranges:
            if merged and index.keyframes[k] <= merged[-1][1]:
                merged[-1][1] = max(merged[-1][1], last)
            else:
                merged.append([k, last])
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
        return frames

    @staticmethod
    def _counting(path: Path, index: StreamIndex, clips: List[List[int]], wanted: set) -> Dict[int, np.ndarray]:
        frames: Dict[int, np.ndarray] = {}
        reformatter = VideoReformatter()
        last = max(wanted)
        with av.open(str(path)) as container:
            for i, frame in enumerate(container.decode(container.streams.video[0])):
                if i in wanted:
                    frames[i] = reformatter.reformat(frame, format="rgb24").to_ndarray()
                if i >= last:
                    break
        return frames


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
    cpu_seconds: float = 0.0  # user + system, this process and its finished workers, whole run
    cpu_clips: int = 0  # clips that CPU time paid for (the untimed first batch included)

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.seconds

    @property
    def wait_share(self) -> float:
        return self.wait_seconds / self.seconds

    @property
    def cpu_ms_per_clip(self) -> float:
        return 1000 * self.cpu_seconds / max(self.cpu_clips, 1)


def per_repeat_ratios(runs: Sequence[Run], baseline: Sequence[Run]) -> List[float]:
    """clips/s over the baseline's clips/s of the same repeat."""
    return [r.clips_per_s / b.clips_per_s for r, b in zip(runs, baseline)]


def cpu_seconds() -> float:
    """User + system CPU of this process (all threads) and of its children that have exited."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def _batch_clips(batch) -> int:
    """Videos x clips per video of a batch: pytorchvideo's dict, or (views, labels, indices[, pids, rss])."""
    if isinstance(batch, dict):
        return len(batch["pid"]) * len(batch["video"])
    return len(batch[2]) * len(batch[0])


def time_loader(loader: Iterable, step_ms: float, finish: Optional[Callable] = None) -> Run:
    """Iterate the loader once; the clock starts when the first batch arrives. `finish(views)` runs
    on each batch in this process as the training step would (the device augmentation)."""
    clips, waited, memory = 0, 0.0, {}
    cpu_start = cpu_seconds()
    iterator = iter(loader)
    first = next(iterator)
    start = time.perf_counter()
    batch, all_clips = first, 0
    while True:
        if isinstance(batch, dict) or len(batch) == 5:
            pids, rss = (batch["pid"], batch["rss"]) if isinstance(batch, dict) else (batch[3], batch[4])
            for pid, mb in zip(pids.tolist(), rss.tolist()):
                memory.setdefault(pid, []).append(mb)
        if finish is not None:
            finish(batch[0])
        all_clips += _batch_clips(batch)
        if batch is not first:
            clips += _batch_clips(batch)
        if step_ms:
            time.sleep(step_ms / 1000)
        before = time.perf_counter()
        try:
            batch = next(iterator)
        except StopIteration:
            break
        waited += time.perf_counter() - before
    seconds = time.perf_counter() - start
    del iterator  # DataLoader workers have exited (and count in RUSAGE_CHILDREN) once it is exhausted
    return Run(clips, seconds, waited, memory, cpu_seconds() - cpu_start, all_clips)


Pipeline = Tuple[Iterable, Optional[Callable]]  # batches, and what the step does to them first (device augmentation)


def recipe_transforms(crop: int) -> List[TrainClipTransform]:
    """The SCE video recipe's two view transforms (docs/recipes.md): random resized crop, flip, colour
    jitter 0.8, grayscale 0.2, blur p 1.0 / 0.1, solarize p 0 / 0.2, temporal difference p 0.2."""
    return [TrainClipTransform(crop, blur_p=blur, solarize_p=solarize, temporal_difference_p=0.2) for blur, solarize in ((1.0, 0.0), (0.1, 0.2))]


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

    def _sampler(self, dataset: Dataset, clips: int) -> RandomSampler:
        return RandomSampler(dataset, replacement=True, num_samples=self._items(clips), generator=torch.Generator().manual_seed(self.settings.seed))

    def augmented(self, decoder: str, clips: int, augment_on: str, workers: Optional[int] = None) -> Pipeline:
        """The SCE recipe's views through a DataLoader; with augment_on=device, the batched augmentation after it."""
        s = self.settings
        records = [VideoRecord(p, 0) for p in self.paths]
        dataset = VideoClipDataset(records, recipe_transforms(s.crop), s.frames, s.stride, s.num_clips, train=True, decoder=decoder,
                                   seed=s.seed, augment_on=augment_on)
        device = augment_on == "device"
        loader = DataLoader(dataset, batch_size=s.batch_videos, num_workers=s.workers if workers is None else workers,
                            sampler=self._sampler(dataset, clips), collate_fn=collate_deferred if device else None)
        return loader, DeviceAugment(dataset.transforms, torch.device("cpu")) if device else None

    def dali_batched(self, clips: int, augment_on: str) -> Pipeline:
        """The batched DALI loader (one pipeline, `workers` threads) on the recipe's views."""
        s = self.settings
        records = [VideoRecord(p, 0) for p in self.paths]
        dataset = VideoClipDataset(records, recipe_transforms(s.crop), s.frames, s.stride, s.num_clips, train=True, decoder="dali",
                                   seed=s.seed, augment_on=augment_on)
        loader = DALIClipLoader(dataset, s.batch_videos, torch.device("cpu"), prefetch=2, num_threads=max(s.workers, 1))
        finish = DeviceAugment(dataset.transforms, torch.device("cpu")) if augment_on == "device" else None
        return loader.epoch(self._sampler(dataset, clips)), finish

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



def _log_cpu_table(runs: Dict[str, List[Run]], log: Callable[[str], None]) -> None:
    """Median clips/s and CPU ms per clip per pipeline, each against the first row (per repeat: medians of the paired ratios)."""
    first = next(iter(runs))
    log(f"\n{'pipeline':<52}{'clips/s':>9}{'CPU ms/clip':>13}{'data wait':>11}{'clips/s vs row 1':>18}{'CPU vs row 1':>14}")
    for name, rs in runs.items():
        speed = statistics.median(per_repeat_ratios(rs, runs[first]))
        cpu = statistics.median(r.cpu_ms_per_clip / b.cpu_ms_per_clip for r, b in zip(rs, runs[first]))
        log(f"{name:<52}{statistics.median(r.clips_per_s for r in rs):>9.1f}{statistics.median(r.cpu_ms_per_clip for r in rs):>13.1f}"
            f"{statistics.median(r.wait_share for r in rs):>10.0%}{speed:>17.2f}x{cpu:>13.2f}x")


def _interleaved(pipelines: Dict[str, Callable[[int], Pipeline]], settings: Settings, log: Callable[[str], None]) -> Dict[str, List[Run]]:
    runs: Dict[str, List[Run]] = {name: [] for name in pipelines}
    for repeat in range(settings.repeats):
        for name, make in pipelines.items():
            loader, finish = make(settings.clips_per_run)
            runs[name].append(time_loader(loader, settings.step_ms, finish))
            log(f"  repeat {repeat + 1}: {name:<50} {runs[name][-1].clips_per_s:7.1f} clips/s {runs[name][-1].cpu_ms_per_clip:7.1f} CPU ms/clip")
    return runs


def run_device_benchmark(h264: Sequence[Path], vp9: Sequence[Path], settings: Settings, log: Callable[[str], None] = print) -> Dict[str, Dict[str, List[Run]]]:
    """The device-side pipelines with the SCE recipe's augmentation, interleaved repeats, two tables:
    worker vs batched device augmentation (PyAV on `h264`), and the batched DALI pipeline vs the
    per-video DALI decoder (VP9 `vp9`; skipped without DALI). Empty `h264` or `vp9` skips its table."""
    s = settings
    tables: Dict[str, Dict[str, List[Run]]] = {}
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the training process augments with one intra-op thread, as a DataLoader worker does
    try:
        _device_tables(h264, vp9, s, tables, log)
    finally:
        torch.set_num_threads(threads)
    return tables


def _device_tables(h264: Sequence[Path], vp9: Sequence[Path], s: Settings, tables: Dict[str, Dict[str, List[Run]]], log: Callable[[str], None]) -> None:
    log(f"\ndevice-side pipelines: SCE recipe augmentation, {s.workers} workers (DALI: threads), batches of {s.batch_videos} videos x "
        f"{s.num_clips} clips of {s.frames} frames (stride {s.stride}), crop {s.crop}, step {s.step_ms:g} ms; {s.repeats} repeats x {s.clips_per_run} clips")
    if h264 and s.repeats:
        bench = Benchmark(h264, s)
        log(f"augmentation: worker vs device, PyAV on {len(h264)} H.264 videos (device = batched, run here on the CPU in the training process)")
        tables["augmentation"] = _interleaved({
            "pyav, worker augmentation": lambda c: bench.augmented("pyav", c, "worker"),
            "pyav, device augmentation (batched, on the CPU)": lambda c: bench.augmented("pyav", c, "device"),
        }, s, log)
        _log_cpu_table(tables["augmentation"], log)
    usable, skipped = usable_decoders(["dali"], vp9[0]) if vp9 else ([], {})
    for name, reason in skipped.items():
        log(f"  skipped {name}: {reason}")
    if usable and s.repeats:
        bench = Benchmark(vp9, s)
        log(f"\nDALI on {len(vp9)} VP9 videos (CPU operators): batched pipeline vs the per-video decoder")
        tables["dali"] = _interleaved({
            f"DALI per video, {s.workers} DataLoader workers": lambda c: bench.augmented("dali", c, "worker"),
            "DALI per video, main process (as with CUDA)": lambda c: bench.augmented("dali", c, "worker", workers=0),
            f"DALI batched, {s.workers} threads, worker augmentation": lambda c: bench.dali_batched(c, "worker"),
            f"DALI batched, {s.workers} threads, device augmentation": lambda c: bench.dali_batched(c, "device"),
        }, s, log)
        _log_cpu_table(tables["dali"], log)
