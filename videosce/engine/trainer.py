"""The training loop shared by pretraining and finetuning, on plain torch.distributed.

A model here is an nn.Module whose `forward(inputs, labels)` returns a dict with a scalar
"loss" (plus scalars to log), and which may define `after_optimizer_step(step, max_steps)`
(the EMA update) returning more scalars. One process or many run the same code: the job joins
the process group first (`videosce.utils.dist.setup`), then data is sharded by
DistributedSampler and the model wrapped in DDP.
"""
from __future__ import annotations

import logging
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Optional, Sequence

import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import Dataset, DistributedSampler
from tqdm import tqdm

from videosce.data.train_loader import TrainLoader
from videosce.errors import ConfigError
from videosce.schedules import warmup_cosine
from videosce.utils import dist

from .checkpoint import (
    FINAL_BACKBONE, LAST, best_backbone_name, epoch_backbone_name, export_backbone, load_checkpoint, prune_epoch_backbones,
    resolve_resume, save_checkpoint,
)
from .logger import RunLogger
from .optim import build_optimizer
from .precision import autocast_dtype, with_runnable_precision
from .rng import gather_rng_states, loader_generator, restore_rng_state

log = logging.getLogger(__name__)


def to_device(batch: Any, device: torch.device) -> Any:
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=True)
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(item, device) for item in batch)
    return batch


class ResumableSampler(DistributedSampler):
    """DistributedSampler (also with one replica) that can start part-way through an epoch."""

    def __init__(self, dataset: Dataset, **kwargs: Any) -> None:
        super().__init__(dataset, **kwargs)
        self.skip = 0

    def __iter__(self) -> Iterator[int]:
        return iter(list(super().__iter__())[self.skip :])

    def __len__(self) -> int:
        return self.num_samples - self.skip


