"""Every rule between config values, in one place, checked at load: before any data is read or any step runs.

`validate(cfg, job)` checks, in order: every float is finite; each section's ranges and the rules
across its keys; the rules of what `job` runs (its evaluation settings included: the retrieval
protocol, the test views, the split). `check_registered_names` then looks up the registry names
(model.backbone, method.name, data.decoder, optim.name): it imports the registries, hence torch,
so it runs after the torch-free checks. A broken rule raises ConfigError, one line naming the key,
its value and the rule.
"""
from __future__ import annotations

import difflib
import importlib
import math
import re
from pathlib import Path
from typing import Any, Iterator, List, Optional, Sequence, Tuple

from omegaconf import DictConfig, ListConfig, OmegaConf

from videosce.choices import ClipGapDist, DataFormat, RetrievalMode
from videosce.errors import ConfigError

from .schema import ABLATION_RANDOM_ROW

Rule = Tuple[str, bool, str]  # (key, holds, what the value must be)

QUEUE_METHODS = ("sce", "moco", "ressl")  # the methods whose loss takes negatives (videosce/losses/sce.py)
MOMENTUM_METHODS = ("sce", "moco", "ressl", "byol")  # EMA target: VCLR, local views, SCFS and DenseCL need it
EVAL_JOBS = ("finetune", "linear", "retrieval")  # the jobs that take data.split=all (splits 1-3, mean ± std)
VCOP_SPLIT = 1  # the VCOP retrieval protocol is defined on split 1 (docs/protocols.md)
DEMO_GROUPS = 10  # the demo's video groups (videosce/data/demo.py NUM_GROUPS): videos per class come in multiples
DEVICE = re.compile(r"auto|cpu|mps|cuda(:\d+)?")
# config key -> (module whose import fills the registry, the registry's name there)
REGISTRIES = {
    "model.backbone": ("videosce.models", "BACKBONES"),
    "method.name": ("videosce.methods", "METHODS"),
    "data.decoder": ("videosce.data.decoders", "DECODERS"),
    "optim.name": ("videosce.engine.optim", "OPTIMIZERS"),
}


def _pair(values: Optional[Sequence[float]], low: float = 0.0) -> bool:
    """[min, max] with low < min <= max."""
    return values is not None and len(values) == 2 and low < values[0] <= values[1]


def _probabilities(values: Sequence[float]) -> bool:
    return len(values) >= 1 and all(0 <= v <= 1 for v in values)


def _counts(values: Sequence[int]) -> bool:
    return len(values) >= 1 and all(v >= 1 for v in values)


def _floats(node: Any, key: str) -> Iterator[Tuple[str, float]]:
    """(key, value) of every float under `node` (list items as key[i])."""
    if isinstance(node, DictConfig):
        for name in node:
            yield from _floats(node[name], f"{key}.{name}" if key else str(name))
    elif isinstance(node, ListConfig):
        for i, item in enumerate(node):
            yield from _floats(item, f"{key}[{i}]")
    elif isinstance(node, float):
        yield key, node


def _finite(cfg: DictConfig) -> List[Rule]:
    return [(key, math.isfinite(value), "must be a finite number") for key, value in _floats(cfg, "")]


