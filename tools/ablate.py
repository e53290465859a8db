"""Ablation of the SCE options: every variant x seed pretrained under one budget, then retrieval and
finetune; writes <output_dir>/ablation.md and ablation.json (mean ± std over seeds, step-cost ratio).

Re-running the same command skips finished runs and resumes an interrupted one.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.config import load_ablation_config  # noqa: E402
from videosce.errors import exit_on_user_error  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cfg", required=True, help="ablation YAML, or the name of one in configs/ablate/ (e.g. demo)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the ablation config, e.g. seeds=[0]")
    args = parser.parse_args(argv)
    with exit_on_user_error():
        cfg = load_ablation_config(args.cfg, args.overrides)
        from videosce.eval.ablation import run_ablation  # imports torch: only once the config is known good

        run_ablation(cfg)


if __name__ == "__main__":
    main()
