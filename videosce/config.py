"""Strict, typed configuration: YAML + `key.sub=value` overrides, unknown keys and bad types rejected.

Every value has one home here; builders receive only their own section. A bad key or value
raises `ConfigError` whose message is one line naming the key.
"""
from __future__ import annotations

import argparse
import copy
import difflib
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

from omegaconf import MISSING, DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from videosce.errors import UserError

DATA_FORMATS = ("ucf101", "hmdb51", "kinetics", "demo")
PRECISIONS = ("32", "bf16", "16")
DECAY_MODES = ("similarity", "weight")  # method.temporal_decay_mode, see videosce/losses/sce.py
CLIP_GAP_DISTS = ("off", "uniform", "cvrl")  # data.clip_gap_dist; the last two are samplers.GAP_DISTRIBUTIONS
TRUNCATED_POLICIES = ("skip", "use")  # data.truncated
CONFIG_ROOT = Path(__file__).resolve().parents[1] / "configs"  # configs/<job>/<name>.yaml, the shipped recipes


class ConfigError(UserError, ValueError):
    """A configuration problem, described in one line that names the key."""


@dataclass
class ModelConfig:
    backbone: str = "r3d_18"
    proj_hidden_dim: int = 1024  # SCE R3D-18 projector 512-1024-1024-256 (docs/recipes.md)
    proj_dim: int = 256
    pred_hidden_dim: int = 1024  # predictor 256-1024-256
    dropout: float = 0.0  # before the classifier when finetuning
    channels_last: bool = False  # channels_last_3d memory format for the backbone
    compile: bool = False  # torch.compile the backbone's forward


@dataclass
class DemoDataConfig:
    videos_per_class: int = 40
    num_frames: int = 32
    size: int = 64
    fps: int = 16
    seed: int = 0


@dataclass
class DataConfig:
    format: str = "ucf101"
    video_root: str = MISSING
    split_dir: str = MISSING
    split: Union[int, str] = 1  # official split 1, 2 or 3; "all": eval tools run the three, report mean ± std
    decoder: str = "pyav"
    num_workers: int = 4  # DataLoader processes, at most: capped by the CPUs this process may use
    frames: int = 8
    stride: int = 4
    clip_duration: float = 0.0  # seconds; > 0 samples `frames` frames uniformly over this window (SCE: 2.56) instead of `stride`
    clip_gap_dist: str = "off"  # distance between the starts of view 0 and each other view: off (independent uniform starts) | uniform | cvrl (density ∝ c - t, Qian et al. 2021)
    clip_gap: Optional[List[float]] = None  # [min, max] of that distance: seconds when clip_duration > 0, else frames; None = [0, the longest the video allows]
    clip_gap_c: float = 1.0  # cvrl's c as a multiple of the video's longest possible gap T (>= 1; 1 = the triangle 2(T-t)/T^2, larger = flatter)
    size: int = 112
    num_views: int = 2
    crop_scale: List[float] = field(default_factory=lambda: [0.2, 0.766])  # SCE video recipe
    crop_ratio: List[float] = field(default_factory=lambda: [0.75, 1.333])
    train_short_side: Optional[List[int]] = None  # [min, max]: train crop = short side scaled to a random size in it, then a random data.size crop (SCE finetuning: [256, 320]); None = random resized crop (crop_scale, crop_ratio)
    color_jitter: List[float] = field(default_factory=lambda: [0.8, 0.8, 0.4, 0.2])  # brightness, contrast, saturation, hue
    color_jitter_p: float = 0.8
    grayscale_p: float = 0.2
    blur_p: List[float] = field(default_factory=lambda: [0.0, 0.0])  # per view, cycled; SCE recipe [1.0, 0.1]
    solarize_p: List[float] = field(default_factory=lambda: [0.0, 0.0])  # per view; SCE recipe [0.0, 0.2]
    temporal_difference_p: float = 0.0  # SCE recipe 0.2
    # multi-crop local clips (videosce/data/datasets.py): online-only views after the 2 global ones; 0 = off
    local_views: int = 0
    local_size: int = 96  # side of a local clip's crop
    local_crop_scale: List[float] = field(default_factory=lambda: [0.05, 0.4])  # DINO / SCFS local crops
    local_frames: Optional[int] = None  # frames of a local clip, same stride (shorter span); None = data.frames
    mean: Optional[List[float]] = None  # per-channel normalisation of clips in [0, 1]; None = the backbone's registry default (0.45)
    std: Optional[List[float]] = None  # None = the backbone's registry default (0.225); evaluation uses what the checkpoint recorded
    eval_clips: int = 10
    eval_short_side: int = 128
    max_bad_fraction: float = 0.05  # the run stops (one line) as soon as more of a dataset's videos were unreadable
    max_pixels: int = 4096 * 2160  # width x height above which a video is refused at probe time (DCI 4K; one RGB frame = 26.5 MB); 0 = no limit
    truncated: str = "skip"  # a video cut short (frames end well before its stated length, or damaged packets): skip | use (its frames, listed as used)
    decode_timeout_s: float = 60.0  # a probe or decode running longer is cut and the video counted as bad; 0 = no limit
    demo: DemoDataConfig = field(default_factory=DemoDataConfig)


