"""The tensor-level pieces of the momentum methods: the EMA update of a target and the FIFO queue of keys."""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- m * target + (1 - m) * online, parameters only (BN statistics stay the target's own)."""
    for t, o in zip(target.parameters(), online.parameters()):
        t.mul_(momentum).add_(o.detach(), alpha=1.0 - momentum)


class KeyQueue(nn.Module):
    """FIFO of the last `size` keys; a buffer, so it is saved and restored with the model.

    With `track_ages`, `ages` (a saved buffer) counts the optimizer steps each key has spent in the
    queue: 0 at enqueue, +1 per `tick()` (VideoMoCo's temporal decay reads it). Without, `ages` is
    None and the checkpoint layout is unchanged.
    """

    def __init__(self, size: int, dim: int, track_ages: bool = False) -> None:
        super().__init__()
        self.register_buffer("keys", F.normalize(torch.randn(size, dim), dim=1))
        self.register_buffer("ptr", torch.zeros((), dtype=torch.long))
        self.register_buffer("ages", torch.zeros(size, dtype=torch.long) if track_ages else None)

    @torch.no_grad()
    def enqueue(self, keys: torch.Tensor) -> None:
        keys = keys.detach().to(self.keys.dtype)
        size = self.keys.shape[0]
        if keys.shape[0] >= size:
            self.keys.copy_(keys[-size:])
            self.ptr.zero_()
            if self.ages is not None:
                self.ages.zero_()
            return
        idx = (self.ptr + torch.arange(keys.shape[0], device=keys.device)) % size
        self.keys[idx] = keys
        if self.ages is not None:
            self.ages[idx] = 0
        self.ptr.copy_((self.ptr + keys.shape[0]) % size)

    @torch.no_grad()
    def tick(self) -> None:
        """One optimizer step has passed: every key is one step older."""
        if self.ages is not None:
            self.ages.add_(1)
