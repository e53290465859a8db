"""What every evaluation writes: the markdown table of its rows, per-class accuracies, the confusion matrix and curves."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Mapping, Sequence

from .metrics import ClassificationReport, per_class_json
from .plots import plot_confusion, plot_training_curves


def markdown_table(rows: Mapping[str, Mapping[str, Any]]) -> str:
    """One row per checkpoint; a metric with a `_std` companion shows as mean ± std, a count as an integer."""
    first = next(iter(rows.values()))
    columns = [c for c in first if c != "splits" and not c.endswith("_std")]

    def cell(row: Mapping[str, Any], column: str) -> str:
        if column + "_std" in row:
            return f"{row[column]:.2f} ± {row[column + '_std']:.2f}"
        return str(row[column]) if isinstance(row[column], int) else f"{row[column]:.2f}"

    lines = ["| checkpoint | " + " | ".join(columns) + " |", "|---" * (len(columns) + 1) + "|"]
    lines += [f"| {name} | " + " | ".join(cell(row, c) for c in columns) + " |" for name, row in rows.items()]
    return "\n".join(lines)


def save_class_report(run_dir: Path, classes: Sequence[str], report: ClassificationReport, title: str) -> None:
    """`per_class.json` (accuracy per class, confusion counts) and `confusion.png`."""
    (run_dir / "per_class.json").write_text(json.dumps(per_class_json(classes, report), indent=2) + "\n")
    plot_confusion(report.confusion, classes, run_dir / "confusion.png", f"{title}: top-1 {report.metrics['top1']:.1f}%")


def save_curves(run_dir: Path) -> None:
    """`<stream>_curves.png` beside each training CSV the run wrote."""
    for csv_path in sorted(run_dir.glob("*.csv")):
        plot_training_curves(csv_path, csv_path.with_name(f"{csv_path.stem}_curves.png"))