@dataclass
class InterIntraConfig:
    """DualVar auxiliary term (Zhang et al., BMVC 2021; videosce/losses/temporal.py); off while both weights are 0."""

    chunks: int = 2  # C: temporal chunks of a clip = slots of the series head
    dim: int = 64  # width of each chunk slot
    rank_weight: float = 0.0  # shuffle-rank (intra-variance) loss weight
    coherent_weight: float = 0.0  # temporal-coherent NT-Xent weight
    rank_temp: float = 0.05  # theta of the ranking softplus
    coherent_temp: float = 0.07  # temperature of the temporal-coherent NT-Xent


@dataclass
class LongShortConfig:
    """Long/short view decomposition (Behrmann et al., ICCV 2021; videosce/losses/temporal.py); off while weight is 0."""

    num_short: int = 2  # short sub-views cut from the long view (view 0) along time
    dim: int = 128  # embedding width: stationary part + non-stationary part
    stationary_dim: int = 64  # leading dims that are the stationary part
    weight: float = 0.0
    temp: float = 0.1  # InfoNCE temperature of both parts


@dataclass
class VCLRConfig:
    """Video-level views (Kuang et al., ICCV 2021; videosce/methods/vclr.py); off while segments is 0."""

    segments: int = 0  # S >= 2: a view = one random clip per equal segment (B,S,3,T,H,W), backbone features averaged before the projector
    order_weight: float = 1.0  # weight of the temporal-order BCE (segment order shuffled with p 0.5, a head on the concatenated segment features); 0 = no order head


@dataclass
class ScfsConfig:
    """Semantics-consistent feature search (Song et al., ICCV 2023; videosce/methods/scfs.py); off while
    weight is 0; needs data.local_views >= 1."""

    weight: float = 0.0  # loss + weight * (sum over stages of the mean over local views); the authors' 0.5 per stage
    stages: List[str] = field(default_factory=lambda: ["res3", "res4", "res5"])  # backbone stages searched
    bottleneck_dim: int = 256  # the per-stage head: residual conv bottleneck width ...
    hidden_dim: int = 2048  # ... then an MLP C-hidden-dim (the authors' 256 / 2048 / 256)
    dim: int = 256
    temp: float = 0.1
    soft: bool = True  # SCE (method.coeff, method.temp_m) against the other videos' searched keys; false = InfoNCE


@dataclass
class DenseCLConfig:
    """Dense contrastive learning (Wang et al., CVPR 2021; videosce/methods/densecl.py); off while weight is 0."""

    weight: float = 0.0  # the paper's lambda: loss = (1 - lambda) * global + lambda * dense (paper 0.5)
    hidden_dim: int = 2048  # dense head: 1x1x1 conv C-hidden, ReLU, 1x1x1 conv hidden-dim
    dim: int = 128
    temp: float = 0.2  # the paper's (MoCo v2's) temperature
    soft: bool = False  # SCE's soft target (method.coeff, method.temp_m) on the dense term; false = the paper's InfoNCE


