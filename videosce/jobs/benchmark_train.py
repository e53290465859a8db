"""Training throughput per data pipeline: clips/s and GPU busy % (the share of step time not spent
waiting for data) of SCE training steps for R(2+1)D-18 16x112 and R3D-50 8x224, with pyav + worker
augmentation, pyav + device augmentation and dali + device augmentation, on H.264 videos it
generates once under --data-dir (Kinetics-like 340x256 and 1280x720, 10 s, 25 fps, GOP 50).

Needs a CUDA GPU (bf16 steps). --dry-run runs the same code on the CPU with tiny settings (r3d_tiny,
4x32 clips, batch 2, 64x48 VP9 videos that DALI's CPU operators decode): a test, not a measurement.
"""
from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path
from typing import Optional, Sequence

from videosce.errors import UserError, exit_on_user_error


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-dir", type=Path, default=Path("data/benchmark"), help="where the generated videos are cached")
    parser.add_argument("--videos", type=int, default=16, help="generated videos per resolution")
    parser.add_argument("--warmup", type=int, default=2, help="untimed steps per row")
    parser.add_argument("--steps", type=int, default=6, help="timed steps per row")
    parser.add_argument("--workers", type=int, default=min(16, os.cpu_count() or 1), help="DataLoader workers / DALI threads")
    parser.add_argument("--dry-run", action="store_true", help="the same code on the CPU with tiny settings")
    args = parser.parse_args(argv)
    import torch

    from videosce.benchmarks.data import VideoSetSpec, benchmark_videos
    from videosce.benchmarks.train import DRY_RUN, run_table

    with exit_on_user_error():
        if args.dry_run:
            device = torch.device("cpu")
            sets = {"64x48 VP9 2 s": VideoSetSpec(num_videos=2, seconds=2, width=64, height=48, gop=10, codec="vp9")}
            extra = [*DRY_RUN, "trainer.device=cpu", "trainer.precision=32", "data.num_workers=1", "data.dali.num_threads=1"]
        else:
            if not torch.cuda.is_available():
                raise UserError("videosce-benchmark-train measures GPU training steps and no CUDA GPU is available; --dry-run runs it on the CPU")
            device = torch.device("cuda", torch.cuda.current_device())
            sets = {f"{w}x{h} H.264": VideoSetSpec(num_videos=args.videos, seconds=10, width=w, height=h, fps=25, gop=50) for w, h in ((340, 256), (1280, 720))}
            extra = ["trainer.device=cuda", "trainer.precision=bf16", f"data.num_workers={args.workers}", f"data.dali.num_threads={args.workers}"]
        videos = {name: benchmark_videos(args.data_dir, spec, progress=False, processes=args.workers) for name, spec in sets.items()}
        if args.dry_run:
            print("dry run on the CPU: every row trains r3d_tiny on 4x32 clips, batch 2, 1 worker; its numbers measure nothing")
        else:
            print(f"{torch.cuda.get_device_name()}, {os.cpu_count()} CPUs; {args.workers} DataLoader workers / DALI threads; "
                  f"{args.warmup} + {args.steps} steps per row")
        with tempfile.TemporaryDirectory() as runs:
            run_table(videos, Path(runs), args.warmup, args.steps, device, extra)
