"""One training step per method (or per config variant) on the same backbone and batch; medians and
the ratio to the first row.

`--variant NAME KEY=VALUE ...` (repeatable) times the config with those overrides instead of the
methods, e.g. `--variant sce --variant densecl method.densecl.weight=0.5`; overrides shared by
every row go before the first --variant. clips/s counts the 2 global clips of each video.
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
    parser.add_argument("overrides", nargs="*", help="key.sub=value, e.g. model.backbone=r2plus1d_18 trainer.precision=bf16")
    args = parser.parse_args(argv)
    rows = [(name, extra) for name, *extra in args.variant] if args.variant else [(m, [f"method.name={m}"]) for m in args.methods.split(",")]
    with exit_on_user_error():
        cfg = load_config(args.cfg, args.overrides, job="pretrain")
        cfgs = {name: load_config(args.cfg, [*args.overrides, *extra], job="pretrain") for name, extra in rows}
        from videosce.benchmarks.step import benchmark_configs
        from videosce.utils.dist import resolve_device

        device = resolve_device(cfg.trainer.device)
    medians = benchmark_configs(cfgs, args.repeats, args.warmup, device)
    first = next(iter(medians))
    batch = cfg.trainer.batch_size
    print(f"backbone={cfg.model.backbone} batch={batch}x{cfg.data.frames}x{cfg.data.size}^2 precision={cfg.trainer.precision} device={device}")
    print(f"| {'variant' if args.variant else 'method'} | step (ms, median) | clips/s | ratio to {first} |\n|---|---|---|---|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds * 1000:.1f} | {2 * batch / seconds:.1f} | {seconds / medians[first]:.3f} |")
