"""Datasets from config: the one place that turns the `data` section (plus what the job passes
explicitly: normalisation, seed, bad-video log) into a VideoClipDataset, and its DataLoader options."""
from __future__ import annotations

import functools
import logging
import os
from pathlib import Path
from typing import Any, Dict

import torch

from videosce.choices import ClipGapDist
from videosce.models import backbone_info

from .datasets import VideoClipDataset, VideoIndex
from .samplers import ClipGap
from .transforms import EvalClipTransform, Normalization, TrainClipTransform

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


def train_loader_options(data_cfg, device: torch.device) -> Dict[str, Any]:
    """The `data` section's keyword arguments of a TrainLoader (videosce/data/train_loader.py) training
    on `device`: `loader_options`, plus the batched DALI loader's prefetch depth and threads."""
    return {**loader_options(data_cfg.decoder, data_cfg.num_workers, device),
            "dali_prefetch": data_cfg.dali.prefetch, "dali_threads": data_cfg.dali.num_threads}


def video_checks(data_cfg, *, bad_video_log: Path, stage: str) -> Dict[str, Any]:
    """What every config-built dataset does about bad files: decoder and deadline, the frame-size
    limit, the truncated-video policy, the shared bad-video log and the fraction that stops the run."""
    d = data_cfg
    return {
        "decoder": d.decoder, "decode_timeout_s": d.decode_timeout_s, "max_pixels": d.max_pixels,
        "truncated": d.truncated, "bad_video_log": bad_video_log, "stage": stage, "max_bad_fraction": d.max_bad_fraction,
    }


def clip_normalization(data_cfg, backbone: str) -> Normalization:
    """What every transform normalises clips with: data.mean / data.std, or the `backbone` registry entry's default.

    Evaluation jobs use what the checkpoint was trained with instead (videosce/jobs/common.py)."""
    info = backbone_info(backbone)
    mean = info["mean"] if data_cfg.mean is None else data_cfg.mean
    std = info["std"] if data_cfg.std is None else data_cfg.std
    return Normalization(tuple(float(v) for v in mean), tuple(float(v) for v in std))


def build_train_dataset(
    data_cfg, index: VideoIndex, *, num_clips: int, normalization: Normalization, seed: int, bad_video_log: Path, segments: int = 0,
    local_views: int = 0,
) -> VideoClipDataset:
    """Random clips with clip-consistent augmentation: `num_clips` views per video, then `local_views`
    local clips (`data.local_*`: random resized crops of their own scale and size, whatever
    `data.train_short_side` says, optionally fewer frames; view n >= num_clips takes the per-view
    blur/solarize p at position n, cycled); `data.clip_gap*` set the distance between the starts of
    the `num_clips` views; `segments` > 0 makes each of them S clips (VCLR, `method.vclr.segments`).
    `seed` makes every draw a function of (seed, epoch, video)."""
    data = data_cfg
    gap = None
    if data.clip_gap_dist != ClipGapDist.off:
        low, high = data.clip_gap if data.clip_gap is not None else (0.0, float("inf"))
        gap = ClipGap(low, high, data.clip_gap_dist, data.clip_gap_c)
    transforms = [
        TrainClipTransform(
            data.size if view < num_clips else data.local_size, scale=data.crop_scale if view < num_clips else data.local_crop_scale,
            ratio=data.crop_ratio, jitter=data.color_jitter, jitter_p=data.color_jitter_p, grayscale_p=data.grayscale_p,
            blur_p=data.blur_p[view % len(data.blur_p)], solarize_p=data.solarize_p[view % len(data.solarize_p)],
            temporal_difference_p=data.temporal_difference_p, mean=normalization.mean, std=normalization.std,
            short_side=data.train_short_side if view < num_clips else None,
        )
        for view in range(num_clips + local_views)
    ]
    return VideoClipDataset(
        index.records, transforms, data.frames, data.stride, num_clips, train=True, seed=seed,
        clip_duration=data.clip_duration, clip_gap=gap, segments=segments, local_views=local_views, local_frames=data.local_frames,
        augment_on=data.augment_on, **video_checks(data, bad_video_log=bad_video_log, stage="train"),
    )


def build_eval_dataset(data_cfg, eval_cfg, index: VideoIndex, *, normalization: Normalization, bad_video_log: Path) -> VideoClipDataset:
    """`data.eval_clips` uniformly spaced clips per video, each cut into `eval.num_crops` crops of
    `eval.crop_size` (default `data.size`): items hold (K,3,T,S,S), or (K,num_crops,3,T,S,S) clips.
    Deterministic: the same views for every run."""
    data, ev = data_cfg, eval_cfg
    transform = EvalClipTransform(ev.crop_size or data.size, data.eval_short_side, mean=normalization.mean, std=normalization.std, num_crops=ev.num_crops)
    return VideoClipDataset(
        index.records, transform, data.frames, data.stride, data.eval_clips, train=False,
        clip_duration=data.clip_duration, **video_checks(data, bad_video_log=bad_video_log, stage="eval"),
    )
