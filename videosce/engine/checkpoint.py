"""Atomic checkpoints: a crash never leaves a half-written file under a real name."""
from __future__ import annotations

import os
import pickle
import re
from pathlib import Path
from typing import Any, Dict, Optional

import torch

from videosce.errors import UserError

LAST = "last.ckpt"
BEST = "best.ckpt"


def save_checkpoint(state: Dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


class CheckpointError(UserError):
    """A checkpoint file that cannot be loaded: truncated, damaged, or holding more than tensors."""


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
            f"{path}: truncated or damaged ({_torch_detail(exc)}); use an intact copy (e.g. an epoch-NNNN.ckpt of the same run)"
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


def prune_epoch_checkpoints(checkpoint_dir: Path, keep_last: int) -> None:
    """Keep the newest `keep_last` epoch-NNNN.ckpt files (last.ckpt is separate)."""
    epochs = sorted(p for p in checkpoint_dir.glob("epoch-*.ckpt") if re.fullmatch(r"epoch-\d+\.ckpt", p.name))
    for old in epochs[: max(len(epochs) - keep_last, 0)]:
        old.unlink()
