"""Training-curve PNGs (loss, LR, accuracy) from the CSV logs of a run: <csv>_curves.png beside each CSV."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.errors import UserError, exit_on_user_error  # noqa: E402
from videosce.eval.plots import plot_training_curves  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--run", required=True, type=Path, help="a run's output_dir (its CSVs are searched recursively)")
    args = parser.parse_args(argv)
    with exit_on_user_error():
        csvs = sorted(args.run.rglob("*.csv"))
        if not csvs:
            raise UserError(f"no CSV logs (train.csv, finetune.csv, linear.csv, ...) under {args.run}")
        for path in csvs:
            print(plot_training_curves(path, path.with_name(f"{path.stem}_curves.png")))


if __name__ == "__main__":
    main()
