from pathlib import Path

import pytest

from videosce.config import ConfigError, load_config

REQUIRED = ["data.video_root=v", "data.split_dir=s"]


@pytest.mark.parametrize(
    "override,key",
    [
        ("data.nope=1", "data.nope"),
        ("nope=1", "nope"),
        ("trainer.max_epochs=abc", "trainer.max_epochs"),
        ("data.format=youtube", "data.format"),
        ("data.split=4", "data.split"),
        ("method.coeff=1.5", "method.coeff"),
    ],
)
def test_bad_override_names_the_key_in_one_line(override, key):
    with pytest.raises(ConfigError) as info:
        load_config(None, REQUIRED + [override])
    message = str(info.value)
    assert key in message and "\n" not in message


def test_unknown_key_in_yaml_file(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("data:\n  video_root: v\n  split_dir: s\n  frmes: 8\n")
    with pytest.raises(ConfigError, match=r"data\.frmes"):
        load_config(path)


def test_missing_required_key_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="data.split_dir"):
        load_config(None, ["data.video_root=v"])
    with pytest.raises(ConfigError, match="not found"):
        load_config(tmp_path / "absent.yaml")


def test_overrides_win_and_types_convert(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\ndata:\n  video_root: v\n  split_dir: s\n  frames: 8\n")
    cfg = load_config(path, ["data.frames=16", "optim.lr=0.5", "checkpoint=[a,random]"])
    assert cfg.seed == 3 and cfg.data.frames == 16 and cfg.optim.lr == 0.5
    assert list(cfg.checkpoint) == ["a", "random"]


def test_contract_keys_exist():
    cfg = load_config(None, REQUIRED)
    for key in ["output_dir", "seed", "model.backbone", "data.format", "data.video_root", "data.split_dir", "data.split",
                "data.num_workers", "data.frames", "data.stride", "data.size", "trainer.max_epochs", "trainer.batch_size",
                "optim.lr", "method.coeff", "method.temp", "method.temp_m", "method.queue_size", "method.momentum"]:
        node = cfg
        for part in key.split("."):
            node = node[part]


def test_shipped_configs_load():
    """Each with the rules of its job (configs/<job>/), evaluation settings included."""
    from videosce.config import load_ablation_config
    from videosce.jobs.ablate import check_configs

    for path in sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml")):
        check_configs(load_ablation_config(path)) if path.parent.name == "ablate" else load_config(path, job=path.parent.name)


# ---- config names: a bare recipe name resolves to configs/<job>/ (every tool); an exact path wins


def test_bare_name_resolves_in_the_job_folder():
    from videosce.config import CONFIG_ROOT, resolve_config_path

    expected = CONFIG_ROOT / "pretrain" / "k400_r3d50_sce.yaml"
    assert expected.is_file()
    assert resolve_config_path("k400_r3d50_sce.yaml", "pretrain") == expected
    assert resolve_config_path("k400_r3d50_sce", "pretrain") == expected
    assert resolve_config_path("k400_r3d50_sce", None) == expected  # the only folder holding that name
    assert load_config("k400_r3d50_sce").model.backbone == "r3d_50"


def test_exact_path_wins_over_a_shipped_name(tmp_path, monkeypatch):
    from videosce.config import resolve_config_path

    (tmp_path / "demo_sce.yaml").write_text("seed: 7\ndata:\n  video_root: v\n  split_dir: s\n")
    monkeypatch.chdir(tmp_path)
    assert resolve_config_path("demo_sce.yaml", "pretrain") == Path("demo_sce.yaml")
    assert load_config("demo_sce.yaml", job="pretrain").seed == 7


def test_unknown_name_lists_near_names_in_one_line():
    with pytest.raises(ConfigError) as info:
        load_config("k400_r3d5_sce.yaml", job="pretrain")
    message = str(info.value)
    assert "\n" not in message and "not found" in message
    assert "configs/pretrain/k400_r3d50_sce.yaml" in message and "configs/pretrain/" in message


def test_name_of_several_jobs_is_ambiguous_without_a_job():
    from videosce.config import resolve_config_path

    with pytest.raises(ConfigError, match="configs/finetune/demo.yaml.*configs/linear/demo.yaml"):
        resolve_config_path("demo")
    assert resolve_config_path("demo", "linear").parent.name == "linear"


# ---- the shipped recipes: what they build, and what they evaluate with

CONFIGS = Path(__file__).parents[1] / "configs"
REFERENCE_RECIPES = {"k400_r3d50_sce": "r3d50", "k400_r3d18_sce": "r3d18"}  # the SCE authors' own configs


def test_r3d18_recipe_builds_the_slow_pathway_network_at_224():
    from videosce.methods import build_method

    cfg = load_config("k400_r3d18_sce", job="pretrain")
    backbone = build_method(cfg.model, cfg.method).backbone
    assert backbone.blocks[0].conv.kernel_size == (1, 7, 7) and cfg.data.size == 224 and cfg.data.frames == 8


@pytest.mark.parametrize("name", sorted(p.stem for p in (CONFIGS / "pretrain").glob("k400_*.yaml")) + ["ucf101_r3d18_sce"])
def test_recipes_without_a_published_reference_say_so_in_their_header(name):
    header = [line for line in (CONFIGS / "pretrain" / f"{name}.yaml").read_text().splitlines() if line.startswith("#")]
    assert any("EXTRAPOLATION" in line for line in header) == (name not in REFERENCE_RECIPES)


@pytest.mark.parametrize("recipe,short", sorted(REFERENCE_RECIPES.items()))
def test_reference_recipes_have_their_evaluation_configs(recipe, short):
    """Finetune and sce-mode retrieval on UCF101 and HMDB51, with the recipe's backbone and frame count."""
    pretrain = load_config(recipe, job="pretrain")
    evals = [load_config(f"{ds}_{short}_sce", job="retrieval") for ds in ("ucf101", "hmdb51")]
    evals += [load_config(f"{ds}_{short[:3]}_{short[3:]}", job="finetune") for ds in ("ucf101", "hmdb51")]
    for cfg in evals:
        assert (cfg.model.backbone, cfg.data.frames) == (pretrain.model.backbone, pretrain.data.frames)
    assert [c.eval.retrieval_mode for c in evals[:2]] == ["sce", "sce"]
    assert all(c.data.train_short_side == [256, 320] and c.data.size == 224 and c.data.clip_duration == 2.56 for c in evals[2:])


# ---- the rules: finite floats, enumerations, registry names, and what each job runs


def float_keys(schema=None, prefix=""):
    """(key, an override giving it NaN) for every float of the schema: float, Optional[float], (Optional) List[float]."""
    import dataclasses
    import typing

    from videosce.config import Config

    schema = schema or Config
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        kind, key = hints[f.name], prefix + f.name
        options = [kind, *typing.get_args(kind)]
        if dataclasses.is_dataclass(kind):
            yield from float_keys(kind, key + ".")
        elif any(typing.get_origin(o) is list and typing.get_args(o) == (float,) for o in options):
            yield key, f"{key}=[nan,nan,nan]", f"{key}[0]"
        elif float in options:
            yield key, f"{key}=nan", key


FLOAT_KEYS = list(float_keys())


def test_float_keys_are_found():
    keys = {key for key, _, _ in FLOAT_KEYS}
    assert {"optim.lr", "method.temp_m_start", "data.crop_scale", "data.mean", "data.clip_gap", "eval.knn_temperature"} <= keys
    assert len(keys) > 40


@pytest.mark.parametrize("key,override,named", FLOAT_KEYS, ids=[k for k, _, _ in FLOAT_KEYS])
def test_every_float_must_be_finite(key, override, named):
    for value in ("nan", "inf", "-inf"):
        with pytest.raises(ConfigError) as info:
            load_config(None, REQUIRED + [override.replace("nan", value)])
        assert f"'{named}'" in str(info.value) and "must be a finite number" in str(info.value)


ENUMERATIONS = {  # an override outside the enumeration -> the members its message lists
    "data.format=youtube": "ucf101, hmdb51, kinetics, demo",
    "data.clip_gap_dist=gauss": "off, uniform, cvrl",
    "data.truncated=keep": "skip, use",
    "data.augment_on=gpu": "worker, device",
    "method.temporal_decay_mode=linear": "similarity, weight",
    "eval.retrieval_mode=clena": "clean, vcop, sce",
    "trainer.precision=8": "32, bf16, 16",
}


def test_enumerated_values_list_their_members():
    for override, members in ENUMERATIONS.items():
        with pytest.raises(ConfigError) as info:
            load_config(None, REQUIRED + [override])
        assert f"expected one of [{members}]" in str(info.value) and override.split("=")[0] in str(info.value), override


def test_enumerated_values_read_as_their_words():
    from videosce.choices import Precision, RetrievalMode

    cfg = load_config(None, REQUIRED + ["trainer.precision=16", "eval.retrieval_mode=sce"])
    assert cfg.trainer.precision is Precision("16") and cfg.trainer.precision == "16" and f"{cfg.trainer.precision}" == "16"
    assert cfg.eval.retrieval_mode is RetrievalMode.sce and cfg.eval.retrieval_mode in ("clean", "sce")
    assert load_config(None, REQUIRED + ["trainer.precision=bf16"]).trainer.precision == "bf16"


def test_saved_config_and_checkpoint_record_plain_words(tmp_path):
    from omegaconf import OmegaConf

    from videosce.config import config_dict, save_config

    cfg = load_config(None, REQUIRED + ["trainer.precision=16", "data.truncated=use"])
    save_config(cfg, tmp_path / "config.yaml")
    assert load_config(tmp_path / "config.yaml").trainer.precision == "16"
    plain = config_dict(cfg)
    assert plain["trainer"]["precision"] == "16" and type(plain["data"]["truncated"]) is str
    assert OmegaConf.to_yaml(cfg).count("precision: '16'") == 1


@pytest.mark.parametrize("override,kind", [
    ("model.backbone=r3d_19", "backbone"), ("method.name=scee", "method"), ("data.decoder=pyavv", "decoder"), ("optim.name=adam", "optimizer"),
])
def test_registry_names_are_checked_at_load_with_the_valid_names(override, kind):
    key, name = override.split("=")
    with pytest.raises(ConfigError) as info:
        load_config(None, REQUIRED + [override])
    message = str(info.value)
    assert message.startswith(f"bad value for config key '{key}': '{name}' is not a registered {kind}") and "choose one of: " in message
    assert "\n" not in message


@pytest.mark.parametrize("override", ["trainer.device=gpu", "trainer.device=cuda:x", "trainer.save_every_n_epochs=0",
                                      "trainer.log_every_n_steps=0", "data.size=0", "data.num_workers=-1", "eval.ks=[]",
                                      "data.blur_p=[]", "data.demo.videos_per_class=15", "optim.weight_decay=-1",
                                      "data.dali.prefetch=0", "data.dali.num_threads=0"])
def test_section_ranges(override):
    with pytest.raises(ConfigError, match=override.split("=")[0].replace(".", r"\.")):
        load_config(None, REQUIRED + [override])


def test_job_rules_follow_what_the_job_runs():
    small = ["data.size=112", "data.eval_short_side=100"]  # a 112 test crop does not fit a 100 short side
    for job in ("finetune", "linear", "retrieval", "pretrain"):
        with pytest.raises(ConfigError, match=r"'data\.eval_short_side': 100 must be >= the test crop size 112"):
            load_config(None, REQUIRED + small, job=job)
    load_config(None, REQUIRED + small + ["eval.retrieval_mode=sce"], job="retrieval")  # sce fixes its own 256 views
    load_config(None, REQUIRED + small + ["eval.retrieval_at_end=false"], job="pretrain")  # no test views built
    with pytest.raises(ConfigError, match=r"'data\.eval_short_side'"):
        load_config(None, REQUIRED + small + ["eval.retrieval_at_end=false", "eval.knn_every_n_epochs=1"], job="pretrain")
    with pytest.raises(ConfigError, match=r"'data\.split': all is only for the evaluation jobs"):
        load_config(None, REQUIRED + ["data.split=all"], job="pretrain")
    assert load_config(None, REQUIRED + ["data.split=all"], job="finetune").data.split == "all"
    with pytest.raises(ConfigError, match=r"'data\.num_views': 1 must be >= 2 to pretrain"):
        load_config(None, REQUIRED + ["data.num_views=1"], job="pretrain")
    assert load_config(None, REQUIRED + ["data.num_views=1"], job="finetune")


def test_demo_layout_is_a_config_rule():
    with pytest.raises(ConfigError, match=r"'data\.split_dir'.*demo data lives in <root>/videos and <root>/splits"):
        load_config(None, ["data.format=demo", "data.video_root=a/videos", "data.split_dir=b/splits"])
    assert load_config(None, ["data.format=demo", "data.video_root=a/videos", "data.split_dir=a/splits"])


def test_config_package_imports_no_torch():
    import subprocess
    import sys

    code = "import sys, videosce.config, videosce.choices; print('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip() == "False"
