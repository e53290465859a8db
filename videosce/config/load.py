"""Loading a config: schema defaults <- YAML file <- `key.sub=value` overrides, then the rules.

Torch-free up to the registry-name check (the last step), so a mistyped file, key or value is
answered before torch is imported.
"""
from __future__ import annotations

import argparse
import copy
import difflib
import sys
from pathlib import Path
from typing import Any, Dict, Mapping, Optional, Sequence

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, OmegaConfBaseException, ValidationError

from videosce.errors import ConfigError

from .rules import check_registered_names, validate, validate_ablation
from .schema import AblationConfig, Config

CONFIG_ROOT = Path(__file__).resolve().parents[2] / "configs"  # configs/<job>/<name>.yaml, the shipped recipes


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


def _shown(path: Path) -> str:
    """A shipped config as `configs/<job>/<name>.yaml`, whatever the working directory."""
    try:
        return str(path.relative_to(CONFIG_ROOT.parent))
    except ValueError:
        return str(path)


def resolve_config_path(name: str | Path, job: Optional[str] = None) -> Path:
    """The config file `name` names: the path itself when it exists, else a bare name (`k400_r3d50_sce`
    or `k400_r3d50_sce.yaml`) in `configs/<job>/` (in every `configs/*/` when `job` has no folder).

    Why: the recipes are named by their file names, and a user types the name. A name that matches
    nothing (or several recipes) raises ConfigError, one line listing the near names.
    """
    path = Path(name)
    if path.is_file():
        return path
    filename = path.name if path.suffix in (".yaml", ".yml") else f"{path.name}.yaml"
    own = CONFIG_ROOT / job if job else None
    folders = [own] if own is not None and own.is_dir() else sorted(p for p in CONFIG_ROOT.glob("*") if p.is_dir())
    matches = [folder / filename for folder in folders if (folder / filename).is_file()]
    if len(path.parts) == 1 and len(matches) == 1:
        return matches[0]
    if len(path.parts) == 1 and len(matches) > 1:
        raise ConfigError(f"config name '{name}' matches {', '.join(map(_shown, matches))}; give one of these paths")
    shipped = {p.name: p for folder in folders for p in sorted(folder.glob("*.yaml"))}
    near = [_shown(shipped[n]) for n in difflib.get_close_matches(filename, list(shipped), n=4, cutoff=0.5)]
    where = " or ".join(f"{_shown(folder)}/" for folder in folders) if len(folders) == 1 else f"{_shown(CONFIG_ROOT)}/*/"
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
    """Schema defaults <- YAML file <- `key.sub=value` overrides, every rule checked (`rules.py`), read-only.

    `job` (pretrain, finetune, linear, retrieval, check_dataset) picks the rules of what that job runs
    and the `configs/` folder a bare name is looked up in; None checks the sections alone."""
    cfg = load_structured(Config, path, overrides, job)
    validate(cfg, job)
    check_registered_names(cfg)
    OmegaConf.set_readonly(cfg, True)
    return cfg


def load_ablation_config(path: str | Path, overrides: Sequence[str] = ()) -> DictConfig:
    """The ablation config (videosce/jobs/ablate.py loads and checks each run's config before the first run)."""
    cfg = load_structured(AblationConfig, path, overrides, job="ablate")
    validate_ablation(cfg)
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


def config_dict(cfg: DictConfig) -> Dict[str, Any]:
    """`cfg` as plain containers and strings (Choices by value): what a checkpoint records."""
    return OmegaConf.to_container(cfg, resolve=True, enum_to_str=True)


def save_config(cfg: DictConfig, path: str | Path) -> None:
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(OmegaConf.to_yaml(cfg))


def parse_cli(description: str, argv: Optional[Sequence[str]] = None, job: Optional[str] = None) -> DictConfig:
    """`--cfg file.yaml key=value ...` for the jobs; a bare name looks in `configs/<job>/`; a config
    error exits with one line (code 2)."""
    parser = argparse.ArgumentParser(description=description)
    folder = f"configs/{job}/" if job and (CONFIG_ROOT / job).is_dir() else "configs/*/"
    parser.add_argument("--cfg", required=True, help=f"YAML config file, or the name of one in {folder}")
    parser.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. trainer.max_epochs=5")
    args = parser.parse_args(argv)
    try:
        return load_config(args.cfg, args.overrides, job)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
