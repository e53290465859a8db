"""Ablation: plain SCE and each option under one budget, several seeds, then retrieval + finetune.

Every (variant, seed) run lives in `<output_dir>/<variant>/seed<N>/` and writes `result.json` when
it is complete, so an interrupted ablation re-run skips what is done and redoes only the rest.
The table shows mean ± std over seeds and each variant's optimizer-step cost (median of the
training loop's compute time per step, data waiting excluded) as a ratio to the first variant.
"""
from __future__ import annotations

import argparse
import csv
import json
import statistics
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

from omegaconf import DictConfig, OmegaConf

from videosce.config import ABLATION_RANDOM_ROW as RANDOM
from videosce.config import ConfigError, load_ablation_config, load_config

from . import command, finetune, pretrain, retrieval


def step_cost_ms(train_csv: Path) -> float:
    """Median per-step compute time (step_time - data_time) in ms from a trainer's train.csv."""
    with open(train_csv, newline="") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise ValueError(f"{train_csv} has no logged steps")
    return 1000 * statistics.median(float(r["step_time"]) - float(r["data_time"]) for r in rows)


def run_dir(ablation: DictConfig, name: str, seed: int) -> Path:
    """Where the run of (variant `name`, `seed`) lives: its pretraining, evaluations and result.json."""
    return Path(ablation.output_dir) / name.replace(" ", "_") / f"seed{seed}"


def pretrain_config(ablation: DictConfig, name: str, seed: int) -> DictConfig:
    """Variant `name`'s pretraining of `seed` under the shared budget (an interrupted one resumes)."""
    from videosce.engine.checkpoint import LAST

    pdir = run_dir(ablation, name, seed) / "pretrain"
    last = pdir / "checkpoints" / LAST
    settings = [*ablation.pretrain_overrides, *ablation.variants[name], f"seed={seed}", f"output_dir={pdir}", "eval.retrieval_at_end=false"]
    return load_config(ablation.pretrain, settings + ([f"resume={last}"] if last.is_file() else []), job="pretrain")


def eval_configs(ablation: DictConfig, checkpoint: str, seed: int, directory: Path) -> Dict[str, DictConfig]:
    """The retrieval and finetune configs that evaluate `checkpoint` (a path, or "random") for `seed`."""
    common = [f"seed={seed}", f"checkpoint={checkpoint}"]
    return {
        job: load_config(getattr(ablation, job), [*getattr(ablation, f"{job}_overrides"), *common, f"output_dir={directory / job}"], job=job)
        for job in ("retrieval", "finetune")
    }


def check_configs(ablation: DictConfig) -> None:
    """Load every config the ablation will run, so a bad variant or override fails before the first run."""
    for name in selected_variants(ablation):
        for seed in ablation.seeds:
            try:
                pretrain_config(ablation, name, seed)
            except ConfigError as exc:
                raise ConfigError(f"ablation variant '{name}': {exc}") from None
    eval_configs(ablation, "random", ablation.seeds[0], Path(ablation.output_dir))


def selected_variants(ablation: DictConfig) -> Dict[str, List[str]]:
    """Name -> pretrain overrides of the variants this ablation runs (`only`, or all of them)."""
    variants = dict(OmegaConf.to_container(ablation.variants))
    return {name: overrides for name, overrides in variants.items() if not ablation.only or name in ablation.only}


def evaluate(ablation: DictConfig, checkpoint: str, seed: int, directory: Path) -> Dict[str, float]:
    """Retrieval R@k and finetune top-1/top-5 of one checkpoint (or "random"), by the retrieval and finetune jobs."""
    configs = eval_configs(ablation, checkpoint, seed, directory)
    (recalls,) = retrieval.run(configs["retrieval"]).values()
    (tuned,) = finetune.run(configs["finetune"]).values()
    return {**recalls, **{k: tuned[k] for k in ("top1", "top5") if k in tuned}}


def run_one(name: str, seed: int, ablation: DictConfig) -> Dict[str, float]:
    """Pretrain (unless this is the random-init row) and evaluate one (variant, seed); cached in result.json."""
    from videosce.engine.checkpoint import FINAL_BACKBONE

    directory = run_dir(ablation, name, seed)
    done = directory / "result.json"
    if done.is_file():
        return json.loads(done.read_text())
    directory.mkdir(parents=True, exist_ok=True)
    if name == RANDOM:
        result = evaluate(ablation, "random", seed, directory)
    else:
        pcfg = pretrain_config(ablation, name, seed)
        pretrain.run(pcfg)
        pdir = Path(pcfg.output_dir)
        backbone = pdir / "checkpoints" / FINAL_BACKBONE
        result = {**evaluate(ablation, str(backbone), seed, directory), "step_ms": step_cost_ms(pdir / "train.csv")}
    done.write_text(json.dumps(result, indent=2) + "\n")
    return result


def summarise(results: Dict[str, List[Dict[str, float]]]) -> Dict[str, Dict[str, Any]]:
    """Mean ± std over seeds per variant, plus the step-cost ratio to the first pretrained variant."""
    from videosce.eval.metrics import mean_std

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


def run(ablation: DictConfig, progress: Optional[Callable[[str], None]] = print) -> Dict[str, Dict[str, Any]]:
    """Every variant x seed (plus the random-init row); writes ablation.json and ablation.md under output_dir."""
    from videosce.eval.retrieval import retrieval_title

    check_configs(ablation)
    output_dir = Path(ablation.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    variants = selected_variants(ablation)
    names = [*variants, RANDOM] if ablation.random_baseline else list(variants)
    results: Dict[str, List[Dict[str, float]]] = {}
    total, done = len(names) * len(ablation.seeds), 0
    for name in names:
        for seed in ablation.seeds:
            results.setdefault(name, []).append(run_one(name, seed, ablation))
            done += 1
            if progress:
                progress(f"ablation: {done}/{total} runs done ({name}, seed {seed})")
    table = summarise(results)
    probe = load_config(ablation.retrieval, list(ablation.retrieval_overrides), job="retrieval")
    metrics = [m for m in ("R@1", "R@5", "top1") if m in next(iter(table.values()))]
    title = (
        f"ablation on {probe.data.format} ({len(ablation.seeds)} seeds, mean ± std); retrieval: {retrieval_title(probe.data, probe.eval)}; "
        f"top1 = finetune video-level top-1 ({ablation.finetune})"
    )
    summary = {"title": title, "variants": {n: variants.get(n, []) for n in names}, "results": table}
    (output_dir / "ablation.json").write_text(json.dumps(summary, indent=2) + "\n")
    text = markdown(table, metrics)
    (output_dir / "ablation.md").write_text(f"**{title}**\n\n{text}\n")
    if progress:
        progress(f"{title}\n{text}")
    return table


def main(argv: Optional[Sequence[str]] = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--cfg", required=True, help="ablation YAML, or the name of one in configs/ablate/ (e.g. demo)")
    parser.add_argument("overrides", nargs="*", help="key=value overrides of the ablation config, e.g. seeds=[0]")
    args = parser.parse_args(argv)
    with command():
        run(load_ablation_config(args.cfg, args.overrides))