def _data_rules(d: DictConfig) -> List[Rule]:
    demo_splits = Path(d.video_root).parent / "splits"
    return [
        ("data.split", d.split in (1, 2, 3, "all"), "must be 1, 2, 3 or all"),
        ("data.num_workers", d.num_workers >= 0, "must be >= 0"),
        ("data.frames", d.frames >= 1, "must be >= 1"),
        ("data.stride", d.stride >= 1, "must be >= 1"),
        ("data.clip_duration", d.clip_duration >= 0, "must be >= 0 (0 = frames at data.stride)"),
        ("data.size", d.size >= 1, "must be >= 1"),
        ("data.num_views", d.num_views >= 1, "must be >= 1"),
        ("data.crop_scale", _pair(d.crop_scale) and d.crop_scale[1] <= 1, "must be [min, max] within (0, 1]"),
        ("data.crop_ratio", _pair(d.crop_ratio), "must be [min, max] with 0 < min <= max"),
        ("data.train_short_side", d.train_short_side is None or (len(d.train_short_side) == 2 and d.size <= d.train_short_side[0] <= d.train_short_side[1]),
         "must be [min, max] with data.size <= min <= max"),
        ("data.color_jitter", len(d.color_jitter) == 4 and min(d.color_jitter) >= 0 and d.color_jitter[3] <= 0.5,
         "must be [brightness, contrast, saturation, hue<=0.5], each >= 0"),
        ("data.color_jitter_p", 0 <= d.color_jitter_p <= 1, "must be within [0, 1]"),
        ("data.grayscale_p", 0 <= d.grayscale_p <= 1, "must be within [0, 1]"),
        ("data.blur_p", _probabilities(d.blur_p), "must be one or more probabilities (per view, cycled)"),
        ("data.solarize_p", _probabilities(d.solarize_p), "must be one or more probabilities (per view, cycled)"),
        ("data.temporal_difference_p", 0 <= d.temporal_difference_p <= 1, "must be within [0, 1]"),
        ("data.mean", d.mean is None or len(d.mean) == 3, "must be 3 per-channel values (or unset: the backbone's default)"),
        ("data.std", d.std is None or (len(d.std) == 3 and min(d.std) > 0), "must be 3 values > 0 (or unset: the backbone's default)"),
        ("data.eval_clips", d.eval_clips >= 1, "must be >= 1"),
        ("data.eval_short_side", d.eval_short_side >= 1, "must be >= 1"),
        ("data.max_bad_fraction", 0 <= d.max_bad_fraction <= 1, "must be within [0, 1]"),
        ("data.max_pixels", d.max_pixels >= 0, "must be >= 0 (0 = no limit)"),
        ("data.decode_timeout_s", d.decode_timeout_s >= 0, "must be >= 0 (0 = no limit)"),
        ("data.clip_gap", d.clip_gap is None or (len(d.clip_gap) == 2 and 0 <= d.clip_gap[0] <= d.clip_gap[1]), "must be [min, max] with 0 <= min <= max"),
        ("data.clip_gap", d.clip_gap is None or d.clip_gap_dist != ClipGapDist.off, "needs data.clip_gap_dist=uniform or cvrl"),
        ("data.clip_gap_c", d.clip_gap_c >= 1, "must be >= 1"),
        ("data.demo.videos_per_class", d.demo.videos_per_class >= 1 and d.demo.videos_per_class % DEMO_GROUPS == 0,
         f"must be a positive multiple of {DEMO_GROUPS} (the demo's groups)"),
        ("data.demo.num_frames", d.demo.num_frames >= 2, "must be >= 2"),
        ("data.demo.size", d.demo.size >= 16 and d.demo.size % 2 == 0, "must be an even number >= 16 (H.264 in yuv420p)"),
        ("data.demo.fps", d.demo.fps >= 1, "must be >= 1"),
        ("data.split_dir", d.format != DataFormat.demo or Path(d.split_dir).resolve() == demo_splits.resolve(),
         f"must be {demo_splits} for data.format=demo (demo data lives in <root>/videos and <root>/splits)"),
    ]


def _model_rules(m: DictConfig) -> List[Rule]:
    return [
        ("model.proj_hidden_dim", m.proj_hidden_dim >= 1, "must be >= 1"),
        ("model.proj_dim", m.proj_dim >= 1, "must be >= 1"),
        ("model.pred_hidden_dim", m.pred_hidden_dim >= 1, "must be >= 1"),
        ("model.dropout", 0 <= m.dropout < 1, "must be within [0, 1)"),
    ]