class Trainer:
    """Runs `fit` with the `trainer` and `optim` sections of a config and what the job passes explicitly.

    device: this process's device (the job joined the process group before, `dist.setup`);
    output_dir: where `<stream>.csv`, TensorBoard logs and `checkpoints/` go;
    seed: the data order's seed (DistributedSampler); resume: None, "auto" or a checkpoint path;
    loader_options: TrainLoader keyword arguments for the dataset (num_workers, pin_memory, the
      batched DALI loader's prefetch and threads), which the job picks from its data section
      (`videosce.data.builders.train_loader_options`);
    run_config: the run's whole config as plain containers, recorded in every checkpoint and
      backbone export so that evaluation knows how the weights were trained (backbone, clip
      normalisation, frames).
    `trainer.precision` is replaced, with one warning line, where `device` runs it slowly
    (`engine/precision.py`); the checkpoints record the precision used.
    """

    def __init__(
        self,
        trainer_cfg,
        optim_cfg,
        *,
        device: torch.device,
        output_dir: str | Path,
        seed: int = 0,
        resume: Optional[str] = None,
        stream: str = "train",
        loader_options: Optional[Mapping[str, Any]] = None,
        run_config: Optional[Mapping[str, Any]] = None,
    ) -> None:
        self.ocfg = optim_cfg
        self.device, self.seed, self.resume, self.stream = device, seed, resume, stream
        self.output_dir = Path(output_dir)
        self.checkpoint_dir = self.output_dir / "checkpoints"
        self.loader_options = dict(loader_options or {})
        self.run_config = dict(run_config or {})
        self.logger = RunLogger(self.output_dir, enabled=dist.is_main_process())
        self.tcfg = trainer_cfg = with_runnable_precision(trainer_cfg, device)
        if "trainer" in self.run_config:  # the checkpoints record the precision the run used
            self.run_config["trainer"] = {**self.run_config["trainer"], "precision": str(trainer_cfg.precision)}
        self.autocast_dtype = autocast_dtype(trainer_cfg.precision)
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=trainer_cfg.precision == "16")
        self.best_score = float("-inf")

    def _prepare(self, model: nn.Module) -> nn.Module:
        """Move to the device, convert to SyncBN if asked, wrap in DDP when distributed."""
        if self.tcfg.sync_bn and dist.is_distributed():
            if self.device.type != "cuda":
                raise ConfigError("trainer.sync_bn=true needs CUDA devices (torch's SyncBatchNorm has no CPU kernel)")
            model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
        model.to(self.device)
        return model

    def fit(
        self,
        model: nn.Module,
        dataset: Dataset,
        epoch_end_checks: Sequence[Callable[[], None]] = (),
        epoch_end_metrics: Optional[Callable[[int], Dict[str, float]]] = None,
        best_metric: Optional[str] = None,
    ) -> nn.Module:
        """Train `model` on `dataset`; resumes from `resume`; returns the trained (unwrapped) model.

        `epoch_end_checks` may stop the run (e.g. too many bad videos); `epoch_end_metrics(epoch)`
        returns scalars (e.g. an online kNN monitor) logged to `monitor.csv` by the main process;
        the epoch where its `best_metric` (higher is better) peaks is exported as the best backbone.
        """
        tcfg, ocfg = self.tcfg, self.ocfg
        world, accumulate = dist.get_world_size(), tcfg.accumulate_grad_batches
        model = self._prepare(model)
        optimizer = build_optimizer(model, ocfg)
        sampler = ResumableSampler(dataset, num_replicas=world, rank=dist.get_rank(), shuffle=True, seed=self.seed, drop_last=True)
        steps_per_epoch = sampler.num_samples // (tcfg.batch_size * accumulate)
        if steps_per_epoch == 0:
            raise ConfigError(f"trainer.batch_size={tcfg.batch_size} x accumulate_grad_batches={accumulate} exceeds the {sampler.num_samples} videos per rank; lower it")
        max_steps = tcfg.max_epochs * steps_per_epoch
        warmup_steps = int(ocfg.warmup_epochs * steps_per_epoch)
        global_batch = tcfg.batch_size * world * accumulate
        base_lr = ocfg.lr * (global_batch / 256 if ocfg.scale_lr_by_batch else 1.0)

        loader = TrainLoader(dataset, tcfg.batch_size, self.device, **self.loader_options)
        step = self._resume(model, optimizer)
        wrapped = DistributedDataParallel(model, device_ids=[self.device.index] if self.device.type == "cuda" else None) if dist.is_distributed() else model
        for epoch in range(step // steps_per_epoch, tcfg.max_epochs):
            sampler.set_epoch(epoch)
            sampler.skip = (step - epoch * steps_per_epoch) * tcfg.batch_size * accumulate
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            wrapped.train()
            batches = loader.epoch(sampler, loader_generator(self.seed, epoch, dist.get_rank()))
            bar = tqdm(
                range(step - epoch * steps_per_epoch, steps_per_epoch),
                desc=f"epoch {epoch + 1}/{tcfg.max_epochs}",
                disable=not (tcfg.progress_bar and dist.is_main_process()),
                dynamic_ncols=True,
            )
            for _ in bar:
                tick = time.perf_counter()
                lr = warmup_cosine(step, max_steps, warmup_steps, base_lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.zero_grad(set_to_none=True)
                outputs, data_time = self._accumulate(wrapped, batches, step, loader.finish)
                loss = outputs["loss"]
                if tcfg.grad_clip > 0:
                    self.scaler.unscale_(optimizer)
                    nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
                self.scaler.step(optimizer)
                self.scaler.update()
                step += 1
                extra = model.after_optimizer_step(step, max_steps) if hasattr(model, "after_optimizer_step") else {}
                if step % tcfg.log_every_n_steps == 0 or step == max_steps:
                    scalars = {k: float(v) for k, v in outputs.items()}
                    step_time = time.perf_counter() - tick
                    self.logger.log(self.stream, step, {"epoch": epoch, **scalars, "lr": lr, **extra, "data_time": data_time, "step_time": step_time})
                if tcfg.save_every_n_steps and step % tcfg.save_every_n_steps == 0:
                    self._save(model, optimizer, epoch, step, epoch_end=False)
                bar.set_postfix(loss=f"{float(loss):.3f}", lr=f"{lr:.3g}")
            bar.close()
            for check in epoch_end_checks:
                check()
            metrics = epoch_end_metrics(epoch + 1) if epoch_end_metrics and dist.is_main_process() else {}
            if metrics:
                self.logger.log("monitor", step, {"epoch": epoch + 1, **metrics})
            self._save(model, optimizer, epoch + 1, step, epoch_end=True, metrics=metrics, best_metric=best_metric)
        self.logger.close()
        return model

    def _accumulate(self, wrapped: nn.Module, batches: Iterator, step: int, finish: Callable[[Any], Any]) -> tuple[Dict[str, torch.Tensor], float]:
        """Forward/backward over `accumulate_grad_batches` batches (`finish`ed on the device: the batched
        augmentation with data.augment_on=device); gradients sync on the last one only."""
        accumulate = self.tcfg.accumulate_grad_batches
        totals: Dict[str, torch.Tensor] = {}
        data_time = 0.0
        for micro in range(accumulate):
            tick = time.perf_counter()
            inputs, labels, _ = next(batches)
            data_time += time.perf_counter() - tick
            inputs = finish(to_device(inputs, self.device))  # outside autocast: the augmentation stays in float32
            sync = micro == accumulate - 1 or not isinstance(wrapped, DistributedDataParallel)
            with (nullcontext() if sync else wrapped.no_sync()):
                with torch.autocast(self.device.type, dtype=self.autocast_dtype or torch.float32, enabled=self.autocast_dtype is not None):
                    outputs = wrapped(inputs, to_device(labels, self.device))
                loss = outputs["loss"]
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss is {loss.item()} at step {step}; lower optim.lr or check the data")
                self.scaler.scale(loss / accumulate).backward()
            for key, value in outputs.items():
                totals[key] = totals.get(key, 0.0) + value.detach().float() / accumulate
        return totals, data_time

    def _state(self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, step: int, rng: Dict[str, torch.Tensor]) -> Dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scaler": self.scaler.state_dict(),
            "epoch": epoch,
            "global_step": step,
            "best_score": self.best_score,
            "rng": rng,
            "config": self.run_config,
        }

    def _save(
        self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, step: int, epoch_end: bool,
        metrics: Optional[Dict[str, float]] = None, best_metric: Optional[str] = None,
    ) -> None:
        """last.ckpt (the full state; only resume needs it) always. At epoch ends, the backbone's
        weights alone (`export_backbone`): backbone.pt at the last epoch, backbone-epoch-NNNN.pt every
        save_every_n_epochs before it (last K kept), backbone-best-<best_metric>.pt when this epoch's
        `metrics[best_metric]` beats every earlier epoch's."""
        rng = gather_rng_states(self.device)
        if not dist.is_main_process():
            return
        score = (metrics or {}).get(best_metric) if best_metric else None
        improved = score is not None and score > self.best_score
        if improved:
            self.best_score = score
        save_checkpoint(self._state(model, optimizer, epoch, step, rng), self.checkpoint_dir / LAST)
        backbone = getattr(model, "backbone", None)
        if not epoch_end or backbone is None:
            return
        tcfg, config = self.tcfg, self.run_config
        if improved:
            export_backbone(backbone, config, self.checkpoint_dir / best_backbone_name(best_metric), epoch=epoch, global_step=step, **{best_metric: score})
        if epoch == tcfg.max_epochs:
            export_backbone(backbone, config, self.checkpoint_dir / FINAL_BACKBONE, epoch=epoch, global_step=step)
        elif epoch % tcfg.save_every_n_epochs == 0:
            export_backbone(backbone, config, self.checkpoint_dir / epoch_backbone_name(epoch), epoch=epoch, global_step=step)
            prune_epoch_backbones(self.checkpoint_dir, tcfg.keep_last_k)

    def _resume(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
        path = resolve_resume(self.resume, self.checkpoint_dir)
        if path is None:
            return 0
        state = load_checkpoint(path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        self.scaler.load_state_dict(state["scaler"])
        self.best_score = state.get("best_score", float("-inf"))
        if "rng" in state:
            restore_rng_state(state["rng"], self.device)
        else:  # a checkpoint of an earlier videosce: rank 0's torch state only
            torch.set_rng_state(state["torch_rng"])
        log.info("resumed from %s at epoch %d, step %d", path, state["epoch"], state["global_step"])
        return int(state["global_step"])
