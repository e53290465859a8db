"""Every per-step schedule of a run, as plain functions of (step, max_steps) or progress = step / max_steps.

Torch-free, so the engine (learning rate) and the methods (EMA momentum, SCE's warm-ups) share them.
"""
from __future__ import annotations

import math
from typing import Dict, NamedTuple, Optional


def warmup_cosine(step: int, max_steps: int, warmup_steps: int, base: float, final: float = 0.0) -> float:
    """Learning rate: linear warm-up from ~0 to `base` over `warmup_steps`, then cosine to `final` at `max_steps`."""
    if step < warmup_steps:
        return base * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(max_steps - warmup_steps, 1)
    return final + (base - final) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))


def cosine_momentum(step: int, max_steps: int, base: float) -> float:
    """EMA momentum m = 1 - (1 - m0) * (cos(pi * step / max_steps) + 1) / 2: from m0 at step 0 to 1 at the end."""
    return 1.0 - (1.0 - base) * (math.cos(math.pi * min(step, max_steps) / max(max_steps, 1)) + 1.0) / 2.0


def warmup_value(progress: float, warmup: float, start: float, final: float, shape: str = "linear") -> float:
    """`start` -> `final` over the first `warmup` fraction of training (linear or cosine), then `final`.

    Fractions rather than epochs, so a method needs nothing but the (step, max_steps) that the
    trainer already passes (E warm-up epochs of T: warmup = E / T).
    """
    if warmup <= 0 or progress >= warmup:
        return final
    x = progress / warmup
    if shape == "cosine":
        x = (1.0 - math.cos(math.pi * x)) / 2.0
    return start + (final - start) * x


class SCESchedule(NamedTuple):
    """SCE's coeff and temp_m over training (Denize et al.; the reference code's default shapes):
    coeff (lambda) linearly from 1 to `coeff`, temp_m (tau_m) with a cosine from `temp_m_start`
    (None = no warm-up) to `temp_m`; warm-ups are fractions of training, 0 = constant values."""

    coeff: float
    temp_m: float
    coeff_warmup: float = 0.0
    temp_m_start: Optional[float] = None
    temp_m_warmup: float = 0.0

    def at(self, progress: float) -> Dict[str, float]:
        """{"coeff": ..., "temp_m": ...} at `progress`, the keyword arguments of the SCE loss."""
        start = self.temp_m if self.temp_m_start is None else self.temp_m_start
        return {
            "coeff": warmup_value(progress, self.coeff_warmup, 1.0, self.coeff),
            "temp_m": warmup_value(progress, self.temp_m_warmup, start, self.temp_m, "cosine"),
        }
