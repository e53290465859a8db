"""Datasets from config: the one place that turns `data.*` into a VideoClipDataset."""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any, Dict

import torch

from videosce.config import ConfigError

from .datasets import VideoClipDataset, VideoIndex
from .samplers import ClipGap
from .transforms import EvalClipTransform, TrainClipTransform

BAD_VIDEO_LOG = "bad_videos.txt"
GPU_DECODERS = ("dali",)  # decode to CUDA tensors when a GPU is present (DALIDecoder picks NVDEC)

log = logging.getLogger(__name__)


def usable_workers(num_workers: int) -> int:
    """`data.num_workers` capped by the CPUs this process may run on: more workers than CPUs only
    compete for them (torch warns about it), so a recipe's value is a ceiling, not a demand."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    if num_workers > cpus:
        _note_worker_cap(num_workers, cpus)
    return min(num_workers, cpus)


@functools.lru_cache(maxsize=None)
def _note_worker_cap(num_workers: int, cpus: int) -> None:
    """Said once per (setting, machine), not at every loader."""
    log.info("data.num_workers=%d capped at %d: the CPUs this process may use", num_workers, cpus)


def loader_options(decoder: str, num_workers: int, device: torch.device) -> Dict[str, Any]:
    """DataLoader `num_workers` (`usable_workers`) / `pin_memory` for a dataset decoded by `decoder`.

    A GPU decoder yields CUDA clips, and the augmentations then run on the GPU too (they are torch
    ops): it must decode in the main process (CUDA does not survive fork into workers) and its
    batches cannot be pinned (they are not in host memory).
    """
    if decoder in GPU_DECODERS and torch.cuda.is_available():
        if num_workers:
            log.info("data.decoder=%s decodes on the GPU in the main process: data.num_workers=%d ignored", decoder, num_workers)
        return {"num_workers": 0, "pin_memory": False}
    return {"num_workers": usable_workers(num_workers), "pin_memory": device.type == "cuda"}


def build_train_dataset(cfg, index: VideoIndex, num_clips: int) -> VideoClipDataset:
    """Random clips with clip-consistent augmentation: `num_clips` views per video; `data.clip_gap*`
    set the distance between their starts, `method.vclr.segments` makes each view S clips (VCLR)."""
    data = cfg.data
    gap = None
    if data.clip_gap_dist != "off":
        low, high = data.clip_gap if data.clip_gap is not None else (0.0, float("inf"))
        gap = ClipGap(low, high, data.clip_gap_dist, data.clip_gap_c)
    transforms = [
        TrainClipTransform(
            data.size, scale=data.crop_scale, ratio=data.crop_ratio, jitter=data.color_jitter,
            jitter_p=data.color_jitter_p, grayscale_p=data.grayscale_p,
            blur_p=data.blur_p[view % len(data.blur_p)], solarize_p=data.solarize_p[view % len(data.solarize_p)],
            temporal_difference_p=data.temporal_difference_p,
        )
        for view in range(num_clips)
    ]
    return VideoClipDataset(
        index.records, transforms, data.frames, data.stride, num_clips, train=True,
        decoder=data.decoder, seed=cfg.seed, bad_video_log=Path(cfg.output_dir) / BAD_VIDEO_LOG,
        clip_duration=data.clip_duration, decode_timeout_s=data.decode_timeout_s,
        clip_gap=gap, segments=cfg.method.vclr.segments,
    )


def build_eval_dataset(cfg, index: VideoIndex) -> VideoClipDataset:
    """`data.eval_clips` uniformly spaced clips per video, each cut into `eval.num_crops` crops of
    `eval.crop_size` (default `data.size`): items hold (K,3,T,S,S), or (K,num_crops,3,T,S,S) clips."""
    data, ev = cfg.data, cfg.eval
    size = ev.crop_size or data.size
    if ev.num_crops < 1:
        raise ConfigError(f"bad value for config key 'eval.num_crops': {ev.num_crops} must be >= 1")
    if data.eval_short_side < size:
        raise ConfigError(f"data.eval_short_side={data.eval_short_side} must be >= the test crop size {size} (eval.crop_size or data.size)")
    transform = EvalClipTransform(size, data.eval_short_side, num_crops=ev.num_crops)
    return VideoClipDataset(
        index.records, transform, data.frames, data.stride, data.eval_clips, train=False,
        decoder=data.decoder, seed=cfg.seed, bad_video_log=Path(cfg.output_dir) / BAD_VIDEO_LOG,
        clip_duration=data.clip_duration, decode_timeout_s=data.decode_timeout_s,
    )
