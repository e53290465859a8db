"""One training step per method (and precision) on the same backbone and batch; medians, the ratio to
MoCo and the ratio to the first precision of --precisions."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import PRECISIONS, load_config  # noqa: E402
from videosce.errors import exit_on_user_error  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cfg", default=str(Path(__file__).resolve().parents[1] / "configs" / "pretrain" / "demo_sce.yaml"))
    parser.add_argument("--methods", default="moco,sce,ressl,byol,simclr")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--precisions", default="", help="comma-separated trainer.precision values timed side by side, e.g. 32,bf16,16 (default: the config's)")
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                        help="cpu: process CPU time, which other jobs on a shared machine do not inflate (use with --threads 1; CPU devices)")
    parser.add_argument("overrides", nargs="*", help="key.sub=value, e.g. model.backbone=r2plus1d_18 trainer.precision=bf16")
    args = parser.parse_args(argv)
    precisions = [p for p in args.precisions.split(",") if p]
    if set(precisions) - set(PRECISIONS):
        parser.error(f"--precisions: each must be one of {', '.join(PRECISIONS)}")
    with exit_on_user_error():
        cfg = load_config(args.cfg, args.overrides)
    import torch  # only once the config is known good

    from videosce.engine.benchmark import benchmark_methods
    from videosce.engine.trainer import resolve_device

    if args.threads:
        torch.set_num_threads(args.threads)
    device = resolve_device(cfg.trainer.device)
    methods = args.methods.split(",")
    medians = benchmark_methods(cfg, methods, args.repeats, args.warmup, device, precisions, clock=args.clock)
    batch = cfg.trainer.batch_size
    print(f"backbone={cfg.model.backbone} batch={batch}x{cfg.data.frames}x{cfg.data.size}^2 device={device} "
          f"threads={torch.get_num_threads()} clock={args.clock}")
    first_precision = next(iter(medians))[1]
    print(f"| method | precision | step ({args.clock} ms, median) | clips/s | ratio to moco | ratio to first precision |\n|---|---|---|---|---|---|")
    for (method, precision), seconds in medians.items():
        to_moco = medians.get(("moco", precision))
        to_first = medians[(method, first_precision)]
        print(f"| {method} | {precision} | {seconds * 1000:.1f} | {2 * batch / seconds:.1f} | "
              f"{f'{seconds / to_moco:.3f}' if to_moco else '-'} | {seconds / to_first:.3f} |")


if __name__ == "__main__":
    main()
