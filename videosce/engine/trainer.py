"""The training loop shared by pretraining and finetuning, on plain torch.distributed.

A model here is an nn.Module whose `forward(inputs, labels)` returns a dict with a scalar
"loss" (plus scalars to log), and which may define `after_optimizer_step(step, max_steps)`
(the EMA update) returning more scalars. One process or many (torchrun/SLURM env) run the
same code: data is sharded by DistributedSampler, the model wrapped in DDP.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, List, Optional, Sequence

import torch
from omegaconf import DictConfig, OmegaConf
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, Dataset, DistributedSampler
from tqdm import tqdm

from videosce.utils import dist

from .checkpoint import LAST, load_checkpoint, prune_epoch_checkpoints, resolve_resume, save_checkpoint
from .logger import RunLogger
from .optim import build_optimizer
from .schedules import warmup_cosine

log = logging.getLogger(__name__)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(name)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"trainer.device={name} but no CUDA GPU is available; use trainer.device=cpu")
    return device


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
    def __init__(self, cfg: DictConfig, output_dir: Optional[str | Path] = None, stream: str = "train") -> None:
        self.cfg = cfg
        self.output_dir = Path(output_dir or cfg.output_dir)
        self.checkpoint_dir = self.output_dir / "checkpoints"
        self.stream = stream
        self.device = resolve_device(cfg.trainer.device)
        dist.init_from_env(self.device)
        self.logger = RunLogger(self.output_dir, enabled=dist.is_main_process())

    def _loader(self, dataset: Dataset, sampler: ResumableSampler) -> DataLoader:
        data = self.cfg.data
        return DataLoader(
            dataset,
            batch_size=self.cfg.trainer.batch_size,
            sampler=sampler,
            num_workers=data.num_workers,
            pin_memory=self.device.type == "cuda",
            drop_last=True,
            persistent_workers=False,
        )

    def fit(self, model: nn.Module, dataset: Dataset, epoch_end_checks: Sequence[Callable[[], None]] = ()) -> nn.Module:
        """Train `model` on `dataset`; resumes from `cfg.resume`; returns the trained (unwrapped) model."""
        tcfg, ocfg = self.cfg.trainer, self.cfg.optim
        world = dist.get_world_size()
        model.to(self.device)
        optimizer = build_optimizer(model, ocfg)
        sampler = ResumableSampler(dataset, num_replicas=world, rank=dist.get_rank(), shuffle=True, seed=self.cfg.seed, drop_last=True)
        steps_per_epoch = sampler.num_samples // tcfg.batch_size
        if steps_per_epoch == 0:
            raise ValueError(f"trainer.batch_size={tcfg.batch_size} is larger than the {sampler.num_samples} videos per rank; lower it")
        max_steps = tcfg.max_epochs * steps_per_epoch
        warmup_steps = int(ocfg.warmup_epochs * steps_per_epoch)
        base_lr = ocfg.lr * (tcfg.batch_size * world / 256 if ocfg.scale_lr_by_batch else 1.0)

        start_step = self._resume(model, optimizer)
        wrapped = DistributedDataParallel(model) if dist.is_distributed() else model
        step = start_step
        for epoch in range(start_step // steps_per_epoch, tcfg.max_epochs):
            sampler.set_epoch(epoch)
            sampler.skip = (step - epoch * steps_per_epoch) * tcfg.batch_size
            if hasattr(dataset, "set_epoch"):
                dataset.set_epoch(epoch)
            wrapped.train()
            bar = tqdm(
                self._loader(dataset, sampler),
                desc=f"epoch {epoch + 1}/{tcfg.max_epochs}",
                initial=step - epoch * steps_per_epoch,
                total=steps_per_epoch,
                disable=not (tcfg.progress_bar and dist.is_main_process()),
                dynamic_ncols=True,
            )
            tick = time.perf_counter()
            for inputs, labels, _ in bar:
                data_time = time.perf_counter() - tick
                lr = warmup_cosine(step, max_steps, warmup_steps, base_lr)
                for group in optimizer.param_groups:
                    group["lr"] = lr
                outputs = wrapped(to_device(inputs, self.device), to_device(labels, self.device))
                loss = outputs["loss"]
                if not torch.isfinite(loss):
                    raise FloatingPointError(f"loss is {loss.item()} at step {step}; lower optim.lr or check the data")
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                if tcfg.grad_clip > 0:
                    nn.utils.clip_grad_norm_(model.parameters(), tcfg.grad_clip)
                optimizer.step()
                step += 1
                extra = model.after_optimizer_step(step, max_steps) if hasattr(model, "after_optimizer_step") else {}
                step_time = time.perf_counter() - tick
                if step % tcfg.log_every_n_steps == 0 or step == max_steps:
                    scalars = {k: float(v.detach()) for k, v in outputs.items()}
                    self.logger.log(self.stream, step, {"epoch": epoch, **scalars, "lr": lr, **extra, "data_time": data_time, "step_time": step_time})
                bar.set_postfix(loss=f"{loss.item():.3f}", lr=f"{lr:.3g}")
                tick = time.perf_counter()
            bar.close()
            for check in epoch_end_checks:
                check()
            self._save(model, optimizer, epoch + 1, step)
        self.logger.close()
        return model

    def _state(self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, step: int) -> Dict[str, Any]:
        return {
            "model": model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "epoch": epoch,
            "global_step": step,
            "torch_rng": torch.get_rng_state(),
            "config": OmegaConf.to_container(self.cfg, resolve=True),
        }

    def _save(self, model: nn.Module, optimizer: torch.optim.Optimizer, epoch: int, step: int) -> None:
        if not dist.is_main_process():
            return
        state = self._state(model, optimizer, epoch, step)
        save_checkpoint(state, self.checkpoint_dir / LAST)
        if epoch % self.cfg.trainer.save_every_n_epochs == 0 or epoch == self.cfg.trainer.max_epochs:
            save_checkpoint(state, self.checkpoint_dir / f"epoch-{epoch:04d}.ckpt")
            prune_epoch_checkpoints(self.checkpoint_dir, self.cfg.trainer.keep_last_k)

    def _resume(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> int:
        path = resolve_resume(self.cfg.resume, self.checkpoint_dir)
        if path is None:
            return 0
        state = load_checkpoint(path)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        torch.set_rng_state(state["torch_rng"])
        log.info("resumed from %s at epoch %d, step %d", path, state["epoch"], state["global_step"])
        return int(state["global_step"])
