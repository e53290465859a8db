"""Datasets from config: the one place that turns `data.*` into a VideoClipDataset."""
from __future__ import annotations

from pathlib import Path

from .datasets import VideoClipDataset, VideoIndex
from .transforms import EvalClipTransform, TrainClipTransform

BAD_VIDEO_LOG = "bad_videos.txt"


def build_train_dataset(cfg, index: VideoIndex, num_clips: int) -> VideoClipDataset:
    """Random clips with clip-consistent augmentation: `num_clips` views per video."""
    data = cfg.data
    transform = TrainClipTransform(data.size, scale=data.crop_scale, ratio=data.crop_ratio)
    return VideoClipDataset(
        index.records, transform, data.frames, data.stride, num_clips, train=True,
        decoder=data.decoder, seed=cfg.seed, bad_video_log=Path(cfg.output_dir) / BAD_VIDEO_LOG,
    )


def build_eval_dataset(cfg, index: VideoIndex) -> VideoClipDataset:
    """`data.eval_clips` uniformly spaced, centre-cropped clips per video."""
    data = cfg.data
    transform = EvalClipTransform(data.size, data.eval_short_side)
    return VideoClipDataset(
        index.records, transform, data.frames, data.stride, data.eval_clips, train=False,
        decoder=data.decoder, seed=cfg.seed, bad_video_log=Path(cfg.output_dir) / BAD_VIDEO_LOG,
    )
