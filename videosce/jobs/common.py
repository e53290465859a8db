"""What every job does around its work: the run directory, logging, seeding, demo data, results;
and, for the evaluation jobs, the checkpoints x splits loop with each checkpoint's clip normalisation."""
from __future__ import annotations

import copy
import json
import logging
import os
import random
from pathlib import Path
from typing import Any, Callable, Dict, Iterator, Mapping, Tuple

import numpy as np
import torch
from omegaconf import DictConfig, OmegaConf

from videosce.choices import DataFormat, RetrievalMode
from videosce.config import ConfigError, save_config, with_values
from videosce.data.builders import BAD_VIDEO_LOG, clip_normalization
from videosce.data.demo import ensure_demo_dataset
from videosce.data.transforms import Normalization
from videosce.engine.checkpoint import load_checkpoint
from videosce.engine.lock import lock_output_dir
from videosce.engine.precision import with_runnable_precision as runnable_trainer
from videosce.eval.features import EvalContext, FeatureCache
from videosce.eval.metrics import mean_std
from videosce.eval.report import markdown_table
from videosce.models import VideoBackbone, backbone_info, create_backbone, load_backbone_weights
from videosce.utils import dist

log = logging.getLogger(__name__)

SPLITS = (1, 2, 3)  # data.split=all runs these
# evaluate(backbone, the data section of one split, the checkpoint's normalisation, where to run and write) -> metrics
Evaluate = Callable[[VideoBackbone, DictConfig, Normalization, EvalContext], Dict[str, float]]


