"""Training-curve PNGs (loss, LR, accuracy) from the CSV logs of a run: <csv>_curves.png beside each CSV."""
from __future__ import annotations

import argparse
from pathlib import Path
from typing import List, Optional, Sequence

from videosce.errors import UserError, exit_on_user_error


def run(run_dir: Path) -> List[Path]:
    """One PNG per CSV log found under `run_dir` (recursively); returns their paths."""
    from videosce.eval.plots import plot_training_curves

    csvs = sorted(Path(run_dir).rglob("*.csv"))
    if not csvs:
        raise UserError(f"no CSV logs (train.csv, finetune.csv, linear.csv, ...) under {run_dir}")
    return [plot_training_curves(path, path.with_name(f"{path.stem}_curves.png")) for path in csvs]


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", required=True, type=Path, help="a run's output_dir (its CSVs are searched recursively)")
    args = parser.parse_args(argv)
    with exit_on_user_error():
        for png in run(args.run):
            print(png)
