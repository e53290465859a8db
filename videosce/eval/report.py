"""What every evaluation tool shares: checkpoints x splits, then `<tool>.json` + `<tool>.md` naming the protocol."""
from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any, Callable, Dict, Mapping, NamedTuple, Sequence

import torch
from omegaconf import DictConfig

from videosce.config import with_values
from videosce.engine.run import eval_backbones, prepare_run, write_json
from videosce.engine.trainer import resolve_device, with_runnable_precision
from videosce.models import VideoBackbone

from .features import FeatureCache
from .metrics import ClassificationReport, mean_std, per_class_json
from .plots import plot_confusion, plot_training_curves

SPLITS = (1, 2, 3)


class EvalContext(NamedTuple):
    name: str  # the checkpoint entry: a path or "random"
    run_dir: Path  # this checkpoint's (and split's) directory for logs and pictures
    cache: FeatureCache
    device: torch.device


Evaluate = Callable[[VideoBackbone, DictConfig, EvalContext], Dict[str, float]]


def over_splits(cfg: DictConfig, run: Callable[[DictConfig, str], Dict[str, float]]) -> Dict[str, Any]:
    """`run` on data.split, or with data.split=all on splits 1-3: mean, `_std` (n - 1) and each split's row."""
    if cfg.data.split != "all":
        return run(cfg, "")
    per_split = {f"split{s}": run(with_values(cfg, {"data.split": s}), f"split{s}") for s in SPLITS}
    return {**mean_std(list(per_split.values())), "splits": per_split}


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


def evaluate_checkpoints(cfg: DictConfig, tool: str, title: str, evaluate: Evaluate) -> Dict[str, Any]:
    """`evaluate` every checkpoint of `checkpoint=` (on every split of data.split=all); write
    `<output_dir>/<tool>.json` (the row itself for one checkpoint) and `<tool>.md`; print the table."""
    cfg = with_runnable_precision(cfg)
    output_dir = prepare_run(cfg)
    device = resolve_device(cfg.trainer.device)
    rows: Dict[str, Any] = {}
    for i, (name, backbone, checkpoint_cfg) in enumerate(eval_backbones(cfg)):
        cache = FeatureCache(output_dir / "feature_cache", name, checkpoint_cfg)
        run_dir = output_dir / f"run{i}_{Path(name).stem}"

        def run(split_cfg: DictConfig, sub: str) -> Dict[str, float]:
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
            return evaluate(copy.deepcopy(backbone), split_cfg, EvalContext(name, run_dir / sub, cache, device))

        rows[name] = over_splits(checkpoint_cfg, run)
    write_json(output_dir / f"{tool}.json", next(iter(rows.values())) if len(rows) == 1 else rows)
    table = markdown_table(rows)
    (output_dir / f"{tool}.md").write_text(f"**{title}**\n\n{table}\n")
    print(f"{title}\n{table}")
    return rows


def save_class_report(run_dir: Path, classes: Sequence[str], report: ClassificationReport, title: str) -> None:
    """`per_class.json` (accuracy per class, confusion counts) and `confusion.png`."""
    (run_dir / "per_class.json").write_text(json.dumps(per_class_json(classes, report), indent=2) + "\n")
    plot_confusion(report.confusion, classes, run_dir / "confusion.png", f"{title}: top-1 {report.metrics['top1']:.1f}%")


def save_curves(run_dir: Path) -> None:
    """`<stream>_curves.png` beside each training CSV the run wrote."""
    for csv_path in sorted(run_dir.glob("*.csv")):
        plot_training_curves(csv_path, csv_path.with_name(f"{csv_path.stem}_curves.png"))