def prepare_run(cfg: DictConfig, config_name: str = "config.yaml") -> Path:
    """Create `output_dir` and (rank 0, which alone writes there) take its lock, refusing a directory
    that a live run holds (`engine/lock.py`; evaluation jobs too: they write config.yaml and the
    bad-video log there); configure logging, seed every RNG, set threads and determinism, save the
    resolved config (rank 0)."""
    output_dir = Path(cfg.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    if dist.is_main_process():
        lock_output_dir(output_dir)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    random.seed(cfg.seed)
    np.random.seed(cfg.seed)
    torch.manual_seed(cfg.seed)
    if cfg.trainer.threads:
        torch.set_num_threads(cfg.trainer.threads)
    if cfg.trainer.deterministic:
        use_deterministic_algorithms()
    if dist.is_main_process():
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


def with_runnable_precision(cfg: DictConfig, device: torch.device) -> DictConfig:
    """`cfg` with trainer.precision as `device` runs it well (one warning line when that changes it),
    before config.yaml is saved: the run records the precision it uses."""
    trainer = runnable_trainer(cfg.trainer, device)
    return cfg if trainer is cfg.trainer else with_values(cfg, {"trainer.precision": trainer.precision})


def prepare_data(data_cfg: DictConfig) -> None:
    """With data.format=demo, generate the demo dataset unless it is there: rank 0 writes, the other
    ranks wait, then everyone reads (call after `dist.setup`)."""
    if data_cfg.format != DataFormat.demo:
        return
    if dist.is_main_process():
        ensure_demo_dataset(Path(data_cfg.video_root).parent, **data_cfg.demo)
    dist.barrier()


def bad_video_log(cfg: DictConfig) -> Path:
    """The run's list of unreadable and cut-short videos, shared by every dataset, worker and rank."""
    return Path(cfg.output_dir) / BAD_VIDEO_LOG


def write_json(path: str | Path, payload: Dict[str, Any]) -> None:
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")


def with_clip_normalization(cfg: DictConfig) -> DictConfig:
    """`cfg` with data.mean / data.std explicit (`clip_normalization`), so a run's saved config and
    checkpoints record how its clips were normalised."""
    mean, std = clip_normalization(cfg.data, cfg.model.backbone)
    return with_values(cfg, {"data.mean": list(mean), "data.std": list(std)})


def trained_normalization(cfg: DictConfig, name: str, trained: Mapping[str, Any]) -> Normalization:
    """The mean / std the checkpoint `name` was trained with: the values its saved config (`trained`)
    recorded, else its backbone's registry default (runs that recorded none used it).

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
        values[key] = tuple(value)
    return Normalization(values["mean"], values["std"])


def eval_backbones(cfg: DictConfig) -> Iterator[Tuple[str, VideoBackbone, Normalization]]:
    """(name, backbone, its clip normalisation) for each entry of `checkpoint`: a path, "random"
    (seeded init), or a list.

    The normalisation is the one each entry was trained with (`trained_normalization`; for
    "random", data.mean / data.std or the registry default), so every protocol feeds it clips as in training."""
    entries = list(cfg.checkpoint) if OmegaConf.is_list(cfg.checkpoint) else [cfg.checkpoint]
    if not entries or None in entries:
        raise ConfigError("set checkpoint=<path>, checkpoint=random, or checkpoint=[a,b,random]")
    for entry in entries:
        torch.manual_seed(cfg.seed)
        backbone = create_backbone(cfg.model.backbone)
        if str(entry) == "random":
            yield str(entry), backbone, clip_normalization(cfg.data, cfg.model.backbone)
            continue
        state = load_checkpoint(entry)
        trained = state.get("config", {})
        trained_with = trained.get("model", {}).get("backbone")
        if trained_with and trained_with != cfg.model.backbone:
            raise ConfigError(f"checkpoint {entry} holds a '{trained_with}' backbone but model.backbone={cfg.model.backbone}")
        load_backbone_weights(backbone, state)
        frames = trained.get("data", {}).get("frames")
        if frames and frames != cfg.data.frames and cfg.eval.retrieval_mode != RetrievalMode.vcop:  # vcop fixes 16 frames
            log.warning("checkpoint %s was pretrained on %d-frame clips but data.frames=%d: the SCE protocols evaluate a model "
                        "at its pretraining frame count (data.frames=%d)", entry, frames, cfg.data.frames, frames)
        yield str(entry), backbone, trained_normalization(cfg, str(entry), trained)


def over_splits(data_cfg: DictConfig, run: Callable[[DictConfig, str], Dict[str, float]]) -> Dict[str, Any]:
    """`run(data section, sub-directory)` on data.split, or with data.split=all on splits 1-3: mean,
    `_std` (n - 1) and each split's row."""
    if data_cfg.split != "all":
        return run(data_cfg, "")
    per_split = {f"split{s}": run(with_values(data_cfg, {"split": s}), f"split{s}") for s in SPLITS}
    return {**mean_std(list(per_split.values())), "splits": per_split}


def evaluate_checkpoints(cfg: DictConfig, job: str, title: str, evaluate: Evaluate) -> Dict[str, Any]:
    """`evaluate` every checkpoint of `checkpoint=` (on every split of data.split=all); rank 0 writes
    `<output_dir>/<job>.json` (the row itself for one checkpoint) and `<job>.md` and prints the table.
    Returns {checkpoint entry: its row}."""
    device = dist.setup(cfg.trainer.device)
    cfg = with_runnable_precision(cfg, device)
    output_dir = prepare_run(cfg)
    prepare_data(cfg.data)
    rows: Dict[str, Any] = {}
    for i, (name, backbone, normalization) in enumerate(eval_backbones(cfg)):
        cache = FeatureCache(output_dir / "feature_cache", name, cfg.model.backbone, cfg.seed)
        run_dir = output_dir / f"run{i}_{Path(name).stem}"

        def run(data: DictConfig, sub: str) -> Dict[str, float]:
            (run_dir / sub).mkdir(parents=True, exist_ok=True)
            return evaluate(copy.deepcopy(backbone), data, normalization, EvalContext(run_dir / sub, device, bad_video_log(cfg), cache))

        rows[name] = over_splits(cfg.data, run)
    if dist.is_main_process():
        write_json(output_dir / f"{job}.json", next(iter(rows.values())) if len(rows) == 1 else rows)
        table = markdown_table(rows)
        (output_dir / f"{job}.md").write_text(f"**{title}**\n\n{table}\n")
        print(f"{title}\n{table}")
    return rows
