"""Training throughput per data pipeline: SCE training steps of the real Trainer on generated videos,
clips/s and GPU busy % (the share of step time not spent waiting for the next batch).

Each row trains one epoch of `warmup + steps` batches with `Trainer.fit` (so the loaders, the
device augmentation and the step are the ones a run uses) and reads its per-step `data_time` and
`step_time` from train.csv, skipping the first `warmup` steps (worker start-up, cuDNN autotuning,
DALI's first pipeline build). The step ends with `float(loss)`, which waits for the GPU, so step
time covers the GPU work. clips/s = 2 views x batch x steps / their summed step time.
"""
from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Sequence, Tuple

import torch
from omegaconf import DictConfig

from videosce.config import config_dict, load_config
from videosce.data.builders import BAD_VIDEO_LOG, build_train_dataset, clip_normalization, train_loader_options
from videosce.data.datasets import VideoIndex, VideoRecord
from videosce.engine.trainer import Trainer
from videosce.methods import build_method

MODELS: Dict[str, List[str]] = {  # the SCE recipes' clips (docs/recipes.md)
    "R(2+1)D-18 16x112": ["model.backbone=r2plus1d_18", "data.frames=16", "data.stride=2", "data.size=112", "trainer.batch_size=64"],
    "R3D-50 8x224": ["model.backbone=r3d_50", "data.frames=8", "data.stride=4", "data.size=224", "trainer.batch_size=32"],
}
PIPELINES: Dict[str, List[str]] = {
    "pyav + worker aug": ["data.decoder=pyav", "data.augment_on=worker"],
    "pyav + device aug": ["data.decoder=pyav", "data.augment_on=device"],
    "dali + device aug": ["data.decoder=dali", "data.augment_on=device"],
}
RECIPE = ["data.blur_p=[1.0,0.1]", "data.solarize_p=[0.0,0.2]", "data.temporal_difference_p=0.2", "trainer.progress_bar=false",
          "trainer.log_every_n_steps=1", "trainer.max_epochs=1", "optim.lr=0.1"]
DRY_RUN = ["model.backbone=r3d_tiny", "data.frames=4", "data.stride=2", "data.size=32", "trainer.batch_size=2", "method.queue_size=64"]


@dataclass
class Throughput:
    steps: int
    clips: int
    step_seconds: float
    wait_seconds: float

    @property
    def clips_per_s(self) -> float:
        return self.clips / self.step_seconds

    @property
    def busy(self) -> float:
        return 1.0 - self.wait_seconds / self.step_seconds


def row_config(model: str, pipeline: str, output_dir: Path, extra: Sequence[str] = ()) -> DictConfig:
    return load_config(None, ["data.video_root=generated", "data.split_dir=generated", f"output_dir={output_dir}", *RECIPE,
                              *MODELS[model], *PIPELINES[pipeline], *extra])


def measure(cfg: DictConfig, videos: Sequence[Path], warmup: int, steps: int, device: torch.device) -> Throughput:
    """One epoch of `warmup + steps` training steps on `videos` (cycled) on `device`; the last `steps` timed."""
    data, batch, output_dir = cfg.data, cfg.trainer.batch_size, Path(cfg.output_dir)
    count = batch * (warmup + steps)
    records = [VideoRecord(videos[i % len(videos)], 0) for i in range(count)]
    dataset = build_train_dataset(data, VideoIndex(records, ["generated"]), num_clips=2, normalization=clip_normalization(data, cfg.model.backbone),
                                  seed=cfg.seed, bad_video_log=output_dir / BAD_VIDEO_LOG)
    model = build_method(cfg.model, cfg.method, seed=cfg.seed)
    trainer = Trainer(cfg.trainer, cfg.optim, device=device, output_dir=output_dir, seed=cfg.seed,
                      loader_options=train_loader_options(data, device), run_config=config_dict(cfg))
    trainer.fit(model, dataset)
    with (output_dir / "train.csv").open() as handle:
        rows = list(csv.DictReader(handle))[warmup:]
    step = sum(float(r["step_time"]) for r in rows)
    return Throughput(len(rows), 2 * batch * len(rows), step, sum(float(r["data_time"]) for r in rows))


def run_table(videos: Dict[str, Sequence[Path]], output_dir: Path, warmup: int, steps: int, device: torch.device, extra: Sequence[str] = (),
              log: Callable[[str], None] = print) -> Dict[Tuple[str, str, str], Throughput]:
    """Every model x video set x pipeline on `device`; prints one table."""
    results: Dict[Tuple[str, str, str], Throughput] = {}
    for model in MODELS:
        for name, paths in videos.items():
            for pipeline in PIPELINES:
                cfg = row_config(model, pipeline, output_dir / f"{len(results):02d}", extra)
                results[model, name, pipeline] = result = measure(cfg, paths, warmup, steps, device)
                log(f"  {model} | {name} | {pipeline}: {result.clips_per_s:.1f} clips/s, busy {result.busy:.0%}")
    log("\n| model | videos | pipeline | clips/s | GPU busy % | step ms (mean) | data wait ms (mean) |\n|---|---|---|---|---|---|---|")
    for (model, name, pipeline), r in results.items():
        log(f"| {model} | {name} | {pipeline} | {r.clips_per_s:.1f} | {100 * r.busy:.0f} | {1000 * r.step_seconds / r.steps:.0f} "
            f"| {1000 * r.wait_seconds / r.steps:.0f} |")
    log(f"GPU busy % = 1 - time waiting for the next batch / step time, over the last {steps} steps of each row ({warmup} warm-up steps untimed)")
    return results
