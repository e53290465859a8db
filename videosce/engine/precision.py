"""Mixed precision a device runs well: `trainer.precision` as asked, or what stands in for it.

On a CPU, fp16 autocast has no fast kernels (many times slower than float32), while bf16 halves
the step's CPU time where the CPU computes bf16 natively (AVX512-BF16 or AMX) and multiplies it
where oneDNN must emulate bf16. So on a CPU a reduced precision becomes bf16 where it is native
and float32 elsewhere. `videosce-benchmark-step --threads 1 --clock cpu --variant 32
trainer.precision=32 --variant bf16 trainer.precision=bf16` times them side by side (README,
"Precision on a CPU").
"""
from __future__ import annotations

import logging
from typing import Optional, Tuple

import torch
from omegaconf import DictConfig

from videosce.config import with_values

AUTOCAST_DTYPES = {"bf16": torch.bfloat16, "16": torch.float16}

log = logging.getLogger(__name__)


def autocast_dtype(precision: str) -> Optional[torch.dtype]:
    """The autocast dtype of `trainer.precision` ("32": None, no autocast)."""
    return AUTOCAST_DTYPES.get(precision)


def cpu_has_native_bf16() -> bool:
    """AVX512-BF16 or AMX on this CPU (torch.cpu's probes; False where this torch lacks them)."""
    probes = (getattr(torch.cpu, "_is_avx512_bf16_supported", None), getattr(torch.cpu, "_is_amx_tile_supported", None))
    return any(probe is not None and probe() for probe in probes)


def runnable_precision(precision: str, device: torch.device) -> Tuple[str, Optional[str]]:
    """(precision to use, why `precision` was replaced, or None): on a CPU, fp16 -> bf16 where bf16
    is native, else 32, and bf16 -> 32 where it is not native; on a GPU without bf16 (before
    Ampere), bf16 -> fp16."""
    if device.type == "cpu" and precision == "16":
        if cpu_has_native_bf16():
            return "bf16", "fp16 autocast has no fast CPU kernels; this CPU computes bf16 natively"
        return "32", "fp16 autocast has no fast CPU kernels, and this CPU emulates bf16"
    if device.type == "cpu" and precision == "bf16" and not cpu_has_native_bf16():
        return "32", "this CPU emulates bf16 (no AVX512-BF16 or AMX)"
    if device.type == "cuda" and precision == "bf16" and not torch.cuda.is_bf16_supported():
        return "16", "no bf16 on GPUs before Ampere"
    return precision, None


def with_runnable_precision(trainer_cfg: DictConfig, device: torch.device) -> DictConfig:
    """The `trainer` section with `precision` as `device` runs it well; when that changes it, one warning line says so."""
    used, why = runnable_precision(trainer_cfg.precision, device)
    if why is None:
        return trainer_cfg
    log.warning("trainer.precision=%s is slow on %s (%s): using trainer.precision=%s instead", trainer_cfg.precision, device.type.upper(), why, used)
    return with_values(trainer_cfg, {"precision": used})