@dataclass
class MochiConfig:
    """Hard negative mixing (Kalantidis et al., NeurIPS 2020) for sce / moco / ressl; off while num_mix = num_mix_query = 0."""

    num_hard: int = 1024  # N: hardest queue negatives per query to mix from (MoCHi's N = 1024)
    num_mix: int = 0  # s: synthetic negatives mixing two of them (convex, re-normalised)
    num_mix_query: int = 0  # s': synthetic negatives mixing the query (weight < 0.5) with one of them
    start_fraction: float = 0.0  # fraction of training before mixing starts


@dataclass
class HardNegativesConfig:
    """Hard negative reweighting with debiasing (Robinson et al., ICLR 2021) for sce / moco; off while both are 0."""

    beta: float = 0.0  # concentration on hard negatives (weights e^{beta * logit}); 0 = debiased loss of Chuang et al.
    tau_plus: float = 0.0  # class prior of false negatives; 0 with beta 0 = InfoNCE


@dataclass
class MethodConfig:
    name: str = "sce"
    coeff: float = 0.5  # lambda
    temp: float = 0.1  # tau
    temp_m: float = 0.05  # tau_m
    queue_size: int = 65536
    momentum: float = 0.99  # start of the cosine EMA schedule to 1
    sym: bool = True
    predictor: bool = True  # online predictor head (SCE, MoCo v3, BYOL); false for MoCo v2
    vclr: VCLRConfig = field(default_factory=VCLRConfig)  # video-level views of the momentum methods
    inter_intra: InterIntraConfig = field(default_factory=InterIntraConfig)  # auxiliary term of the momentum methods
    long_short: LongShortConfig = field(default_factory=LongShortConfig)  # auxiliary term of the momentum methods
    scfs: ScfsConfig = field(default_factory=ScfsConfig)  # region-level term of the momentum methods
    densecl: DenseCLConfig = field(default_factory=DenseCLConfig)  # region-level term of the momentum methods
    # SCE warm-ups (reference code: lambda linear from 1, tau_m cosine from temp_m_start), as fractions of training
    coeff_warmup_fraction: float = 0.0  # sce: lambda goes linearly from 1 to `coeff` over this fraction; 0 = off
    temp_m_start: Optional[float] = None  # sce / ressl: tau_m at step 0 of its warm-up; None = temp_m
    temp_m_warmup_fraction: float = 0.0  # sce / ressl: tau_m follows a cosine from temp_m_start to temp_m; 0 = off
    use_keys: bool = False  # sce / moco / ressl: every rank's batch keys join the negatives, own key masked (SCE code)
    temporal_decay: float = 1.0  # VideoMoCo's t (0.99999 there): queue negatives decay by t^age (steps); 1 = off
    temporal_decay_mode: str = "similarity"  # similarity: t^age * q.u (VideoMoCo's code) | weight: t^age * exp(q.u / tau)
    mochi: MochiConfig = field(default_factory=MochiConfig)
    hard_negatives: HardNegativesConfig = field(default_factory=HardNegativesConfig)


@dataclass
class OptimConfig:
    name: str = "sgd"
    lr: float = 0.1
    weight_decay: float = 1e-6
    momentum: float = 0.9
    warmup_epochs: float = 0.0
    scale_lr_by_batch: bool = False  # lr * global_batch / 256
    trust_coefficient: float = 0.001  # LARS eta


