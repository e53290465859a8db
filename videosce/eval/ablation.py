"""Ablation: plain SCE and each option under one budget, several seeds, then retrieval + finetune.

Every (variant, seed) run lives in `<output_dir>/<variant>/seed<N>/` and writes `result.json` when
it is complete, so an interrupted ablation re-run skips what is done and redoes only the rest.
The table shows mean ± std over seeds and each variant's optimizer-step cost (median of the
training loop's compute time per step, data waiting excluded) as a ratio to the first variant.
"""
from __future__ import annotations

import csv
import json
import statistics
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from videosce.config import ABLATION_RANDOM_ROW as RANDOM, load_config
from videosce.engine.checkpoint import FINAL_BACKBONE, LAST
from videosce.engine.run import eval_backbones, prepare_run, write_json
from videosce.engine.trainer import resolve_device
from videosce.pretrain import pretrain

from .finetune import finetune
from .metrics import mean_std
from .retrieval import evaluate_retrieval, retrieval_title


def step_cost_ms(train_csv: Path) -> float:
    """Median per-step compute time (step_time - data_time) in ms from a trainer's train.csv."""
    with open(train_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{train_csv} has no logged steps")
    return 1000 * statistics.median(float(r["step_time"]) - float(r["data_time"]) for r in rows)


def _evaluate(checkpoint: str, ablation: DictConfig, seed: int, run_dir: Path) -> Dict[str, float]:
    """Retrieval R@k and finetune top-1/top-5 of one checkpoint (or "random")."""
    common = [f"seed={seed}", f"checkpoint={checkpoint}"]
    rcfg = load_config(ablation.retrieval, [*ablation.retrieval_overrides, *common, f"output_dir={run_dir / 'retrieval'}"], job="retrieval")
    fcfg = load_config(ablation.finetune, [*ablation.finetune_overrides, *common, f"output_dir={run_dir / 'finetune'}"], job="finetune")
    prepare_run(rcfg)
    device = resolve_device(rcfg.trainer.device)
    (_, backbone, checkpoint_cfg), = eval_backbones(rcfg)
    results = evaluate_retrieval(backbone, checkpoint_cfg, device)
    prepare_run(fcfg)
    (_, backbone, checkpoint_cfg), = eval_backbones(fcfg)
    tuned = finetune(backbone, checkpoint_cfg, run_dir / "finetune")
    return {**results, **{k: tuned[k] for k in ("top1", "top5") if k in tuned}}


def run_one(name: str, overrides: Sequence[str], seed: int, ablation: DictConfig) -> Dict[str, float]:
    """Pretrain (unless this is the random-init row) and evaluate one (variant, seed); cached in result.json."""
    run_dir = Path(ablation.output_dir) / name.replace(" ", "_") / f"seed{seed}"
    done = run_dir / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    run_dir.mkdir(parents=True, exist_ok=True)
    if name == RANDOM:
        result = _evaluate("random", ablation, seed, run_dir)
    else:
        pdir = run_dir / "pretrain"
        last = pdir / "checkpoints" / LAST
        settings = [*ablation.pretrain_overrides, *overrides, f"seed={seed}", f"output_dir={pdir}", "eval.retrieval_at_end=false"]
        if last.is_file():  # an interrupted pretraining continues where it stopped
            settings.append(f"resume={last}")
        pcfg = load_config(ablation.pretrain, settings, job="pretrain")
        pretrain(pcfg)
        result = {**_evaluate(str(pdir / "checkpoints" / FINAL_BACKBONE), ablation, seed, run_dir), "step_ms": step_cost_ms(pdir / "train.csv")}
    write_json(done, result)
    return result


def summarise(results: Dict[str, List[Dict[str, float]]]) -> Dict[str, Dict[str, Any]]:
    """Mean ± std over seeds per variant, plus the step-cost ratio to the first pretrained variant."""
    table = {name: {**mean_std(rows), "seeds": len(rows)} for name, rows in results.items()}
    reference = next((row["step_ms"] for row in table.values() if "step_ms" in row), None)
    for row in table.values():
        if "step_ms" in row and reference:
            row["cost_ratio"] = row["step_ms"] / reference
    return table


def markdown(table: Dict[str, Dict[str, Any]], metrics: Sequence[str]) -> str:
    lines = ["| variant | " + " | ".join(metrics) + " | step ms | cost vs first |", "|---" * (len(metrics) + 3) + "|"]
    for name, row in table.items():
        cells = [f"{row[m]:.1f} ± {row[m + '_std']:.1f}" for m in metrics]
        cost = [f"{row['step_ms']:.0f}", f"{row['cost_ratio']:.2f}x"] if "step_ms" in row else ["-", "-"]
        lines.append(f"| {name} | " + " | ".join(cells + cost) + " |")
    return "\n".join(lines)


def run_ablation(ablation: DictConfig, progress: Optional[Callable[[str], None]] = print) -> Dict[str, Dict[str, Any]]:
    """Every variant x seed (plus the random-init row); writes ablation.json and ablation.md under output_dir."""
    output_dir = Path(ablation.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    variants = dict(OmegaConf.to_container(ablation.variants))
    if ablation.random_baseline:
        variants[RANDOM] = []
    results: Dict[str, List[Dict[str, float]]] = {}
    total, done = len(variants) * len(ablation.seeds), 0
    for name, overrides in variants.items():
        for seed in ablation.seeds:
            results.setdefault(name, []).append(run_one(name, overrides, seed, ablation))
            done += 1
            if progress:
                progress(f"ablation: {done}/{total} runs done ({name}, seed {seed})")
    table = summarise(results)
    probe = load_config(ablation.retrieval, list(ablation.retrieval_overrides), job="retrieval")
    metrics = [m for m in ("R@1", "R@5", "top1") if m in next(iter(table.values()))]
    title = (
        f"ablation on {probe.data.format} ({len(ablation.seeds)} seeds, mean ± std); retrieval: {retrieval_title(probe)}; "
        f"top1 = finetune video-level top-1 ({ablation.finetune})"
    )
    write_json(output_dir / "ablation.json", {"title": title, "variants": {n: list(v) for n, v in variants.items()}, "results": table})
    text = markdown(table, metrics)
    (output_dir / "ablation.md").write_text(f"**{title}**\n\n{text}\n")
    if progress:
        progress(f"{title}\n{text}")
    return table
