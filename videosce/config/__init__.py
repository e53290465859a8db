"""Strict, typed configuration: YAML + `key.sub=value` overrides onto a schema of sections
(`schema.py`), every rule between values checked at load (`rules.py`), loading and the command
line (`load.py`). Torch-free until the registry-name check, the last step of `load_config`.

A bad key or value raises `ConfigError`, one line naming the key; each component receives only
its own section.
"""
from videosce.errors import ConfigError

from .load import (CONFIG_ROOT, config_dict, load_ablation_config, load_config, load_structured, parse_cli, resolve_config_path,
                   save_config, with_values)
from .rules import QUEUE_METHODS, check_registered_names, validate
from .schema import (ABLATION_RANDOM_ROW, AblationConfig, Config, DataConfig, DemoDataConfig, EvalConfig, MethodConfig, ModelConfig,
                     OptimConfig, TrainerConfig)

__all__ = [
    "ABLATION_RANDOM_ROW",
    "AblationConfig",
    "CONFIG_ROOT",
    "Config",
    "ConfigError",
    "DataConfig",
    "DemoDataConfig",
    "EvalConfig",
    "MethodConfig",
    "ModelConfig",
    "OptimConfig",
    "QUEUE_METHODS",
    "TrainerConfig",
    "check_registered_names",
    "config_dict",
    "load_ablation_config",
    "load_config",
    "load_structured",
    "parse_cli",
    "resolve_config_path",
    "save_config",
    "validate",
    "with_values",
]
