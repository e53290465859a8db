"""What every tool does before and after its work: run directory, logging, seeding, results."""
from __future__ import annotations

import json
import logging
import os
import random
from pathlib import Path
from typing import Any, Dict, Iterator, Mapping, Tuple

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from videosce.config import ConfigError, save_config, with_values
from videosce.data.builders import with_clip_normalization
from videosce.models import VideoBackbone, backbone_info, create_backbone, load_backbone_weights
from videosce.utils.dist import is_main_process

from .checkpoint import load_checkpoint

log = logging.getLogger(__name__)


def prepare_run(cfg: DictConfig, config_name: str = "config.yaml") -> Path:
    """Create `output_dir`, configure logging, seed every RNG, set threads and determinism, save the resolved config."""
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    if cfg.trainer.deterministic:
        use_deterministic_algorithms()
    if is_main_process():
        save_config(cfg, output_dir / config_name)
    return output_dir


def use_deterministic_algorithms() -> None:
    """Deterministic kernels only, so a rerun on the same machine, device and thread count gives
    bit-identical weights (the data pipeline is already a function of (seed, epoch, video)).

    cuBLAS needs a fixed workspace for it (set before its first use) and cuDNN must not benchmark
    algorithms; an op without a deterministic kernel raises instead of running."""
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.backends.cudnn.benchmark = False
    torch.use_deterministic_algorithms(True)
    log.info("trainer.deterministic: deterministic algorithms, %d intra-op threads (reruns match bit for bit "
             "on this machine with this thread count)", torch.get_num_threads())


def write_json(path: str | Path, payload: Dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def trained_normalization(cfg: DictConfig, name: str, trained: Mapping[str, Any]) -> DictConfig:
    """`cfg` with data.mean / data.std as the checkpoint `name` was trained with: the values its saved
    config (`trained`) recorded, else its backbone's registry default (runs that recorded none used it).

    Why: BatchNorm statistics and weights expect the input statistics of training, whatever else the
    protocol fixes. An evaluation config that sets other values is a ConfigError naming both.
    """
    recorded = trained.get("data", {})
    info = backbone_info(cfg.model.backbone)
    values = {}
    for key in ("mean", "std"):
        value = [float(v) for v in (recorded.get(key) or info[key])]
        own = cfg.data[key]
        if own is not None and [float(v) for v in own] != value:
            raise ConfigError(f"checkpoint {name} was trained with data.{key}={value} but data.{key}={list(own)}; leave data.{key} unset")
        values[f"data.{key}"] = value
    return with_values(cfg, values)


def eval_backbones(cfg: DictConfig) -> Iterator[Tuple[str, VideoBackbone, DictConfig]]:
    """(name, backbone, its config) for each entry of `checkpoint`: a path, "random" (seeded init), or a list.

    Each entry's config is `cfg` with the clip normalisation it was trained with (`trained_normalization`;
    for "random", data.mean / data.std or the registry default), so every protocol feeds it clips as in training."""
    entries = list(cfg.checkpoint) if OmegaConf.is_list(cfg.checkpoint) else [cfg.checkpoint]
    if not entries or None in entries:
        raise ConfigError("set checkpoint=<path>, checkpoint=random, or checkpoint=[a,b,random]")
    for entry in entries:
        torch.manual_seed(cfg.seed)
        backbone = create_backbone(cfg.model.backbone)
        if str(entry) == "random":
            yield str(entry), backbone, with_clip_normalization(cfg)
            continue
        state = load_checkpoint(entry)
        trained = state.get("config", {})
        trained_with = trained.get("model", {}).get("backbone")
        if trained_with and trained_with != cfg.model.backbone:
            raise ConfigError(f"checkpoint {entry} holds a '{trained_with}' backbone but model.backbone={cfg.model.backbone}")
        load_backbone_weights(backbone, state)
        frames = trained.get("data", {}).get("frames")
        if frames and frames != cfg.data.frames and cfg.eval.retrieval_mode != "vcop":  # vcop fixes 16 frames
            log.warning("checkpoint %s was pretrained on %d-frame clips but data.frames=%d: the SCE protocols evaluate a model "
                        "at its pretraining frame count (data.frames=%d)", entry, frames, cfg.data.frames, frames)
        yield str(entry), backbone, trained_normalization(cfg, str(entry), trained)
