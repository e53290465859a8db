"""Per-step schedules."""
from __future__ import annotations

import math


def warmup_cosine(step: int, max_steps: int, warmup_steps: int, base: float, final: float = 0.0) -> float:
    """Linear warm-up from ~0 to `base` over `warmup_steps`, then cosine to `final` at `max_steps`."""
    if step < warmup_steps:
        return base * (step + 1) / warmup_steps
    progress = (step - warmup_steps) / max(max_steps - warmup_steps, 1)
    return final + (base - final) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
