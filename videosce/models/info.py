"""Backbone statistics (parameters, GFLOPs, feature dim, CPU latency) for tools/model_info.py and tests."""
from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import List, Optional, Sequence

import torch
from fvcore.nn import FlopCountAnalysis
from torch import nn

from . import backbone_info, create_backbone

# fvcore's default handles also count one FLOP per normalised element; published tables do not.
NORM_OPS = ("batch_norm", "group_norm", "layer_norm", "instance_norm")


@dataclass(frozen=True)
class BackboneStats:
    name: str
    frames: int
    size: int
    params: int
    gflops: float
    num_features: int
    latency_ms: Optional[float]


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_gflops(model: nn.Module, frames: int, size: int, include_norm: bool = False) -> float:
    """fvcore GFLOPs of one 1x3xFxSxS clip in eval mode; one multiply-add counts as one FLOP.

    Without `include_norm` only conv / linear / matmul are counted, the convention of the
    published figures we compare with (torchvision's `_ops`, the PySlowFast and pytorchvideo
    model zoos, the X3D paper); BatchNorm would add 0.1-3.5% depending on the architecture.
    fvcore traces a real forward pass, so this costs one CPU inference. (Norm ops are dropped from
    `by_operator()`: `set_op_handle(op, None)` does not remove a default handle in fvcore 0.1.5.)
    """
    was_training = model.training
    model.eval()
    try:
        analysis = FlopCountAnalysis(model, torch.zeros(1, 3, frames, size, size))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        with torch.no_grad():
            by_op = analysis.by_operator()
        return sum(n for op, n in by_op.items() if include_norm or op not in NORM_OPS) / 1e9
    finally:
        model.train(was_training)


@torch.no_grad()
def measure_latency_ms(model: nn.Module, frames: int, size: int, repeats: int = 5) -> float:
    """Median wall time of a batch-1 eval forward on the CPU, after one warm-up pass."""
    model.eval()
    x = torch.randn(1, 3, frames, size, size)
    model(x)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        model(x)
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def backbone_stats(name: str, latency: bool = True, repeats: int = 5) -> BackboneStats:
    """Statistics of a freshly built entry at its canonical clip (`backbone_info`)."""
    info = backbone_info(name)
    frames, size = info["frames"], info["size"]
    model = create_backbone(name).eval()
    return BackboneStats(
        name=name,
        frames=frames,
        size=size,
        params=count_params(model),
        gflops=count_gflops(model, frames, size),
        num_features=model.num_features,
        latency_ms=measure_latency_ms(model, frames, size, repeats) if latency else None,
    )


def format_table(rows: Sequence[BackboneStats], markdown: bool = False) -> str:
    """One line per backbone; `markdown` gives a GitHub table."""
    header = ["backbone", "clip (TxHxW)", "params (M)", "GFLOPs", "feature dim", "CPU latency (ms)"]
    body: List[List[str]] = [
        [
            r.name,
            f"{r.frames}x{r.size}x{r.size}",
            f"{r.params / 1e6:.2f}",
            f"{r.gflops:.2f}",
            str(r.num_features),
            "-" if r.latency_ms is None else f"{r.latency_ms:.0f}",
        ]
        for r in rows
    ]
    if markdown:
        lines = [header, ["---"] + ["---:"] * (len(header) - 1), *body]
        return "\n".join("| " + " | ".join(cells) + " |" for cells in lines)
    widths = [max(len(row[i]) for row in [header, *body]) for i in range(len(header))]
    lines = [[row[0].ljust(widths[0])] + [cell.rjust(w) for cell, w in zip(row[1:], widths[1:])] for row in [header, *body]]
    return "\n".join("  ".join(cells) for cells in lines)
