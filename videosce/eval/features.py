"""Frozen-backbone features per video, and their on-disk cache.

A cache entry's name hashes everything that changes the features: the checkpoint file (path,
size, mtime), the backbone, the protocol (clips, crops, pooling, ...), the data config and the
list of videos. Changing any of them computes fresh features; nothing stale is ever reused.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable, Dict, List, NamedTuple, Optional, Tuple

import torch
from einops import rearrange
from omegaconf import OmegaConf
from torch import nn
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from videosce.choices import DataFormat
from videosce.data.builders import build_eval_dataset, loader_options
from videosce.data.datasets import VideoIndex, read_index
from videosce.data.transforms import Normalization

log = logging.getLogger(__name__)

CACHE_VERSION = 2  # bump when feature extraction code changes what it computes: features of other code are never reused
Pool = Callable[[nn.Module, torch.Tensor], torch.Tensor]


class VideoFeatures(NamedTuple):
    """feats: (N,D) averaged over each video's views, or (N,V,D) per view; labels: (N,);
    valid: (N,) bool, False for a video that could not be decoded (its features are zeros)."""

    feats: torch.Tensor
    labels: torch.Tensor
    valid: torch.Tensor


def global_average_pool(backbone: nn.Module, clips: torch.Tensor) -> torch.Tensor:
    return backbone(clips)


def collate_views(batch: List[Tuple[torch.Tensor, int, int]]) -> Tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Eval items -> (B,V,3,T,S,S) clips, labels, indices; V = clips x crops.

    Items hold (K,3,T,S,S) or, with several crops, (K,C,3,T,S,S); an undecodable item's
    placeholder (index -1) takes a good item's shape so the batch still stacks.
    """
    views = [clips if clips.dim() == 5 else rearrange(clips, "k c ... -> (k c) ...") for clips, _, _ in batch]
    good = next((v for v, (_, _, index) in zip(views, batch) if index >= 0), views[0])
    views = [v if index >= 0 else torch.zeros_like(good) for v, (_, _, index) in zip(views, batch)]
    return torch.stack(views), torch.tensor([b[1] for b in batch]), torch.tensor([b[2] for b in batch])


def eval_loader(dataset: Dataset, batch_size: int, num_workers: int) -> DataLoader:
    """Every video once, in order, no drop_last."""
    options = loader_options(getattr(dataset, "decoder", "pyav"), num_workers, torch.device("cpu"))
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, drop_last=False, collate_fn=collate_views, **options)


@torch.no_grad()
def extract_features(
    backbone: nn.Module,
    dataset: Dataset,
    batch_size: int,
    num_workers: int,
    device: torch.device,
    desc: str = "features",
    pool: Pool = global_average_pool,
    per_view: bool = False,
) -> VideoFeatures:
    """`pool(backbone, clips)` of every view, averaged per video unless `per_view`.

    Undecodable videos are kept as zero rows with valid=False and counted in a warning, so the
    caller decides (retrieval: a missed query; classification: a wrong answer).
    """
    was_training = backbone.training
    backbone.eval().to(device)
    goods, labels, valid = [], [], []
    for clips, label, index in tqdm(eval_loader(dataset, batch_size, num_workers), desc=desc, dynamic_ncols=True, leave=False):
        ok = index >= 0
        if ok.any():
            flat = rearrange(clips[ok], "b v c t h w -> (b v) c t h w").to(device)
            views = rearrange(pool(backbone, flat).float().cpu(), "(b v) d -> b v d", v=clips.shape[1])
            goods.append(views if per_view else views.mean(dim=1))
        labels.append(label)
        valid.append(ok)
    backbone.train(was_training)
    ok = torch.cat(valid)
    if not goods:
        raise RuntimeError(f"{desc}: no video could be decoded")
    if not ok.all():
        log.warning("%s: %d of %d videos could not be decoded", desc, int((~ok).sum()), len(ok))
    good = torch.cat(goods)
    feats = good.new_zeros(len(ok), *good.shape[1:])
    feats[ok] = good
    return VideoFeatures(feats, torch.cat(labels), ok)


