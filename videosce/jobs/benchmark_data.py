"""Data-loading benchmark: clips/s of our loader per decoder backend vs pytorchvideo's
LabeledVideoDataset (PyAV, RandomMultiClipSampler), the GOP-bound reference and worker RSS
(section `decoders`); then the device-side pipelines with the SCE recipe's augmentation: worker vs
batched device augmentation, CPU time per clip (`augment`), and the batched DALI pipeline vs the
per-video DALI decoder on VP9 files (`dali`).

Without --cfg it generates (once, under --data-dir) 24 videos of 10 s, 320x240 H.264, GOP 50 (and
the same in VP9 for `dali`). With --cfg it uses that config's train videos, data.frames/stride/size
and data.num_workers (the `dali` section still uses the generated VP9 set).
"""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import Optional, Sequence

from videosce.benchmarks.data import Settings, VideoSetSpec, benchmark_videos, run_benchmark, run_device_benchmark
from videosce.config import load_config
from videosce.data.decoders import DECODERS
from videosce.errors import exit_on_user_error


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", help="YAML config whose train videos to use (default: the generated set)")
    parser.add_argument("overrides", nargs="*", help="key.sub=value overrides for --cfg")
    parser.add_argument("--decoders", default=",".join(DECODERS.list()), help="comma-separated backends")
    parser.add_argument("--workers", type=int, help="DataLoader workers (default 2, or data.num_workers)")
    parser.add_argument("--clips", type=int, default=Settings.clips_per_run, help="clips timed per run")
    parser.add_argument("--repeats", type=int, default=Settings.repeats, help="runs per pipeline (median reported; 0: memory run only)")
    parser.add_argument("--rss-clips", type=int, default=Settings.rss_clips, help="clips of the memory run per decoder (0: none)")
    parser.add_argument("--step-ms", type=float, default=Settings.step_ms, help="simulated model step per batch")
    parser.add_argument("--batch", type=int, default=Settings.batch_videos, help="videos per batch")
    parser.add_argument("--no-pytorchvideo", action="store_true", help="skip the pytorchvideo baseline")
    parser.add_argument("--sections", default="decoders,augment,dali", help="comma-separated: decoders, augment, dali")
    parser.add_argument("--data-dir", type=Path, default=Path("data/benchmark"), help="where the generated set is cached")
    parser.add_argument("--videos", type=int, default=VideoSetSpec.num_videos, help="generated videos")
    parser.add_argument("--seconds", type=int, default=VideoSetSpec.seconds, help="length of each generated video")
    parser.add_argument("--gop", type=int, default=VideoSetSpec.gop, help="keyframe interval of the generated videos")
    args = parser.parse_args(argv)
    run = dict(clips_per_run=args.clips, repeats=args.repeats, rss_clips=args.rss_clips, step_ms=args.step_ms, batch_videos=args.batch)
    with exit_on_user_error():
        if args.cfg:
            from videosce.data.datasets import read_index

            from .common import prepare_data

            cfg = load_config(args.cfg, args.overrides, job="pretrain")
            prepare_data(cfg.data)
            paths = [r.path for r in read_index(cfg.data, "train").records]
            workers = cfg.data.num_workers if args.workers is None else args.workers
            settings = Settings(frames=cfg.data.frames, stride=cfg.data.stride, crop=cfg.data.size, workers=workers, **run)
            describe = f"benchmark: {len(paths)} train videos of {args.cfg}"
        else:
            spec = VideoSetSpec(num_videos=args.videos, seconds=args.seconds, gop=args.gop)
            paths = benchmark_videos(args.data_dir, spec)
            settings = Settings(workers=2 if args.workers is None else args.workers, **run)
            describe = (f"benchmark: {spec.num_videos} generated videos of {spec.seconds} s, {spec.width}x{spec.height} "
                        f"H.264 GOP {spec.gop} at {spec.fps} fps ({args.data_dir})")
        sections = args.sections.split(",")
        if "decoders" in sections:
            run_benchmark(paths, settings, args.decoders.split(","), describe, with_pytorchvideo=not args.no_pytorchvideo)
        vp9 = []
        if "dali" in sections:
            vp9 = benchmark_videos(args.data_dir, VideoSetSpec(num_videos=args.videos, seconds=args.seconds, gop=args.gop, codec="vp9"))
        if "augment" in sections or vp9:
            run_device_benchmark(paths if "augment" in sections else [], vp9, settings)
