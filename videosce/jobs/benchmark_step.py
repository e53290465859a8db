"""One training step per method (or per config variant) on the same backbone and batch; medians and
the ratio to the first row.

`--variant NAME KEY=VALUE ...` (repeatable) times the config with those overrides instead of the
methods, e.g. `--variant sce --variant densecl method.densecl.weight=0.5`; overrides shared by
every row go before the first --variant, e.g. precisions side by side: `--variant 32
trainer.precision=32 --variant bf16 trainer.precision=bf16`. clips/s counts the 2 global clips of
each video. `--threads 1 --clock cpu` times by the process's CPU time, which other jobs on a
shared machine do not inflate (CPU devices).
"""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from videosce.config import CONFIG_ROOT, load_config
from videosce.errors import exit_on_user_error


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default=str(CONFIG_ROOT / "pretrain" / "demo_sce.yaml"))
    parser.add_argument("--methods", default="moco,sce,ressl,byol,simclr")
    parser.add_argument("--variant", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"), help="a row: config overrides, instead of --methods")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("--threads", type=int, default=0, help="torch intra-op threads (default: torch's choice)")
    parser.add_argument("--clock", choices=("wall", "cpu"), default="wall", help="cpu: the process's CPU time (use with --threads 1)")
    parser.add_argument("overrides", nargs="*", help="key.sub=value, e.g. model.backbone=r2plus1d_18 trainer.precision=bf16")
    args = parser.parse_args(argv)
    rows = [(name, extra) for name, *extra in args.variant] if args.variant else [(m, [f"method.name={m}"]) for m in args.methods.split(",")]
    with exit_on_user_error():
        cfg = load_config(args.cfg, args.overrides, job="pretrain")
        cfgs = {name: load_config(args.cfg, [*args.overrides, *extra], job="pretrain") for name, extra in rows}
        import torch  # only once the config is known good

        from videosce.benchmarks.step import benchmark_configs
        from videosce.utils.dist import resolve_device

        device = resolve_device(cfg.trainer.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    medians = benchmark_configs(cfgs, args.repeats, args.warmup, device, args.clock)
    first = next(iter(medians))
    batch = cfg.trainer.batch_size
    print(f"backbone={cfg.model.backbone} batch={batch}x{cfg.data.frames}x{cfg.data.size}^2 precision={cfg.trainer.precision} "
          f"device={device} threads={torch.get_num_threads()} clock={args.clock}")
    print(f"| {'variant' if args.variant else 'method'} | step (ms, median) | clips/s | ratio to {first} |\n|---|---|---|---|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds * 1000:.1f} | {2 * batch / seconds:.1f} | {seconds / medians[first]:.3f} |")
