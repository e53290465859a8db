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


# The plain ranges, one table each. A note after the bound says what its edge means.
AT_LEAST = {  # key -> smallest value (inclusive)
    "data.num_workers": 0, "data.frames": 1, "data.stride": 1, "data.clip_duration": (0, "0 = frames at data.stride"), "data.size": 1,
    "data.num_views": 1, "data.eval_clips": 1, "data.eval_short_side": 1, "data.max_pixels": (0, "0 = no limit"),
    "data.decode_timeout_s": (0, "0 = no limit"), "data.clip_gap_c": 1, "data.demo.num_frames": 2, "data.demo.fps": 1,
    "data.local_views": (0, "0 = off"), "data.local_size": 1,
    "data.dali.prefetch": 1, "data.dali.num_threads": 1,
    "model.proj_hidden_dim": 1, "model.proj_dim": 1, "model.pred_hidden_dim": 1,
    "method.queue_size": 1, "method.mochi.num_hard": 1, "method.mochi.num_mix": 0, "method.mochi.num_mix_query": 0,
    "method.hard_negatives.beta": 0, "method.vclr.order_weight": 0, "method.inter_intra.chunks": 2, "method.inter_intra.dim": 1,
    "method.inter_intra.rank_weight": 0, "method.inter_intra.coherent_weight": 0, "method.long_short.num_short": 2,
    "method.long_short.weight": 0, "method.scfs.weight": 0, "method.scfs.bottleneck_dim": 1, "method.scfs.hidden_dim": 1,
    "method.scfs.dim": 1, "method.densecl.hidden_dim": 1, "method.densecl.dim": 1,
    "optim.weight_decay": 0, "optim.warmup_epochs": 0,
    "trainer.max_epochs": 1, "trainer.batch_size": 1, "trainer.log_every_n_steps": 1, "trainer.save_every_n_epochs": 1,
    "trainer.keep_last_k": 0, "trainer.grad_clip": (0, "0 = off"), "trainer.accumulate_grad_batches": 1,
    "trainer.save_every_n_steps": (0, "0 = at epoch ends only"), "trainer.threads": (0, "0 = torch's default"),
    "eval.batch_size": 1, "eval.num_crops": 1, "eval.test_every_n_epochs": (0, "0 = the last epoch only"),
    "eval.knn_every_n_epochs": (0, "0 = off"), "eval.knn_monitor_videos": 1,
}
POSITIVE = ("method.temp", "method.temp_m", "method.inter_intra.rank_temp", "method.inter_intra.coherent_temp", "method.long_short.temp",
            "method.scfs.temp", "method.densecl.temp", "optim.lr", "optim.trust_coefficient", "eval.knn_temperature")
FRACTIONS = {  # key -> whether 1 itself is allowed: within [0, 1] or [0, 1)
    "data.color_jitter_p": True, "data.grayscale_p": True, "data.temporal_difference_p": True, "data.max_bad_fraction": True,
    "model.dropout": False, "method.coeff": True, "method.momentum": True, "method.coeff_warmup_fraction": True,
    "method.temp_m_warmup_fraction": True, "method.mochi.start_fraction": False, "method.hard_negatives.tau_plus": False,
    "method.densecl.weight": False, "optim.momentum": True,
}


def _ranges(cfg: DictConfig) -> List[Rule]:
    rules = []
    for key, bound in AT_LEAST.items():
        low, note = bound if isinstance(bound, tuple) else (bound, "")
        rules.append((key, OmegaConf.select(cfg, key) >= low, f"must be >= {low}" + (f" ({note})" if note else "")))
    rules += [(key, OmegaConf.select(cfg, key) > 0, "must be > 0") for key in POSITIVE]
    for key, closed in FRACTIONS.items():
        value = OmegaConf.select(cfg, key)
        rules.append((key, 0 <= value <= 1 if closed else 0 <= value < 1, f"must be within [0, 1{']' if closed else ')'}"))
    return rules


