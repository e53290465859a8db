"""Time one training step per method and precision on the same backbone and batch (medians of repeats)."""
from __future__ import annotations

import statistics
import time
from typing import Dict, Sequence, Tuple

import torch
from omegaconf import DictConfig, OmegaConf

from videosce.engine.optim import build_optimizer
from videosce.engine.precision import autocast_dtype
from videosce.methods import METHODS, build_method


CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_step(cfg: DictConfig, views: Sequence[torch.Tensor], repeats: int, warmup: int, device: torch.device, clock: str = "wall") -> float:
    """Median seconds of forward + backward + optimizer step + EMA update for `cfg.method.name`
    under `cfg.trainer.precision` (autocast as the Trainer sets it, whatever the device), by the
    wall clock or this process's CPU time (`CLOCKS`)."""
    now = CLOCKS[clock]
    torch.manual_seed(cfg.seed)
    model = build_method(cfg).to(device).train()
    optimizer = build_optimizer(model, cfg.optim)
    dtype = autocast_dtype(cfg.trainer.precision)
    scaler = torch.amp.GradScaler(device.type, enabled=cfg.trainer.precision == "16")
    times = []
    for i in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        tick = now()
        with torch.autocast(device.type, dtype=dtype or torch.float32, enabled=dtype is not None):
            loss = model(views)["loss"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        if hasattr(model, "after_optimizer_step"):
            model.after_optimizer_step(i + 1, warmup + repeats)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        if i >= warmup:
            times.append(now() - tick)
    return statistics.median(times)


def benchmark_methods(
    cfg: DictConfig, methods: Sequence[str], repeats: int, warmup: int, device: torch.device, precisions: Sequence[str] = (),
    clock: str = "wall",
) -> Dict[Tuple[str, str], float]:
    """{(method, precision): median step seconds}, every variant on identical random views,
    interleaved per round; `precisions` defaults to `trainer.precision`."""
    generator = torch.Generator().manual_seed(cfg.seed)
    shape = (cfg.trainer.batch_size, 3, cfg.data.frames, cfg.data.size, cfg.data.size)
    views = [torch.randn(*shape, generator=generator).to(device) for _ in range(2)]
    unknown = [m for m in methods if m not in METHODS]
    if unknown:
        raise KeyError(f"unknown method '{unknown[0]}'; choose from {', '.join(METHODS.list())}")
    variants = [(m, p) for m in methods for p in (precisions or [cfg.trainer.precision])]
    rounds: Dict[Tuple[str, str], list] = {v: [] for v in variants}
    for _ in range(3):  # alternate variants so machine noise hits all of them alike
        for method, precision in variants:
            variant_cfg = OmegaConf.merge(cfg, {"method": {"name": method}, "trainer": {"precision": precision}})
            rounds[(method, precision)].append(time_step(variant_cfg, views, repeats, warmup, device, clock))
    return {v: statistics.median(t) for v, t in rounds.items()}