@dataclass
class TrainerConfig:
    max_epochs: int = 200
    batch_size: int = 64
    device: str = "auto"
    log_every_n_steps: int = 10
    save_every_n_epochs: int = 1  # export the backbone's weights every N epochs (checkpoints/backbone-epoch-NNNN.pt)
    keep_last_k: int = 2  # backbone-epoch-NNNN.pt files kept (the newest); the final backbone.pt and last.ckpt always stay
    progress_bar: bool = True
    grad_clip: float = 0.0  # max gradient norm; 0 = off
    precision: str = "32"  # "32" | "bf16" | "16" (fp16 with loss scaling); replaced, with one line, where the device runs it slowly
    accumulate_grad_batches: int = 1
    sync_bn: bool = False  # SyncBatchNorm across ranks (CUDA only)
    save_every_n_steps: int = 0  # also refresh last.ckpt every N steps; 0 = at epoch ends only
    deterministic: bool = False  # deterministic algorithms only (torch.use_deterministic_algorithms; cuDNN/cuBLAS set for it)
    threads: int = 0  # torch intra-op threads; 0 = torch's default (this machine's cores). Results depend on it


@dataclass
class EvalConfig:
    retrieval_at_end: bool = True
    retrieval_mode: str = "clean"  # clean | vcop | sce: the retrieval protocols of docs/protocols.md, named in every output
    ks: List[int] = field(default_factory=lambda: [1, 5, 10, 20, 50])  # clean mode; vcop fixes 1, 5, 10, 20, 50, sce 1, 5, 10, 15, 20, 25
    batch_size: int = 16  # videos per test batch (each brings data.eval_clips x num_crops clips)
    num_crops: int = 1  # spatial crops per test clip along the long side; SCE test protocol: 3 (docs/protocols.md)
    crop_size: Optional[int] = None  # side of the test crops; None = data.size (SCE: three 256 crops of a 256 short side)
    test_every_n_epochs: int = 0  # finetuning: also test every N epochs; best_by_test_* report the epoch the test split rates best (the SCE reference's selection); 0 = the last epoch only
    knn_k: List[int] = field(default_factory=lambda: [20, 200])  # kNN classifier (Wu et al. 2018; DINO eval_knn)
    knn_temperature: float = 0.07  # vote weight exp(similarity / T)
    knn_every_n_epochs: int = 0  # online kNN monitor during pretraining (train bank, test queries); 0 = off
    knn_monitor_videos: int = 1000  # evenly spaced videos per split the monitor uses, so it stays cheap


@dataclass
class Config:
    output_dir: str = "outputs/run"
    seed: int = 0
    resume: Optional[str] = None
    checkpoint: Any = None  # eval tools: a checkpoint path, "random", or a list of them
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    method: MethodConfig = field(default_factory=MethodConfig)
    optim: OptimConfig = field(default_factory=OptimConfig)
    trainer: TrainerConfig = field(default_factory=TrainerConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)


ABLATION_RANDOM_ROW = "random init"  # tools/ablate.py: the row of a randomly initialised backbone (no pretraining)


@dataclass
class AblationConfig:
    """tools/ablate.py: variants x seeds, each pretrained, then evaluated (videosce/eval/ablation.py)."""

    output_dir: str = "outputs/ablate"
    pretrain: str = "configs/pretrain/demo_sce.yaml"  # base configs the overrides apply to
    retrieval: str = "configs/retrieval/demo.yaml"
    finetune: str = "configs/finetune/demo.yaml"
    seeds: List[int] = field(default_factory=lambda: [0, 1])
    pretrain_overrides: List[str] = field(default_factory=list)  # the shared budget, for every variant
    retrieval_overrides: List[str] = field(default_factory=list)
    finetune_overrides: List[str] = field(default_factory=list)
    random_baseline: bool = True  # also evaluate a randomly initialised backbone per seed
    # name -> pretrain overrides; the first is the reference for the cost ratio (plain SCE)
    variants: Dict[str, List[str]] = field(default_factory=dict)


def load_ablation_config(path: str | Path, overrides: Sequence[str] = ()) -> DictConfig:
    cfg = load_structured(AblationConfig, path, overrides, job="ablate")
    if not cfg.variants:
        raise ConfigError("bad value for config key 'variants': name at least one variant")
    if not cfg.seeds:
        raise ConfigError("bad value for config key 'seeds': give at least one seed")
    if ABLATION_RANDOM_ROW in cfg.variants:
        raise ConfigError(f"bad value for config key 'variants': '{ABLATION_RANDOM_ROW}' is the name of the random-init row")
    return cfg