def _method_rules(m: DictConfig, frames: int, clip_gap_dist: ClipGapDist) -> List[Rule]:
    queue, hard, ii, ls, vclr = m.name in QUEUE_METHODS, m.hard_negatives, m.inter_intra, m.long_short, m.vclr
    only_queue = f"is only for method.name in {', '.join(QUEUE_METHODS)}"
    mochi_on = m.mochi.num_mix > 0 or m.mochi.num_mix_query > 0
    inter_intra_on = ii.rank_weight > 0 or ii.coherent_weight > 0
    return [
        ("method.coeff", 0 <= m.coeff <= 1, "must be within [0, 1]"),
        ("method.temp", m.temp > 0, "must be > 0"),
        ("method.temp_m", m.temp_m > 0, "must be > 0"),
        ("method.queue_size", m.queue_size >= 1, "must be >= 1"),
        ("method.momentum", 0 <= m.momentum <= 1, "must be within [0, 1]"),
        ("method.coeff_warmup_fraction", 0 <= m.coeff_warmup_fraction <= 1, "must be within [0, 1]"),
        ("method.coeff_warmup_fraction", m.coeff_warmup_fraction == 0 or m.name == "sce", "is only for method.name=sce"),
        ("method.temp_m_start", m.temp_m_start is None or m.temp_m_start > 0, "must be > 0"),
        ("method.temp_m_warmup_fraction", 0 <= m.temp_m_warmup_fraction <= 1, "must be within [0, 1]"),
        ("method.temp_m_warmup_fraction", m.temp_m_warmup_fraction == 0 or m.name in ("sce", "ressl"), "is only for method.name=sce or ressl"),
        ("method.use_keys", not m.use_keys or queue, only_queue),
        ("method.temporal_decay", 0 < m.temporal_decay <= 1, "must be within (0, 1]; 1 = off"),
        ("method.temporal_decay", m.temporal_decay == 1 or queue, only_queue),
        ("method.mochi.num_hard", m.mochi.num_hard >= 1, "must be >= 1"),
        ("method.mochi.num_mix", m.mochi.num_mix >= 0, "must be >= 0"),
        ("method.mochi.num_mix_query", m.mochi.num_mix_query >= 0, "must be >= 0"),
        ("method.mochi.start_fraction", 0 <= m.mochi.start_fraction < 1, "must be within [0, 1)"),
        ("method.mochi.num_mix", not mochi_on or queue, f"(MoCHi) {only_queue}"),
        ("method.hard_negatives.beta", hard.beta >= 0, "must be >= 0"),
        ("method.hard_negatives.tau_plus", 0 <= hard.tau_plus < 1, "must be within [0, 1)"),
        ("method.hard_negatives.beta", (hard.beta == 0 and hard.tau_plus == 0) or m.name in ("sce", "moco"), "(hard negatives) is only for method.name=sce or moco"),
        ("method.vclr.segments", vclr.segments == 0 or vclr.segments >= 2, "must be 0 (off) or >= 2"),
        ("method.vclr.segments", vclr.segments == 0 or clip_gap_dist == ClipGapDist.off, "cannot be combined with data.clip_gap_dist (the segments place the clips)"),
        ("method.vclr.segments", vclr.segments == 0 or m.name in MOMENTUM_METHODS, f"needs a momentum method ({', '.join(MOMENTUM_METHODS)})"),
        ("method.vclr.order_weight", vclr.order_weight >= 0, "must be >= 0"),
        ("method.vclr.segments", vclr.segments == 0 or max(ii.rank_weight, ii.coherent_weight, ls.weight) == 0,
         "cannot be combined with method.inter_intra / method.long_short (their terms take clips (B,3,T,H,W))"),
        ("method.inter_intra.chunks", ii.chunks >= 2, "must be >= 2"),
        ("method.inter_intra.chunks", ii.chunks <= frames or not inter_intra_on, "must be <= data.frames"),
        ("method.inter_intra.dim", ii.dim >= 1, "must be >= 1"),
        ("method.inter_intra.rank_weight", ii.rank_weight >= 0, "must be >= 0"),
        ("method.inter_intra.coherent_weight", ii.coherent_weight >= 0, "must be >= 0"),
        ("method.inter_intra.rank_temp", ii.rank_temp > 0, "must be > 0"),
        ("method.inter_intra.coherent_temp", ii.coherent_temp > 0, "must be > 0"),
        ("method.long_short.num_short", ls.num_short >= 2, "must be >= 2"),
        ("method.long_short.num_short", ls.num_short <= frames or ls.weight <= 0, "must be <= data.frames"),
        ("method.long_short.stationary_dim", 0 < ls.stationary_dim < ls.dim, "must be within (0, method.long_short.dim)"),
        ("method.long_short.weight", ls.weight >= 0, "must be >= 0"),
        ("method.long_short.temp", ls.temp > 0, "must be > 0"),
    ]


