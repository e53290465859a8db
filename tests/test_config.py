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