def _one_line(exc: OmegaConfBaseException) -> str:
    return str(exc).strip().splitlines()[0]


def _merge(base: DictConfig, other: DictConfig, source: str) -> DictConfig:
    try:
        return OmegaConf.merge(base, other)
    except ConfigKeyError as exc:
        key = getattr(exc, "full_key", None) or _one_line(exc)
        raise ConfigError(f"{source}: unknown config key '{key}'") from None
    except ValidationError as exc:
        key = getattr(exc, "full_key", "?")
        raise ConfigError(f"{source}: bad value for config key '{key}': {_one_line(exc)}") from None
    except OmegaConfBaseException as exc:
        raise ConfigError(f"{source}: {_one_line(exc)}") from None


def _inter_intra_on(cfg: DictConfig) -> bool:
    return cfg.method.inter_intra.rank_weight > 0 or cfg.method.inter_intra.coherent_weight > 0


QUEUE_METHODS = ("sce", "moco", "ressl")  # the methods whose loss takes negatives (videosce/losses/sce.py)


def _negative_checks(m: DictConfig) -> list:
    """(key, ok, rule) for the warm-up and negative options; each is off by default."""
    queue, hard = m.name in QUEUE_METHODS, m.hard_negatives
    mochi_on = m.mochi.num_mix > 0 or m.mochi.num_mix_query > 0
    return [
        ("method.coeff_warmup_fraction", 0 <= m.coeff_warmup_fraction <= 1, "must be within [0, 1]"),
        ("method.coeff_warmup_fraction", m.coeff_warmup_fraction == 0 or m.name == "sce", "is only for method.name=sce"),
        ("method.temp_m_start", m.temp_m_start is None or m.temp_m_start > 0, "must be > 0"),
        ("method.temp_m_warmup_fraction", 0 <= m.temp_m_warmup_fraction <= 1, "must be within [0, 1]"),
        ("method.temp_m_warmup_fraction", m.temp_m_warmup_fraction == 0 or m.name in ("sce", "ressl"), "is only for method.name=sce or ressl"),
        ("method.use_keys", not m.use_keys or queue, f"is only for method.name in {', '.join(QUEUE_METHODS)}"),
        ("method.temporal_decay", 0 < m.temporal_decay <= 1, "must be within (0, 1]; 1 = off"),
        ("method.temporal_decay", m.temporal_decay == 1 or queue, f"is only for method.name in {', '.join(QUEUE_METHODS)}"),
        ("method.temporal_decay_mode", m.temporal_decay_mode in DECAY_MODES, f"must be one of {', '.join(DECAY_MODES)}"),
        ("method.mochi.num_hard", m.mochi.num_hard >= 1, "must be >= 1"),
        ("method.mochi.num_mix", m.mochi.num_mix >= 0, "must be >= 0"),
        ("method.mochi.num_mix_query", m.mochi.num_mix_query >= 0, "must be >= 0"),
        ("method.mochi.start_fraction", 0 <= m.mochi.start_fraction < 1, "must be within [0, 1)"),
        ("method.mochi.num_mix", not mochi_on or queue, f"(MoCHi) is only for method.name in {', '.join(QUEUE_METHODS)}"),
        ("method.hard_negatives.beta", hard.beta >= 0, "must be >= 0"),
        ("method.hard_negatives.tau_plus", 0 <= hard.tau_plus < 1, "must be within [0, 1)"),
        ("method.hard_negatives.beta", (hard.beta == 0 and hard.tau_plus == 0) or m.name in ("sce", "moco"), "(hard negatives) is only for method.name=sce or moco"),
    ]


MOMENTUM_METHODS = ("sce", "moco", "ressl", "byol")  # EMA target: local views, SCFS and DenseCL need it


