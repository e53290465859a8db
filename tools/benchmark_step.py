"""One training step per method on the same backbone and batch; medians and the ratio to MoCo."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import ConfigError, load_config  # noqa: E402
from videosce.engine.benchmark import benchmark_methods  # noqa: E402
from videosce.engine.trainer import resolve_device  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cfg", default=str(Path(__file__).resolve().parents[1] / "configs" / "pretrain" / "demo_sce.yaml"))
    parser.add_argument("--methods", default="moco,sce,ressl,byol,simclr")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument("overrides", nargs="*", help="key.sub=value, e.g. model.backbone=r2plus1d_18 trainer.precision=bf16")
    args = parser.parse_args(argv)
    try:
        cfg = load_config(args.cfg, args.overrides, job="pretrain")
    except ConfigError as exc:
        raise SystemExit(f"error: {exc}") from None
    device = resolve_device(cfg.trainer.device)
    methods = args.methods.split(",")
    medians = benchmark_methods(cfg, methods, args.repeats, args.warmup, device)
    reference = medians.get("moco")
    batch = cfg.trainer.batch_size
    print(f"backbone={cfg.model.backbone} batch={batch}x{cfg.data.frames}x{cfg.data.size}^2 precision={cfg.trainer.precision} device={device}")
    print("| method | step (ms, median) | clips/s | ratio to moco |\n|---|---|---|---|")
    for method, seconds in medians.items():
        ratio = f"{seconds / reference:.3f}" if reference else "-"
        print(f"| {method} | {seconds * 1000:.1f} | {2 * batch / seconds:.1f} | {ratio} |")


if __name__ == "__main__":
    main()