def _data_rules(d: DictConfig) -> List[Rule]:
    demo_splits = Path(d.video_root).parent / "splits"
    return [
        ("data.split", d.split in (1, 2, 3, "all"), "must be 1, 2, 3 or all"),
        ("data.crop_scale", _pair(d.crop_scale) and d.crop_scale[1] <= 1, "must be [min, max] within (0, 1]"),
        ("data.crop_ratio", _pair(d.crop_ratio), "must be [min, max] with 0 < min <= max"),
        ("data.train_short_side", d.train_short_side is None or (len(d.train_short_side) == 2 and d.size <= d.train_short_side[0] <= d.train_short_side[1]),
         "must be [min, max] with data.size <= min <= max"),
        ("data.color_jitter", len(d.color_jitter) == 4 and min(d.color_jitter) >= 0 and d.color_jitter[3] <= 0.5,
         "must be [brightness, contrast, saturation, hue<=0.5], each >= 0"),
        ("data.blur_p", _probabilities(d.blur_p), "must be one or more probabilities (per view, cycled)"),
        ("data.solarize_p", _probabilities(d.solarize_p), "must be one or more probabilities (per view, cycled)"),
        ("data.mean", d.mean is None or len(d.mean) == 3, "must be 3 per-channel values (or unset: the backbone's default)"),
        ("data.std", d.std is None or (len(d.std) == 3 and min(d.std) > 0), "must be 3 values > 0 (or unset: the backbone's default)"),
        ("data.clip_gap", d.clip_gap is None or (len(d.clip_gap) == 2 and 0 <= d.clip_gap[0] <= d.clip_gap[1]), "must be [min, max] with 0 <= min <= max"),
        ("data.clip_gap", d.clip_gap is None or d.clip_gap_dist != ClipGapDist.off, "needs data.clip_gap_dist=uniform or cvrl"),
        ("data.demo.videos_per_class", d.demo.videos_per_class >= 1 and d.demo.videos_per_class % DEMO_GROUPS == 0,
         f"must be a positive multiple of {DEMO_GROUPS} (the demo's groups)"),
        ("data.demo.size", d.demo.size >= 16 and d.demo.size % 2 == 0, "must be an even number >= 16 (H.264 in yuv420p)"),
        ("data.split_dir", d.format != DataFormat.demo or Path(d.split_dir).resolve() == demo_splits.resolve(),
         f"must be {demo_splits} for data.format=demo (demo data lives in <root>/videos and <root>/splits)"),
    ]


def _method_rules(m: DictConfig, frames: int, clip_gap_dist: ClipGapDist) -> List[Rule]:
    queue, hard, ii, ls, vclr = m.name in QUEUE_METHODS, m.hard_negatives, m.inter_intra, m.long_short, m.vclr
    only_queue = f"is only for method.name in {', '.join(QUEUE_METHODS)}"
    mochi_on = m.mochi.num_mix > 0 or m.mochi.num_mix_query > 0
    inter_intra_on = ii.rank_weight > 0 or ii.coherent_weight > 0
    return [
        ("method.coeff_warmup_fraction", m.coeff_warmup_fraction == 0 or m.name == "sce", "is only for method.name=sce"),
        ("method.temp_m_start", m.temp_m_start is None or m.temp_m_start > 0, "must be > 0"),
        ("method.temp_m_warmup_fraction", m.temp_m_warmup_fraction == 0 or m.name in ("sce", "ressl"), "is only for method.name=sce or ressl"),
        ("method.use_keys", not m.use_keys or queue, only_queue),
        ("method.temporal_decay", 0 < m.temporal_decay <= 1, "must be within (0, 1]; 1 = off"),
        ("method.temporal_decay", m.temporal_decay == 1 or queue, only_queue),
        ("method.mochi.num_mix", not mochi_on or queue, f"(MoCHi) {only_queue}"),
        ("method.hard_negatives.beta", (hard.beta == 0 and hard.tau_plus == 0) or m.name in ("sce", "moco"), "(hard negatives) is only for method.name=sce or moco"),
        ("method.vclr.segments", vclr.segments == 0 or vclr.segments >= 2, "must be 0 (off) or >= 2"),
        ("method.vclr.segments", vclr.segments == 0 or clip_gap_dist == ClipGapDist.off, "cannot be combined with data.clip_gap_dist (the segments place the clips)"),
        ("method.vclr.segments", vclr.segments == 0 or m.name in MOMENTUM_METHODS, f"needs a momentum method ({', '.join(MOMENTUM_METHODS)})"),
        ("method.vclr.segments", vclr.segments == 0 or max(ii.rank_weight, ii.coherent_weight, ls.weight) == 0,
         "cannot be combined with method.inter_intra / method.long_short (their terms take clips (B,3,T,H,W))"),
        ("method.inter_intra.chunks", ii.chunks <= frames or not inter_intra_on, "must be <= data.frames"),
        ("method.long_short.num_short", ls.num_short <= frames or ls.weight <= 0, "must be <= data.frames"),
        ("method.long_short.stationary_dim", 0 < ls.stationary_dim < ls.dim, "must be within (0, method.long_short.dim)"),
    ]


