"""Time one training step per method or config on the same backbone and batch (medians of repeats)."""
from __future__ import annotations

import statistics
import time
from typing import Dict, List, Mapping, Sequence

import torch
from omegaconf import DictConfig

from videosce.engine.optim import build_optimizer
from videosce.engine.precision import autocast_dtype
from videosce.methods import build_method

CLOCKS = {"wall": time.perf_counter, "cpu": time.process_time}


def time_step(model_cfg, method_cfg, optim_cfg, precision: str, views: Sequence[torch.Tensor], *, repeats: int, warmup: int,
              device: torch.device, seed: int, clock: str = "wall") -> float:
    """Median seconds of forward + backward + optimizer step + EMA update for `method_cfg.name` under
    `precision` (autocast as the Trainer sets it, whatever the device), by the wall clock or this
    process's CPU time (`CLOCKS`)."""
    now = CLOCKS[clock]
    torch.manual_seed(seed)
    model = build_method(model_cfg, method_cfg, seed=seed).to(device).train()
    optimizer = build_optimizer(model, optim_cfg)
    dtype = autocast_dtype(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "16")
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


def random_views(data_cfg, batch_size: int, generator: torch.Generator, device: torch.device) -> List[torch.Tensor]:
    """The views a batch holds, as normal noise: 2 global clips (B,3,frames,size,size), then
    `data.local_views` local clips (B,3,local_frames,local_size,local_size)."""
    data, batch = data_cfg, batch_size
    local = (batch, 3, data.local_frames or data.frames, data.local_size, data.local_size)
    shapes = [(batch, 3, data.frames, data.size, data.size)] * 2 + [local] * data.local_views
    return [torch.randn(*shape, generator=generator).to(device) for shape in shapes]


def benchmark_configs(
    cfgs: Mapping[str, DictConfig], repeats: int, warmup: int, device: torch.device, clock: str = "wall"
) -> Dict[str, float]:
    """{name: median step seconds} of each config on random views of its shapes (drawn from one seed,
    so configs with the same clip shapes get identical views); configs interleaved per round."""
    views = {name: random_views(cfg.data, cfg.trainer.batch_size, torch.Generator().manual_seed(cfg.seed), device) for name, cfg in cfgs.items()}
    rounds: Dict[str, list] = {name: [] for name in cfgs}
    for _ in range(3):  # alternate configs so machine noise hits all of them alike
        for name, cfg in cfgs.items():
            rounds[name].append(time_step(cfg.model, cfg.method, cfg.optim, cfg.trainer.precision, views[name],
                                          repeats=repeats, warmup=warmup, device=device, seed=cfg.seed, clock=clock))
    return {name: statistics.median(v) for name, v in rounds.items()}

