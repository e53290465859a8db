"""Pictures of a run: training curves from its CSV logs, a confusion matrix, retrieval examples.

Figures are drawn on matplotlib's Agg canvas directly (no pyplot), so nothing here changes the
global backend or needs a display.
"""
from __future__ import annotations

import csv
import textwrap
from pathlib import Path
from typing import Dict, List, NamedTuple, Sequence

import numpy as np
import torch
from matplotlib.figure import Figure

CURVES = ("loss", "lr", "acc", "knn_top1", "test_top1")  # plotted when the CSV has the column
MARKED_POINTS = 100  # curves with at most this many points get a marker on each


def read_csv_columns(path: str | Path) -> Dict[str, List[float]]:
    with Path(path).open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    columns = rows[0].keys() if rows else []
    return {c: [float(r[c]) for r in rows] for c in columns}


def plot_training_curves(csv_path: str | Path, out_path: str | Path) -> Path:
    """One panel per logged curve (loss, lr, accuracy) against the step, titled with the run (the
    CSV's folder) and the stream; every logged point is marked, so a short run with one or a few
    rows shows its points instead of empty axes."""
    csv_path = Path(csv_path)
    data = read_csv_columns(csv_path)
    names = [c for c in CURVES if c in data]
    if "step" not in data or not names:
        raise ValueError(f"{csv_path}: needs a 'step' column and one of {', '.join(CURVES)}")
    fig = Figure(figsize=(4 * len(names), 3.2), constrained_layout=True)
    marker = "o" if len(data["step"]) <= MARKED_POINTS else None
    for ax, name in zip(fig.subplots(1, len(names), squeeze=False)[0], names):
        ax.plot(data["step"], data[name], marker=marker, markersize=4)
        ax.set_xlabel("step")
        ax.set_title(name)
        ax.grid(alpha=0.3)
    fig.suptitle(f"{csv_path.parent.resolve().name}: {csv_path.stem} ({len(data['step'])} logged steps)")
    fig.savefig(out_path, dpi=100)
    return Path(out_path)


def plot_confusion(confusion: torch.Tensor, classes: Sequence[str], out_path: str | Path, title: str) -> Path:
    """Row-normalised confusion matrix (rows: true class, columns: prediction)."""
    counts = confusion.double()
    rates = (counts / counts.sum(dim=1, keepdim=True).clamp(min=1)).numpy()
    side = min(max(4.0, 0.12 * len(classes) + 3), 16.0)
    fig = Figure(figsize=(side, side), constrained_layout=True)
    ax = fig.subplots()
    image = ax.imshow(rates, cmap="viridis", vmin=0, vmax=1)
    if len(classes) <= 30:
        ax.set_xticks(range(len(classes)), classes, rotation=90, fontsize=7)
        ax.set_yticks(range(len(classes)), classes, fontsize=7)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(textwrap.fill(title, 80), fontsize=9)
    fig.colorbar(image, ax=ax, shrink=0.8)
    fig.savefig(out_path, dpi=100)
    return Path(out_path)


class RetrievalExample(NamedTuple):
    query: np.ndarray  # (H,W,3) uint8 middle frame
    query_class: str
    matches: List[tuple]  # (frame, class name, hit) of the top gallery videos, best first


def plot_retrieval(examples: Sequence[RetrievalExample], out_path: str | Path, title: str) -> Path:
    """One row per query: its middle frame, then its top gallery videos framed green (hit) or red."""
    cols = 1 + max(len(e.matches) for e in examples)
    fig = Figure(figsize=(1.9 * cols, 2.0 * len(examples) + 0.4), constrained_layout=True)
    axes = fig.subplots(len(examples), cols, squeeze=False)
    for row, example in zip(axes, examples):
        cells = [(example.query, f"query: {example.query_class}", "black")]
        cells += [(frame, name, "green" if hit else "red") for frame, name, hit in example.matches]
        for ax, (frame, label, colour) in zip(row, cells):
            ax.imshow(frame)
            ax.set_title(label, fontsize=7, color=colour)
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(4 if colour != "black" else 1)
        for ax in row[len(cells) :]:
            ax.axis("off")
    fig.suptitle(textwrap.fill(title, 24 * cols), fontsize=9)
    fig.savefig(out_path, dpi=90)
    return Path(out_path)
