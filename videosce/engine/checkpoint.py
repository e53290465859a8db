"""Atomic checkpoints: a crash never leaves a half-written file under a real name.

A run keeps its full state (model, optimizer, queue, RNG: what resume needs) once, in last.ckpt,
and exports the backbone's weights alone: {"state_dict": <the backbone's state_dict, the reference
definition's keys>, "config": <the run's resolved config>, "epoch", "global_step", ...}, the file
the evaluation tools and `load_backbone_weights` read (and `torch.load(f)["state_dict"]` gives a
torchvision / pytorchvideo model without its classifier, strict=True).
"""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any, Dict, Optional

import torch
from torch import nn

from videosce.errors import UserError

LAST = "last.ckpt"
FINAL_BACKBONE = "backbone.pt"
EPOCH_BACKBONE = re.compile(r"backbone-epoch-\d+\.pt")


class CheckpointError(UserError):
    """A checkpoint file that cannot be loaded (truncated, damaged, or holding more than tensors) or written."""


def save_checkpoint(state: Dict[str, Any], path: str | Path) -> Path:
    """Write `state` to a temporary file beside `path`, flush it to the disk, then rename it over
    `path`: `path` is always a whole checkpoint, the old one or the new one. A failed write (disk
    full, quota, I/O error) removes the temporary file and raises CheckpointError, one line naming
    the file, the cause and what to do; `path` keeps the last good checkpoint."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    try:
        with open(tmp, "wb") as handle:
            torch.save(state, handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as exc:  # torch.save reports a failed write as RuntimeError
        tmp.unlink(missing_ok=True)
        kept = f"the last good one, {path}, is intact" if path.is_file() else "no earlier checkpoint exists"
        cause = exc.strerror if isinstance(exc, OSError) and exc.strerror else _torch_detail(exc)
        raise CheckpointError(f"could not write checkpoint {path}: {cause}; {kept}. Free space on that disk "
                              "(or choose another output_dir) and rerun with resume=auto") from None
    return path


def load_checkpoint(path: str | Path) -> Dict[str, Any]:
    """The saved dict, unpickled with weights_only=True (tensors and plain containers only);
    CheckpointError, one line naming the file, for anything else."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        detail = _torch_detail(exc)
        if "GLOBAL" in detail:
            raise CheckpointError(
                f"{path}: not loaded, it holds Python objects beyond tensors and plain containers ({detail}); "
                "load only checkpoints you trust, saved by videosce or as a plain state_dict"
            ) from None
        raise CheckpointError(f"{path}: not a PyTorch checkpoint or damaged ({detail}); use an intact copy") from None
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(
            f"{path}: truncated or damaged ({_torch_detail(exc)}); use an intact copy (or, to evaluate, a backbone-epoch-NNNN.pt of the same run)"
        ) from None


def _torch_detail(exc: BaseException) -> str:
    """The informative line of torch.load's message, without its boilerplate about weights_only."""
    lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
    boilerplate = ("Weights only load failed", "Please file an issue", "Check the documentation")
    informative = [line for line in lines if not line.startswith(boilerplate)]
    return (informative or lines or [type(exc).__name__])[0]


def resolve_resume(resume: Optional[str], checkpoint_dir: Path) -> Optional[Path]:
    """`resume=auto` -> last.ckpt in this run if it exists; a path -> that path; None -> fresh start."""
    if not resume:
        return None
    if resume == "auto":
        last = checkpoint_dir / LAST
        return last if last.is_file() else None
    return Path(resume)


def epoch_backbone_name(epoch: int) -> str:
    return f"backbone-epoch-{epoch:04d}.pt"


def best_backbone_name(metric: str) -> str:
    """Named for what chose it, e.g. backbone-best-knn_top1.pt."""
    return f"backbone-best-{metric}.pt"


def export_backbone(backbone: nn.Module, config: Dict[str, Any], path: str | Path, **meta: Any) -> Path:
    """The backbone's weights and the run's config (plain containers), atomically."""
    return save_checkpoint({"state_dict": backbone.state_dict(), "config": config, **meta}, path)


def prune_epoch_backbones(checkpoint_dir: Path, keep_last: int) -> None:
    """Keep the newest `keep_last` backbone-epoch-NNNN.pt files."""
    epochs = sorted(p for p in checkpoint_dir.glob("backbone-epoch-*.pt") if EPOCH_BACKBONE.fullmatch(p.name))
    for old in epochs[: max(len(epochs) - keep_last, 0)]:
        old.unlink()
