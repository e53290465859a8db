"""Video retrieval: test videos query the train videos; R@k under a named protocol (`eval.retrieval_mode`).

clean: global-average-pooled features of data.eval_clips x eval.num_crops views per video,
  averaged and L2-normalised, cosine; configurable clips; R@k for eval.ks.
vcop: the VCOP protocol (see `vcop.py`, docs/protocols.md).
sce: the SCE paper's protocol (its authors' feature extraction + `retrieval_from_bank`, docs/protocols.md):
  10 uniformly spaced 2.56 s clips (data.frames frames each, the pretraining row's) x 3 crops of 256
  after a 256 short side, whatever data.* says; global-average-pooled features averaged over the 30
  views, then each side (queries, gallery) mean-centred by its own mean, L2-normalised, dot product;
  R@1, 5, 10, 15, 20, 25. Without the centring, the features' common offset dominates the cosine of
  non-negative (post-ReLU) features.
In all, an undecodable query counts as a miss and an undecodable gallery video is left out
(both logged): no video disappears silently.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from omegaconf import DictConfig
from torch import nn

from videosce.choices import RetrievalMode
from videosce.config import with_values
from videosce.data.builders import video_checks
from videosce.data.datasets import VideoIndex, read_index
from videosce.data.decoders import decode_frames, probe_video
from videosce.data.transforms import Normalization
from videosce.errors import UserError

from . import vcop
from .features import EvalContext, VideoFeatures, eval_features, extract_features
from .plots import RetrievalExample, plot_retrieval
from .ranking import retrieval_hits

log = logging.getLogger(__name__)
# The SCE protocol's views: 10 clips of 2.56 s x 3 crops of 256 after a 256 short side
SCE_CLIPS, SCE_CROPS, SCE_CLIP_SECONDS, SCE_SHORT_SIDE, SCE_CROP = 10, 3, 2.56, 256, 256
SCE_KS = (1, 5, 10, 15, 20, 25)
FIGURE_QUERIES = 6
FIGURE_MATCHES = 5


def retrieval_title(data_cfg, eval_cfg) -> str:
    """One line naming the protocol (`eval.retrieval_mode`), for every table and figure."""
    data, ev = data_cfg, eval_cfg
    if ev.retrieval_mode == RetrievalMode.vcop:
        return (
            "retrieval R@k, mode=vcop (Xu et al. 2019): split 1, test queries vs train gallery, 10 clips x 16 frames, "
            "128x171 -> centre 112, normalised as the checkpoint was trained, last feature map max-pooled (1,2,2), clip mean, cosine"
        )
    if ev.retrieval_mode == RetrievalMode.sce:
        return (
            f"retrieval R@k, mode=sce (SCE paper): split {data.split}, test queries vs train gallery, {SCE_CLIPS} clips x {SCE_CROPS} crops: "
            f"{data.frames} frames spread over {SCE_CLIP_SECONDS} s, short side {SCE_SHORT_SIDE}, {SCE_CROP}px crops, global average pool, "
            "view mean, each side mean-centred by its own mean, L2-normalised, dot product"
        )
    return (
        f"retrieval R@k, mode=clean: split {data.split}, test queries vs train gallery, {data.eval_clips} clips x {ev.num_crops} crops "
        f"of {data.frames} frames (stride {data.stride}) at {ev.crop_size or data.size}px, global average pool, view mean, L2-normalised, cosine"
    )


def sce_views(data_cfg, eval_cfg) -> Tuple[DictConfig, DictConfig]:
    """The data and eval sections with the SCE protocol's test views, whatever their sizes: 10 clips of
    2.56 s x 3 crops of 256 after a 256 short side. The frame count stays data.frames: the protocol
    evaluates each pretraining row (8 or 16 frames) at its own."""
    data = with_values(data_cfg, {"eval_clips": SCE_CLIPS, "clip_duration": SCE_CLIP_SECONDS, "eval_short_side": SCE_SHORT_SIDE})
    return data, with_values(eval_cfg, {"num_crops": SCE_CROPS, "crop_size": SCE_CROP})


def mean_centred(features: VideoFeatures) -> VideoFeatures:
    """Features minus the mean of the decodable videos' features (undecodable rows stay zero).

    The SCE protocol centres queries and gallery each by its own mean before the cosine."""
    feats = features.feats.clone()
    if features.valid.any():
        feats[features.valid] -= feats[features.valid].mean(dim=0, keepdim=True)
    return VideoFeatures(feats, features.labels, features.valid)


def retrieval_features(
    backbone: nn.Module, data_cfg, eval_cfg, subset: str, *, normalization: Normalization, ctx: EvalContext
) -> Tuple[VideoFeatures, VideoIndex]:
    """Uncentred per-video features of `subset` under the protocol of `eval.retrieval_mode`."""
    mode = eval_cfg.retrieval_mode
    if mode != RetrievalMode.vcop:
        data, ev = sce_views(data_cfg, eval_cfg) if mode == RetrievalMode.sce else (data_cfg, eval_cfg)
        return eval_features(backbone, data, ev, subset, normalization=normalization, ctx=ctx)
    index = read_index(data_cfg, subset)
    dataset = vcop.VcopDataset(index.records, *normalization, **video_checks(data_cfg, bad_video_log=ctx.bad_video_log, stage="eval"))

    def compute() -> VideoFeatures:
        return extract_features(backbone, dataset, eval_cfg.batch_size, data_cfg.num_workers, ctx.device, f"{subset} features (vcop)", vcop.vcop_pool)

    return (ctx.cache.get(subset, vcop.protocol(*normalization), data_cfg, index, compute) if ctx.cache else compute()), index


def evaluate_retrieval(
    backbone: nn.Module, data_cfg, eval_cfg, *, normalization: Normalization, ctx: EvalContext, figure: Optional[str | Path] = None
) -> Dict[str, float]:
    """{"R@k": percent, "undecodable_queries": n, "undecodable_gallery": n} with the test split as
    queries and the train split as gallery, under `eval.retrieval_mode`, clips normalised by
    `normalization` (the checkpoint's).

    `ctx.cache` reuses features computed for the same checkpoint, protocol and data; `figure` is
    where to draw a few queries beside their top gallery videos.
    """
    mode = eval_cfg.retrieval_mode
    gallery, gallery_index = retrieval_features(backbone, data_cfg, eval_cfg, "train", normalization=normalization, ctx=ctx)
    query, query_index = retrieval_features(backbone, data_cfg, eval_cfg, "test", normalization=normalization, ctx=ctx)
    if mode == RetrievalMode.sce:
        gallery, query = mean_centred(gallery), mean_centred(query)
    g = gallery.valid
    ks = meaningful_ks({RetrievalMode.vcop: vcop.KS, RetrievalMode.sce: SCE_KS}.get(mode, tuple(eval_cfg.ks)), int(g.sum()))
    hits = torch.zeros(len(query.labels), len(ks), dtype=torch.bool)
    q_feats, g_feats = query.feats[query.valid].to(ctx.device), gallery.feats[g].to(ctx.device)
    hits[query.valid] = retrieval_hits(q_feats, query.labels[query.valid], g_feats, gallery.labels[g], ks)
    log.info("%s: %d queries (%d undecodable, counted as misses), gallery %d videos (%d undecodable, left out)",
             mode, len(query.valid), int((~query.valid).sum()), len(g), int((~g).sum()))
    if figure is not None:
        examples = retrieval_examples(query, query_index, gallery, gallery_index, data_cfg.decoder)
        plot_retrieval(examples, figure, retrieval_title(data_cfg, eval_cfg))
    recall = {f"R@{k}": 100.0 * hits[:, i].float().mean().item() for i, k in enumerate(ks)}
    return {**recall, "undecodable_queries": int((~query.valid).sum()), "undecodable_gallery": int((~g).sum())}


def meaningful_ks(ks: Sequence[int], gallery_size: int) -> Tuple[int, ...]:
    """The k below the gallery size: for k >= it, the top k is the whole gallery and R@k only says
    which query classes the gallery holds, so it is left out, with one log line."""
    kept = tuple(k for k in ks if k < gallery_size)
    if not kept:
        raise UserError(f"retrieval needs a gallery larger than k={min(ks)}; the train split has {gallery_size} decodable videos")
    if len(kept) < len(ks):
        log.warning("R@%s left out: k >= the gallery's %d videos, so the top k would be the whole gallery",
                    ", ".join(str(k) for k in ks if k >= gallery_size), gallery_size)
    return kept


def middle_frame(path: Path, decoder: str):
    """(H,W,3) uint8 numpy frame from the middle of a video."""
    return decode_frames(path, [probe_video(path, backend=decoder).num_frames // 2], backend=decoder)[0].numpy()


def retrieval_examples(
    query: VideoFeatures, query_index: VideoIndex, gallery: VideoFeatures, gallery_index: VideoIndex, decoder: str
) -> List[RetrievalExample]:
    """A few evenly spaced decodable queries with their top gallery videos by cosine similarity."""
    rows = query.valid.nonzero().squeeze(1)
    rows = rows[torch.linspace(0, len(rows) - 1, min(FIGURE_QUERIES, len(rows))).long()]
    cols = gallery.valid.nonzero().squeeze(1)
    sims = F.normalize(query.feats[rows], dim=1) @ F.normalize(gallery.feats[cols], dim=1).t()
    top = cols[sims.topk(min(FIGURE_MATCHES, len(cols)), dim=1).indices]
    classes = query_index.classes
    examples = []
    for row, matches in zip(rows.tolist(), top.tolist()):
        label = int(query.labels[row])
        found = [
            (middle_frame(gallery_index.records[j].path, decoder), classes[int(gallery.labels[j])], int(gallery.labels[j]) == label)
            for j in matches
        ]
        examples.append(RetrievalExample(middle_frame(query_index.records[row].path, decoder), classes[label], found))
    return examples