def _region_rules(cfg: DictConfig) -> List[Rule]:
    """The multi-crop local views, SCFS and DenseCL; each is off by default."""
    data, m = cfg.data, cfg.method
    local, scfs, dense = data.local_views > 0, m.scfs.weight > 0, m.densecl.weight > 0
    momentum = f"needs a momentum method ({', '.join(MOMENTUM_METHODS)})"
    return [
        ("data.local_views", data.local_views >= 0, "must be >= 0 (0 = off)"),
        ("data.local_views", not local or data.num_views == 2, "needs data.num_views=2 (the global views, then the local ones)"),
        ("data.local_views", not local or m.name in MOMENTUM_METHODS, momentum),
        ("data.local_views", not local or m.vclr.segments == 0, "cannot be combined with method.vclr.segments"),
        ("data.local_size", data.local_size >= 1, "must be >= 1"),
        ("data.local_crop_scale", _pair(data.local_crop_scale) and data.local_crop_scale[1] <= 1, "must be [min, max] within (0, 1]"),
        ("data.local_frames", data.local_frames is None or data.local_frames >= 1, "must be >= 1, or null (= data.frames)"),
        ("method.scfs.weight", m.scfs.weight >= 0, "must be >= 0"),
        ("method.scfs.weight", not scfs or local, "needs data.local_views >= 1 (SCFS searches the global views for each local one)"),
        ("method.scfs.weight", not scfs or m.name in MOMENTUM_METHODS, momentum),
        ("method.scfs.stages", len(m.scfs.stages) >= 1 and len(set(m.scfs.stages)) == len(m.scfs.stages), "must name at least one stage, each once"),
        ("method.scfs.bottleneck_dim", min(m.scfs.bottleneck_dim, m.scfs.hidden_dim, m.scfs.dim) >= 1, "(and hidden_dim, dim) must be >= 1"),
        ("method.scfs.temp", m.scfs.temp > 0, "must be > 0"),
        ("method.densecl.weight", 0 <= m.densecl.weight < 1, "must be within [0, 1): the dense share of the loss"),
        ("method.densecl.weight", not dense or m.name in MOMENTUM_METHODS, momentum),
        ("method.densecl.weight", not dense or m.vclr.segments == 0, "cannot be combined with method.vclr.segments (it needs clips (B,3,T,H,W))"),
        ("method.densecl.hidden_dim", min(m.densecl.hidden_dim, m.densecl.dim) >= 1, "(and dim) must be >= 1"),
        ("method.densecl.temp", m.densecl.temp > 0, "must be > 0"),
    ]


def _optim_rules(o: DictConfig) -> List[Rule]:
    return [
        ("optim.lr", o.lr > 0, "must be > 0"),
        ("optim.weight_decay", o.weight_decay >= 0, "must be >= 0"),
        ("optim.momentum", 0 <= o.momentum <= 1, "must be within [0, 1]"),
        ("optim.warmup_epochs", o.warmup_epochs >= 0, "must be >= 0"),
        ("optim.trust_coefficient", o.trust_coefficient > 0, "must be > 0"),
    ]


def _trainer_rules(t: DictConfig) -> List[Rule]:
    return [
        ("trainer.max_epochs", t.max_epochs >= 1, "must be >= 1"),
        ("trainer.batch_size", t.batch_size >= 1, "must be >= 1"),
        ("trainer.device", DEVICE.fullmatch(t.device) is not None, "must be auto, cpu, mps, cuda or cuda:<index>"),
        ("trainer.log_every_n_steps", t.log_every_n_steps >= 1, "must be >= 1"),
        ("trainer.save_every_n_epochs", t.save_every_n_epochs >= 1, "must be >= 1"),
        ("trainer.keep_last_k", t.keep_last_k >= 0, "must be >= 0"),
        ("trainer.grad_clip", t.grad_clip >= 0, "must be >= 0 (0 = off)"),
        ("trainer.accumulate_grad_batches", t.accumulate_grad_batches >= 1, "must be >= 1"),
        ("trainer.save_every_n_steps", t.save_every_n_steps >= 0, "must be >= 0 (0 = at epoch ends only)"),
    ]


