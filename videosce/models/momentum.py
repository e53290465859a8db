"""EMA (target) update and the FIFO queue of target keys."""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def cosine_momentum(step: int, max_steps: int, base: float) -> float:
    """m = 1 - (1 - m0) * (cos(pi * step / max_steps) + 1) / 2: from m0 at step 0 to 1 at the end."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * min(step, max_steps) / max(max_steps, 1)) + 1.0) / 2.0


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- m * target + (1 - m) * online, parameters only (BN statistics stay the target's own)."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)


class KeyQueue(nn.Module):
    """FIFO of the last `size` keys; a buffer, so it is saved and restored with the model."""

    def __init__(self, size: int, dim: int) -> None:
        super().__init__()
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        keys = keys.detach().to(self.keys.dtype)
        size = self.keys.shape[0]
        if keys.shape[0] >= size:
            self.keys.copy_(keys[-size:])
            self.ptr.zero_()
            return
        idx = (self.ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.keys[idx] = keys
        self.ptr.copy_((self.ptr + keys.shape[0]) % size)
