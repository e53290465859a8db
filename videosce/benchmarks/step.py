"""Time one training step per method on the same backbone and batch (medians of repeats)."""
from __future__ import annotations

import statistics
import time
from typing import Dict, Sequence

import torch

from videosce.config import with_values
from videosce.engine.optim import build_optimizer
from videosce.methods import build_method


def time_step(model_cfg, method_cfg, optim_cfg, precision: str, views: Sequence[torch.Tensor], *, repeats: int, warmup: int,
              device: torch.device, seed: int) -> float:
    """Median seconds of forward + backward + optimizer step + EMA update for `method_cfg.name` at `precision`."""
    torch.manual_seed(seed)
    model = build_method(model_cfg, method_cfg, seed=seed).to(device).train()
    optimizer = build_optimizer(model, optim_cfg)
    dtype = {"bf16": torch.bfloat16, "16": torch.float16}.get(precision)
    scaler = torch.amp.GradScaler(device.type, enabled=precision == "16")
    times = []
    for i in range(warmup + repeats):
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        tick = time.perf_counter()
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
            times.append(time.perf_counter() - tick)
    return statistics.median(times)


def benchmark_methods(cfg, methods: Sequence[str], repeats: int, warmup: int, device: torch.device) -> Dict[str, float]:
    """{method: median step seconds}, every method of `methods` (registered names, checked by the
    caller) on identical random views of the config's batch and clip shape; methods interleaved per round."""
    generator = torch.Generator().manual_seed(cfg.seed)
    shape = (cfg.trainer.batch_size, 3, cfg.data.frames, cfg.data.size, cfg.data.size)
    views = [torch.randn(*shape, generator=generator).to(device) for _ in range(2)]
    rounds: Dict[str, list] = {m: [] for m in methods}
    for _ in range(3):  # alternate methods so machine noise hits all of them alike
        for method in methods:
            method_cfg = with_values(cfg.method, {"name": method})
            rounds[method].append(time_step(cfg.model, method_cfg, cfg.optim, cfg.trainer.precision, views,
                                            repeats=repeats, warmup=warmup, device=device, seed=cfg.seed))
    return {m: statistics.median(v) for m, v in rounds.items()}