def _region_checks(cfg: DictConfig) -> list:
    """(key, ok, rule) for the multi-crop local views, SCFS and DenseCL; each is off by default."""
    data, m = cfg.data, cfg.method
    local, scfs, dense = data.local_views > 0, m.scfs.weight > 0, m.densecl.weight > 0
    momentum = f"needs a momentum method ({', '.join(MOMENTUM_METHODS)})"
    return [
        ("data.local_views", data.local_views >= 0, "must be >= 0 (0 = off)"),
        ("data.local_views", not local or data.num_views == 2, "needs data.num_views=2 (the global views, then the local ones)"),
        ("data.local_views", not local or m.name in MOMENTUM_METHODS, momentum),
        ("data.local_views", not local or m.vclr.segments == 0, "cannot be combined with method.vclr.segments"),
        ("data.local_size", data.local_size >= 1, "must be >= 1"),
        ("data.local_crop_scale", len(data.local_crop_scale) == 2 and 0 < data.local_crop_scale[0] <= data.local_crop_scale[1] <= 1, "must be [min, max] within (0, 1]"),
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


def _validate(cfg: DictConfig) -> None:
    checks = [
        ("data.format", cfg.data.format in DATA_FORMATS, f"must be one of {', '.join(DATA_FORMATS)}"),
        ("data.split", cfg.data.split in (1, 2, 3, "all"), "must be 1, 2, 3 or all"),
        ("data.frames", cfg.data.frames >= 1, "must be >= 1"),
        ("data.stride", cfg.data.stride >= 1, "must be >= 1"),
        ("data.num_views", cfg.data.num_views >= 1, "must be >= 1"),
        ("data.crop_scale", len(cfg.data.crop_scale) == 2 and 0 < cfg.data.crop_scale[0] <= cfg.data.crop_scale[1] <= 1, "must be [min, max] within (0, 1]"),
        ("data.color_jitter", len(cfg.data.color_jitter) == 4 and 0 <= cfg.data.color_jitter[3] <= 0.5, "must be [brightness, contrast, saturation, hue<=0.5]"),
        ("data.decode_timeout_s", cfg.data.decode_timeout_s >= 0, "must be >= 0"),
        ("data.train_short_side", cfg.data.train_short_side is None or (len(cfg.data.train_short_side) == 2 and cfg.data.size <= cfg.data.train_short_side[0] <= cfg.data.train_short_side[1]),
         "must be [min, max] with data.size <= min <= max"),
        ("eval.test_every_n_epochs", cfg.eval.test_every_n_epochs >= 0, "must be >= 0"),
        ("data.mean", cfg.data.mean is None or len(cfg.data.mean) == 3, "must be 3 per-channel values (or unset: the backbone's default)"),
        ("data.std", cfg.data.std is None or (len(cfg.data.std) == 3 and min(cfg.data.std) > 0), "must be 3 values > 0 (or unset: the backbone's default)"),
        ("data.max_bad_fraction", 0 <= cfg.data.max_bad_fraction <= 1, "must be within [0, 1]"),
        ("data.max_pixels", cfg.data.max_pixels >= 0, "must be >= 0 (0 = no limit)"),
        ("data.truncated", cfg.data.truncated in TRUNCATED_POLICIES, f"must be one of {', '.join(TRUNCATED_POLICIES)}"),
        ("data.clip_gap_dist", cfg.data.clip_gap_dist in CLIP_GAP_DISTS, f"must be one of {', '.join(CLIP_GAP_DISTS)}"),
        ("data.clip_gap", cfg.data.clip_gap is None or (len(cfg.data.clip_gap) == 2 and 0 <= cfg.data.clip_gap[0] <= cfg.data.clip_gap[1]), "must be [min, max] with 0 <= min <= max"),
        ("data.clip_gap", cfg.data.clip_gap is None or cfg.data.clip_gap_dist != "off", "needs data.clip_gap_dist=uniform or cvrl"),
        ("data.clip_gap_c", cfg.data.clip_gap_c >= 1, "must be >= 1"),
        ("method.vclr.segments", cfg.method.vclr.segments == 0 or cfg.method.vclr.segments >= 2, "must be 0 (off) or >= 2"),
        ("method.vclr.segments", cfg.method.vclr.segments == 0 or cfg.data.clip_gap_dist == "off", "cannot be combined with data.clip_gap_dist (the segments place the clips)"),
        ("method.vclr.segments", cfg.method.vclr.segments == 0 or cfg.method.name != "simclr", "needs a momentum method (sce, moco, ressl, byol)"),
        ("method.vclr.order_weight", cfg.method.vclr.order_weight >= 0, "must be >= 0"),
        ("method.vclr.segments", cfg.method.vclr.segments == 0 or max(cfg.method.inter_intra.rank_weight, cfg.method.inter_intra.coherent_weight, cfg.method.long_short.weight) == 0,
         "cannot be combined with method.inter_intra / method.long_short (their terms take clips (B,3,T,H,W))"),
        ("method.coeff", 0 <= cfg.method.coeff <= 1, "must be within [0, 1]"),
        ("method.temp", cfg.method.temp > 0, "must be > 0"),
        ("method.temp_m", cfg.method.temp_m > 0, "must be > 0"),
        ("method.queue_size", cfg.method.queue_size >= 1, "must be >= 1"),
        ("method.momentum", 0 <= cfg.method.momentum <= 1, "must be within [0, 1]"),
        *_negative_checks(cfg.method),
        *_region_checks(cfg),
        ("method.inter_intra.chunks", cfg.method.inter_intra.chunks >= 2, "must be >= 2"),
        ("method.inter_intra.chunks", cfg.method.inter_intra.chunks <= cfg.data.frames or not _inter_intra_on(cfg), "must be <= data.frames"),
        ("method.inter_intra.dim", cfg.method.inter_intra.dim >= 1, "must be >= 1"),
        ("method.inter_intra.rank_weight", cfg.method.inter_intra.rank_weight >= 0, "must be >= 0"),
        ("method.inter_intra.coherent_weight", cfg.method.inter_intra.coherent_weight >= 0, "must be >= 0"),
        ("method.inter_intra.rank_temp", cfg.method.inter_intra.rank_temp > 0, "must be > 0"),
        ("method.inter_intra.coherent_temp", cfg.method.inter_intra.coherent_temp > 0, "must be > 0"),
        ("method.long_short.num_short", cfg.method.long_short.num_short >= 2, "must be >= 2"),
        ("method.long_short.num_short", cfg.method.long_short.num_short <= cfg.data.frames or cfg.method.long_short.weight <= 0, "must be <= data.frames"),
        ("method.long_short.stationary_dim", 0 < cfg.method.long_short.stationary_dim < cfg.method.long_short.dim, "must be within (0, method.long_short.dim)"),
        ("method.long_short.weight", cfg.method.long_short.weight >= 0, "must be >= 0"),
        ("method.long_short.temp", cfg.method.long_short.temp > 0, "must be > 0"),
        ("trainer.max_epochs", cfg.trainer.max_epochs >= 1, "must be >= 1"),
        ("trainer.batch_size", cfg.trainer.batch_size >= 1, "must be >= 1"),
        ("trainer.precision", cfg.trainer.precision in PRECISIONS, f"must be one of {', '.join(PRECISIONS)}"),
        ("trainer.accumulate_grad_batches", cfg.trainer.accumulate_grad_batches >= 1, "must be >= 1"),
        ("trainer.threads", cfg.trainer.threads >= 0, "must be >= 0 (0 = torch's default)"),
        ("optim.lr", cfg.optim.lr > 0, "must be > 0"),
    ]
    for key, ok, rule in checks:
        if not ok:
            raise ConfigError(f"bad value for config key '{key}': {OmegaConf.select(cfg, key)} {rule}")


def _shown(path: Path) -> str:
    """A shipped config as `configs/<job>/<name>.yaml`, whatever the working directory."""
    try:
        return str(path.relative_to(CONFIG_ROOT.parent))
    except ValueError:
        return str(path)


def resolve_config_path(name: str | Path, job: Optional[str] = None) -> Path:
    """The config file `name` names: the path itself when it exists, else a bare name (`k400_r3d50_sce`
    or `k400_r3d50_sce.yaml`) in `configs/<job>/` (in every `configs/*/` when `job` is None).

    Why: the recipes are named by their file names, and a user types the name. A name that matches
    nothing (or several recipes) raises ConfigError, one line listing the near names.
    """
    path = Path(name)
    if path.is_file():
        return path
    filename = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    folders = [CONFIG_ROOT / job] if job else sorted(p for p in CONFIG_ROOT.glob("*") if p.is_dir())
    matches = [folder / filename for folder in folders if (folder / filename).is_file()]
    if len(path.parts) == 1 and len(matches) == 1:
        return matches[0]
    if len(path.parts) == 1 and len(matches) > 1:
        raise ConfigError(f"config name '{name}' matches {', '.join(map(_shown, matches))}; give one of these paths")
    shipped = {p.name: p for folder in folders for p in sorted(folder.glob("*.yaml"))}
    near = [_shown(shipped[n]) for n in difflib.get_close_matches(filename, list(shipped), n=4, cutoff=0.5)]
    where = " or ".join(f"{_shown(folder)}/" for folder in folders) if job else f"{_shown(CONFIG_ROOT)}/*/"
    hint = f"; near names: {', '.join(near)}" if near else f"; names there: {', '.join(sorted(shipped)) or 'none'}"
    raise ConfigError(f"config file not found: {name} (looked in {where}){hint}")


def load_structured(
    schema: type, path: Optional[str | Path] = None, overrides: Sequence[str] = (), job: Optional[str] = None
) -> DictConfig:
    """`schema` defaults <- YAML file <- `key.sub=value` overrides; unknown keys and bad types raise ConfigError.

    `path` is resolved by `resolve_config_path` (a bare recipe name looks in `configs/<job>/`)."""
    cfg = OmegaConf.structured(schema)
    if path is not None:
        path = resolve_config_path(path, job)
        try:
            loaded = OmegaConf.load(path)
        except Exception as exc:  # yaml errors carry positions across several lines
            raise ConfigError(f"{path}: not valid YAML: {str(exc).splitlines()[0]}") from None
        cfg = _merge(cfg, loaded, str(path))
    for item in overrides:
        if "=" not in item:
            raise ConfigError(f"override '{item}' must look like key.sub=value")
        cfg = _merge(cfg, OmegaConf.from_dotlist([item]), f"override '{item}'")
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"config key '{missing[0]}' is required but not set")
    return cfg


