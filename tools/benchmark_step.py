"""One training step per method (or per config variant) on the same backbone and batch; medians and
the ratio to the first row.

`--variant NAME KEY=VALUE ...` (repeatable) times the config with those overrides instead of the
methods, e.g. `--variant sce --variant densecl method.densecl.weight=0.5`; overrides shared by
every row go before the first --variant. clips/s counts the 2 global clips of each video.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import ConfigError, load_config  # noqa: E402
from videosce.engine.benchmark import benchmark_configs, benchmark_methods  # noqa: E402
from videosce.engine.trainer import resolve_device  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cfg", default=str(Path(__file__).resolve().parents[1] / "configs" / "pretrain" / "demo_sce.yaml"))
    parser.add_argument("--methods", default="moco,sce,ressl,byol,simclr")
    parser.add_argument("--variant", nargs="+", action="append", metavar=("NAME", "KEY=VALUE"), help="a row: config overrides, instead of --methods")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="key.sub=value, e.g. model.backbone=r2plus1d_18 trainer.precision=bf16")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.cfg, args.overrides, job="pretrain")
        variants = {name: load_config(args.cfg, [*args.overrides, *extra], job="pretrain") for name, *extra in args.variant or []}
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    device = resolve_device(cfg.trainer.device)
    if variants:
        medians = benchmark_configs(variants, args.repeats, args.warmup, device)
    else:
        medians = benchmark_methods(cfg, args.methods.split(","), args.repeats, args.warmup, device)
    first = next(iter(medians))
    batch = cfg.trainer.batch_size
    print(f"backbone={cfg.model.backbone} batch={batch}x{cfg.data.frames}x{cfg.data.size}^2 precision={cfg.trainer.precision} device={device}")
    print(f"| {'variant' if variants else 'method'} | step (ms, median) | clips/s | ratio to {first} |\n|---|---|---|---|")
    for name, seconds in medians.items():
        print(f"| {name} | {seconds * 1000:.1f} | {2 * batch / seconds:.1f} | {seconds / medians[first]:.3f} |")


if __name__ == "__main__":
    main()
