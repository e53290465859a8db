"""Median wall time of retrieval R@1/5/10/20/50 (recall_at_k) on random class-structured features, after extraction.

Also prints the CPU time: on a busy shared machine, CPU time / threads estimates the wall time of an idle one.
"""
from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402

from videosce.eval.ranking import recall_at_k  # noqa: E402


def main(argv=None) -> None:
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
        gen = torch.Generator().manual_seed(0)
        centres = torch.randn(args.classes, dim, generator=gen)
        q_labels = torch.randint(args.classes, (args.queries,), generator=gen)
        g_labels = torch.randint(args.classes, (args.gallery,), generator=gen)
        queries = centres[q_labels] + args.noise * torch.randn(args.queries, dim, generator=gen)
        gallery = centres[g_labels] + args.noise * torch.randn(args.gallery, dim, generator=gen)
        times, cpu = [], []
        for _ in range(args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            recalls = recall_at_k(queries, q_labels, gallery, g_labels)
            times.append(time.perf_counter() - start)
            cpu.append(time.process_time() - start_cpu)
        print(f"{args.queries} queries x {args.gallery} gallery, D={dim}: median {statistics.median(times):.3f} s "
              f"(min {min(times):.3f}, max {max(times):.3f}, {args.repeats} runs; CPU time {statistics.median(cpu):.3f} s "
              f"over {torch.get_num_threads()} threads); R@1 {recalls[1]:.1f}")


if __name__ == "__main__":
    main()
