"""One training step per method on the same backbone and batch; medians and the ratio to MoCo."""
from __future__ import annotations

import argparse
from typing import Optional, Sequence

from videosce.config import CONFIG_ROOT, load_config
from videosce.errors import exit_on_user_error


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cfg", default=str(CONFIG_ROOT / "pretrain" / "demo_sce.yaml"))
    parser.add_argument("--methods", default="moco,sce,ressl,byol,simclr")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="key.sub=value, e.g. model.backbone=r2plus1d_18 trainer.precision=bf16")
    args = parser.parse_args(argv)
    methods = args.methods.split(",")
    with exit_on_user_error():
        cfg = load_config(args.cfg, args.overrides, job="pretrain")
        for method in methods:  # the same check as method.name's
            load_config(args.cfg, [*args.overrides, f"method.name={method}"], job="pretrain")
        from videosce.benchmarks.step import benchmark_methods
        from videosce.utils.dist import resolve_device

        device = resolve_device(cfg.trainer.device)
    medians = benchmark_methods(cfg, methods, args.repeats, args.warmup, device)
    reference = medians.get("moco")
    batch = cfg.trainer.batch_size
    print(f"backbone={cfg.model.backbone} batch={batch}x{cfg.data.frames}x{cfg.data.size}^2 precision={cfg.trainer.precision} device={device}")
    print("| method | step (ms, median) | clips/s | ratio to moco |\n|---|---|---|---|")
    for method, seconds in medians.items():
        ratio = f"{seconds / reference:.3f}" if reference else "-"
        print(f"| {method} | {seconds * 1000:.1f} | {2 * batch / seconds:.1f} | {ratio} |")
