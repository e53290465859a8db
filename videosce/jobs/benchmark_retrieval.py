"""Median wall time of retrieval R@1/5/10/20/50 (recall_at_k) on random class-structured features, after extraction.

Also prints the CPU time: on a busy shared machine, CPU time / threads estimates the wall time of an idle one.
"""
from __future__ import annotations

import argparse
import os
import statistics
from typing import Optional, Sequence


def main(argv: Optional[Sequence[str]] = None) -> None:
    import torch

    from videosce.benchmarks.retrieval import time_recall_at_k

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--gallery", type=int, default=10_000)
    parser.add_argument("--dims", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--classes", type=int, default=101)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--noise", type=float, default=5.0, help="per-dimension noise around unit-variance class centres")
    args = parser.parse_args(argv)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {os.getloadavg()[0]:.1f}")
    for dim in args.dims:
        times, cpu, recalls = time_recall_at_k(args.queries, args.gallery, dim, args.classes, args.repeats, args.noise)
        print(f"{args.queries} queries x {args.gallery} gallery, D={dim}: median {statistics.median(times):.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f}, {args.repeats} runs; CPU time {statistics.median(cpu):.3f} s "
              f"over {torch.get_num_threads()} threads); R@1 {recalls[1]:.1f}")
