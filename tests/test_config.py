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
    from pathlib import Path

    from videosce.config import load_ablation_config

    for path in sorted((Path(__file__).parents[1] / "configs").rglob("*.yaml")):
        load_ablation_config(path) if path.parent.name == "ablate" else load_config(path)


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