def _eval_rules(e: DictConfig) -> List[Rule]:
    return [
        ("eval.ks", _counts(e.ks), "must be one or more k >= 1"),
        ("eval.batch_size", e.batch_size >= 1, "must be >= 1"),
        ("eval.num_crops", e.num_crops >= 1, "must be >= 1"),
        ("eval.crop_size", e.crop_size is None or e.crop_size >= 1, "must be >= 1 (or unset: data.size)"),
        ("eval.test_every_n_epochs", e.test_every_n_epochs >= 0, "must be >= 0 (0 = the last epoch only)"),
        ("eval.knn_k", _counts(e.knn_k), "must be one or more k >= 1"),
        ("eval.knn_temperature", e.knn_temperature > 0, "must be > 0"),
        ("eval.knn_every_n_epochs", e.knn_every_n_epochs >= 0, "must be >= 0 (0 = off)"),
        ("eval.knn_monitor_videos", e.knn_monitor_videos >= 1, "must be >= 1"),
    ]


def _job_rules(cfg: DictConfig, job: Optional[str]) -> List[Rule]:
    """What `job` runs: pretraining needs two views and one split; a retrieval run (the retrieval job,
    or pretraining's end-of-run check) its protocol's split; every job that builds the config's own
    test views (finetune, linear, kNN monitor, clean-mode retrieval) a short side that holds the crop."""
    if job is None:
        return []
    data, ev = cfg.data, cfg.eval
    retrieval = job == "retrieval" or (job == "pretrain" and ev.retrieval_at_end)
    own_views = job in ("finetune", "linear") or (retrieval and ev.retrieval_mode == RetrievalMode.clean) or (
        job == "pretrain" and ev.knn_every_n_epochs > 0)
    crop = ev.crop_size or data.size
    return [
        ("data.split", data.split != "all" or job in EVAL_JOBS, f"is only for the evaluation jobs ({', '.join(EVAL_JOBS)}); pick one split, 1..3, here"),
        ("data.num_views", data.num_views >= 2 or job != "pretrain", "must be >= 2 to pretrain (the methods compare views of a video)"),
        ("data.split", not retrieval or ev.retrieval_mode != RetrievalMode.vcop or data.split == VCOP_SPLIT,
         f"must be {VCOP_SPLIT} with eval.retrieval_mode=vcop (the protocol is defined on split {VCOP_SPLIT}, docs/protocols.md)"),
        ("data.eval_short_side", not own_views or data.eval_short_side >= crop, f"must be >= the test crop size {crop} (eval.crop_size or data.size)"),
    ]


def _raise_first(rules: List[Rule], cfg: DictConfig) -> None:
    for key, holds, rule in rules:
        if not holds:
            raise ConfigError(f"bad value for config key '{key}': {_shown(OmegaConf.select(cfg, key.split('[')[0]), key)} {rule}")


def _shown(value: Any, key: str) -> str:
    if "[" in key:  # a list item: show the item
        value = value[int(key[key.index("[") + 1 : key.index("]")])]
    if OmegaConf.is_config(value):
        return str(OmegaConf.to_container(value))
    return str(value)


def validate(cfg: DictConfig, job: Optional[str] = None) -> None:
    """Every torch-free rule; the first broken one raises ConfigError."""
    _raise_first(_finite(cfg), cfg)
    sections = [*_data_rules(cfg.data), *_model_rules(cfg.model), *_method_rules(cfg.method, cfg.data.frames, cfg.data.clip_gap_dist),
                *_region_rules(cfg), *_optim_rules(cfg.optim), *_trainer_rules(cfg.trainer), *_eval_rules(cfg.eval)]
    _raise_first(sections, cfg)
    _raise_first(_job_rules(cfg, job), cfg)


def check_registered_names(cfg: DictConfig) -> None:
    """model.backbone, method.name, data.decoder and optim.name must name registered entries (imports torch)."""
    for key, (module, attribute) in REGISTRIES.items():
        registry = getattr(importlib.import_module(module), attribute)
        name = OmegaConf.select(cfg, key)
        if name not in registry:
            names = registry.list()
            near = difflib.get_close_matches(name, names, n=3)
            hint = f" (near: {', '.join(near)})" if near else ""
            raise ConfigError(f"bad value for config key '{key}': '{name}' is not a registered {registry.kind}{hint}; choose one of: {', '.join(names)}")


def validate_ablation(cfg: DictConfig) -> None:
    _raise_first([
        ("variants", len(cfg.variants) >= 1, "must name at least one variant"),
        ("seeds", len(cfg.seeds) >= 1, "must give at least one seed"),
        ("variants", ABLATION_RANDOM_ROW not in cfg.variants, f"must not use '{ABLATION_RANDOM_ROW}', the name of the random-init row"),
    ], cfg)
