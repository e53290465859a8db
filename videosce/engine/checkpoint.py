"""Atomic checkpoints: a crash never leaves a half-written file under a real name."""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any, Dict, Optional

import torch

LAST = "last.ckpt"
BEST = "best.ckpt"


def save_checkpoint(state: Dict[str, Any], path: str | Path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> Dict[str, Any]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return torch.load(path, map_location="cpu", weights_only=True)


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