def load_config(path: Optional[str | Path] = None, overrides: Sequence[str] = (), job: Optional[str] = None) -> DictConfig:
    """Schema defaults <- YAML file <- `key.sub=value` overrides, validated, read-only keys.

    `job` (pretrain, finetune, linear, retrieval) is the `configs/` folder a bare name is looked up in."""
    cfg = load_structured(Config, path, overrides, job)
    _validate(cfg)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def with_values(cfg: DictConfig, values: Mapping[str, Any]) -> DictConfig:
    """A read-only copy of `cfg` with some dotted keys changed (one split of data.split=all, ...)."""
    out = copy.deepcopy(cfg)
    OmegaConf.set_readonly(out, False)
    for key, value in values.items():
        OmegaConf.update(out, key, value, merge=False)
    OmegaConf.set_readonly(out, True)
    return out


def save_config(cfg: DictConfig, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(OmegaConf.to_yaml(cfg))


def parse_cli(description: str, argv: Optional[Sequence[str]] = None, job: Optional[str] = None) -> DictConfig:
    """`--cfg file.yaml key=value ...` for the tools; a bare name looks in `configs/<job>/`; a config
    error exits with one line."""
    parser = argparse.ArgumentParser(description=description)
    folder = f"configs/{job}/" if job else "configs/*/"
    parser.add_argument("--cfg", required=True, help=f"YAML config file, or the name of one in {folder}")
    parser.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. trainer.max_epochs=5")
    args = parser.parse_args(argv)
    try:
        return load_config(args.cfg, args.overrides, job)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
