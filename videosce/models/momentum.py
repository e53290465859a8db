"""EMA (target) update, the FIFO queue of target keys, and the warm-ups of SCE's coeff and temp_m."""
from __future__ import annotations

import math
from typing import Dict, NamedTuple

import torch
import torch.nn.functional as F
from torch import nn


def cosine_momentum(step: int, max_steps: int, base: float) -> float:
    """m = 1 - (1 - m0) * (cos(pi * step / max_steps) + 1) / 2: from m0 at step 0 to 1 at the end."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * min(step, max_steps) / max(max_steps, 1)) + 1.0) / 2.0


def warmup_value(progress: float, warmup: float, start: float, final: float, shape: str = "linear") -> float:
    """`start` -> `final` over the first `warmup` fraction of training (linear or cosine), then `final`.

    progress = step / max_steps. Fractions rather than epochs, so the method needs nothing but the
    (step, max_steps) that the trainer already passes (E warm-up epochs of T: warmup = E / T).
    """
    if warmup <= 0 or progress >= warmup:
        return final
    x = progress / warmup
    if shape == "cosine":
        x = (1.0 - math.cos(math.pi * x)) / 2.0
    return start + (final - start) * x


class SCESchedule(NamedTuple):
    """SCE's warm-ups (Denize et al.; the reference code's default shapes): lambda linearly from 1 to
    `coeff`, tau_m with a cosine from `temp_m_start` to `temp_m`; warm-ups are fractions of training."""

    coeff: float
    temp_m: float
    coeff_warmup: float = 0.0
    temp_m_start: float = 0.05
    temp_m_warmup: float = 0.0

    def at(self, progress: float) -> Dict[str, float]:
        return {
            "coeff": warmup_value(progress, self.coeff_warmup, 1.0, self.coeff),
            "temp_m": warmup_value(progress, self.temp_m_warmup, self.temp_m_start, self.temp_m, "cosine"),
        }


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