def checkpoint_identity(name: str, backbone: str, seed: int) -> Dict[str, Any]:
    """What identifies a checkpoint's weights: the file (path, size, mtime) or the seeded random init."""
    if name == "random":
        return {"checkpoint": "random", "seed": seed, "backbone": backbone}
    path = Path(name).resolve()
    stat = path.stat()
    return {"checkpoint": str(path), "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "backbone": backbone}


def data_identity(data_cfg, index: VideoIndex) -> Dict[str, Any]:
    """The data config keys that change which frames are read, and a hash of the video list."""
    data = data_cfg
    videos = hashlib.sha256("\n".join(f"{r.path}\t{r.label}" for r in index.records).encode()).hexdigest()
    return {
        "format": data.format,
        "video_root": str(Path(data.video_root).resolve()),
        "split_dir": str(Path(data.split_dir).resolve()),
        "split": data.split,
        "decoder": data.decoder,
        "demo": OmegaConf.to_container(data.demo) if data.format == DataFormat.demo else None,
        "videos": videos,
    }


def clean_protocol(data_cfg, eval_cfg, normalization: Normalization, per_view: bool = False) -> Dict[str, Any]:
    """What the eval transform and pooling make of a video (build_eval_dataset + global average pool)."""
    data, ev = data_cfg, eval_cfg
    mean, std = map(list, normalization)
    return {
        "name": "views" if per_view else "clean", "frames": data.frames, "stride": data.stride, "clip_duration": data.clip_duration, "clips": data.eval_clips,
        "short_side": data.eval_short_side, "crop_size": ev.crop_size or data.size, "num_crops": ev.num_crops, "pool": "gap",
        "mean": mean, "std": std,
    }


class FeatureCache:
    """Features of one checkpoint under `directory`, one file per hash of (checkpoint, protocol, data, subset).

    `name` is the checkpoint entry (a path or "random"), `backbone` its registry name, `seed` the
    seed a random init is drawn with."""

    def __init__(self, directory: str | Path, name: str, backbone: str, seed: int) -> None:
        self.directory = Path(directory)
        self.label = "random" if name == "random" else Path(name).stem
        self.checkpoint = checkpoint_identity(name, backbone, seed)

    def path(self, subset: str, protocol: Dict[str, Any], data_cfg, index: VideoIndex) -> Path:
        key = {"version": CACHE_VERSION, "checkpoint": self.checkpoint, "protocol": protocol, "data": data_identity(data_cfg, index), "subset": subset}
        digest = hashlib.sha256(json.dumps(key, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return self.directory / f"{self.label}-{protocol['name']}-{subset}-{digest}.pt"

    def get(self, subset: str, protocol: Dict[str, Any], data_cfg, index: VideoIndex, compute: Callable[[], VideoFeatures]) -> VideoFeatures:
        """The cached features, or `compute()`'s, saved atomically for next time."""
        path = self.path(subset, protocol, data_cfg, index)
        if path.is_file():
            log.info("features from cache: %s", path)
            return VideoFeatures(**torch.load(path, map_location="cpu", weights_only=True))
        features = compute()
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp")
        torch.save(features._asdict(), tmp)
        os.replace(tmp, path)
        return features


class EvalContext(NamedTuple):
    """Where an evaluation runs and writes, besides its config sections.

    run_dir: this checkpoint's (and split's) directory for logs and pictures; device: where the
    backbone runs; bad_video_log: the run's bad_videos.txt; cache: features of this checkpoint
    kept on disk (None: computed every time)."""

    run_dir: Path
    device: torch.device
    bad_video_log: Path
    cache: Optional[FeatureCache] = None


def eval_features(
    backbone: nn.Module, data_cfg, eval_cfg, subset: str, *, normalization: Normalization, ctx: EvalContext, per_view: bool = False
) -> Tuple[VideoFeatures, VideoIndex]:
    """Global-average-pooled features of `subset` under the eval transform (data.eval_clips x eval.num_crops views)."""
    index = read_index(data_cfg, subset)
    dataset = build_eval_dataset(data_cfg, eval_cfg, index, normalization=normalization, bad_video_log=ctx.bad_video_log)

    def compute() -> VideoFeatures:
        return extract_features(backbone, dataset, eval_cfg.batch_size, data_cfg.num_workers, ctx.device, f"{subset} features", per_view=per_view)

    if ctx.cache is None:
        return compute(), index
    return ctx.cache.get(subset, clean_protocol(data_cfg, eval_cfg, normalization, per_view), data_cfg, index, compute), index
