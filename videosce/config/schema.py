"""The config schema: one dataclass per section (data, model, method, optim, trainer, eval) plus the
top-level run keys. OmegaConf merges YAML and overrides onto it, so an unknown key or a value of
the wrong type (a `Choice` outside its members included) fails at load, naming the key; the rules
between values live in `rules.py`, and each builder receives only its own section.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Union

from omegaconf import MISSING

from videosce.choices import AugmentOn, ClipGapDist, DataFormat, DecayMode, Precision, RetrievalMode, Truncated


@dataclass
class ModelConfig:
    backbone: str = "r3d_18"  # a registered backbone (videosce/models)
    proj_hidden_dim: int = 1024  # SCE R3D-18 projector 512-1024-1024-256 (docs/recipes.md)
    proj_dim: int = 256
    pred_hidden_dim: int = 1024  # predictor 256-1024-256
    dropout: float = 0.0  # before the classifier when finetuning
    channels_last: bool = False  # channels_last_3d memory format for the backbone's weights and its input clips
    compile: bool = False  # torch.compile the backbone's forward


@dataclass
class DemoDataConfig:
    videos_per_class: int = 40
    num_frames: int = 32
    size: int = 64
    fps: int = 16
    seed: int = 0


@dataclass
class DaliConfig:
    """The batched DALI training loader (data.decoder=dali; videosce/data/dali_loader.py)."""

    prefetch: int = 2  # batches decoded ahead of the training step
    num_threads: int = 4  # DALI's decoding threads, and the threads that read and plan the next batch


@dataclass
class DataConfig:
    format: DataFormat = DataFormat.ucf101
    video_root: str = MISSING
    split_dir: str = MISSING
    split: Union[int, str] = 1  # official split 1, 2 or 3; "all": eval tools run the three, report mean ± std
    decoder: str = "pyav"  # a registered decoder (videosce/data/decoders)
    num_workers: int = 4  # DataLoader processes, at most: capped by the CPUs this process may use
    frames: int = 8
    stride: int = 4
    clip_duration: float = 0.0  # seconds; > 0 samples `frames` frames uniformly over this window (SCE: 2.56) instead of `stride`
    clip_gap_dist: ClipGapDist = ClipGapDist.off  # distance between the starts of view 0 and each other view: off (independent uniform starts) | uniform | cvrl (density ∝ c - t, Qian et al. 2021)
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
    truncated: Truncated = Truncated.skip  # a video cut short (frames end well before its stated length, or damaged packets): skip | use (its frames, listed as used)
    decode_timeout_s: float = 60.0  # a probe or decode running longer is cut and the video counted as bad; 0 = no limit
    augment_on: AugmentOn = AugmentOn.worker  # train augmentation: worker (per clip, where it is decoded) | device (in batches on the training device)
    dali: DaliConfig = field(default_factory=DaliConfig)
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
    name: str = "sce"  # a registered method (videosce/methods)
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
    temporal_decay_mode: DecayMode = DecayMode.similarity  # similarity: t^age * q.u (VideoMoCo's code) | weight: t^age * exp(q.u / tau)
    mochi: MochiConfig = field(default_factory=MochiConfig)
    hard_negatives: HardNegativesConfig = field(default_factory=HardNegativesConfig)


@dataclass
class OptimConfig:
    name: str = "sgd"  # a registered optimizer (videosce/engine/optim.py)
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
    precision: Precision = Precision("32")  # 32 | bf16 | 16 (fp16 with loss scaling); replaced, with one line, where the device runs it slowly
    accumulate_grad_batches: int = 1
    sync_bn: bool = False  # SyncBatchNorm across ranks (CUDA only)
    save_every_n_steps: int = 0  # also refresh last.ckpt every N steps; 0 = at epoch ends only
    deterministic: bool = False  # deterministic algorithms only (torch.use_deterministic_algorithms; cuDNN/cuBLAS set for it)
    threads: int = 0  # torch intra-op threads; 0 = torch's default (this machine's cores). Results depend on it


@dataclass
class EvalConfig:
    retrieval_at_end: bool = True
    retrieval_mode: RetrievalMode = RetrievalMode.clean  # clean | vcop | sce: the retrieval protocols of docs/protocols.md, named in every output
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


ABLATION_RANDOM_ROW = "random init"  # the ablation's row of a randomly initialised backbone (no pretraining)


@dataclass
class AblationConfig:
    """videosce-ablate: variants x seeds, each pretrained, then evaluated (videosce/jobs/ablate.py)."""

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
    only: List[str] = field(default_factory=list)  # run just these variants (in `variants`' order); empty = all