def _region_rules(cfg: DictConfig) -> List[Rule]:
    """The multi-crop local views, SCFS and DenseCL; each is off by default."""
    data, m = cfg.data, cfg.method
    local, scfs, dense = data.local_views > 0, m.scfs.weight > 0, m.densecl.weight > 0
    momentum = f"needs a momentum method ({', '.join(MOMENTUM_METHODS)})"
    return [
        ("data.local_views", not local or data.num_views == 2, "needs data.num_views=2 (the global views, then the local ones)"),
        ("data.local_views", not local or m.name in MOMENTUM_METHODS, momentum),
        ("data.local_views", not local or m.vclr.segments == 0, "cannot be combined with method.vclr.segments"),
        ("data.local_crop_scale", _pair(data.local_crop_scale) and data.local_crop_scale[1] <= 1, "must be [min, max] within (0, 1]"),
        ("data.local_frames", data.local_frames is None or data.local_frames >= 1, "must be >= 1, or null (= data.frames)"),
        ("method.scfs.weight", not scfs or local, "needs data.local_views >= 1 (SCFS searches the global views for each local one)"),
        ("method.scfs.weight", not scfs or m.name in MOMENTUM_METHODS, momentum),
        ("method.scfs.stages", len(m.scfs.stages) >= 1 and len(set(m.scfs.stages)) == len(m.scfs.stages), "must name at least one stage, each once"),
        ("method.densecl.weight", not dense or m.name in MOMENTUM_METHODS, momentum),
        ("method.densecl.weight", not dense or m.vclr.segments == 0, "cannot be combined with method.vclr.segments (it needs clips (B,3,T,H,W))"),
    ]


def _other_rules(cfg: DictConfig) -> List[Rule]:
    t, e = cfg.trainer, cfg.eval
    return [
        ("trainer.device", DEVICE.fullmatch(t.device) is not None, "must be auto, cpu, mps, cuda or cuda:<index>"),
        ("eval.ks", _counts(e.ks), "must be one or more k >= 1"),
        ("eval.crop_size", e.crop_size is None or e.crop_size >= 1, "must be >= 1 (or unset: data.size)"),
        ("eval.knn_k", _counts(e.knn_k), "must be one or more k >= 1"),
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
    sections = [*_ranges(cfg), *_data_rules(cfg.data), *_method_rules(cfg.method, cfg.data.frames, cfg.data.clip_gap_dist),
                *_region_rules(cfg), *_other_rules(cfg)]
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
        ("only", set(cfg.only) <= set(cfg.variants), f"names variants the config lacks: {sorted(set(cfg.only) - set(cfg.variants))}; "
                                                     f"choose among {list(cfg.variants)}"),
    ], cfg)
