"""Each dataset guide (datasets/<name>.md) and the shipped configs of its data.format name the same
folders, and the guide's own preparation commands write into them, so following a guide needs no
path overrides."""
import re
import shlex
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
GUIDES = {"ucf101": "ucf101.md", "hmdb51": "hmdb51.md", "kinetics": "kinetics400.md"}


def guide_data(text):
    """The `data:` mapping of the guide's yaml block under "## Config"."""
    section = text.split("## Config", 1)[1]
    return yaml.safe_load(re.search(r"```yaml\n(.*?)```", section, re.S).group(1))["data"]


def command_destinations(text):
    """Folders the guide's shell commands write to: --dst, --splits-out and cp/mkdir targets."""
    words = [w for block in re.findall(r"```bash\n(.*?)```", text, re.S) for w in shlex.split(block.replace("\\\n", " "), comments=True)]
    flagged = [words[i + 1] for i, w in enumerate(words[:-1]) if w in ("--dst", "--splits-out")]
    copied = [words[i + 2] for i, w in enumerate(words[:-2]) if w == "cp"]
    made = [words[i + 2] for i, w in enumerate(words[:-2]) if w == "mkdir" and words[i + 1] == "-p"]
    return flagged + copied + made


def shipped_configs(fmt):
    for path in sorted((ROOT / "configs").rglob("*.yaml")):
        data = (yaml.safe_load(path.read_text()) or {}).get("data", {})
        if data.get("format") == fmt:
            yield path, data


def inside(path, folder):
    return path == folder or path.startswith(folder.rstrip("/") + "/")


@pytest.mark.parametrize("fmt", sorted(GUIDES))
def test_guide_and_configs_name_the_same_folders(fmt):
    text = (ROOT / "datasets" / GUIDES[fmt]).read_text()
    guide = guide_data(text)
    assert guide["format"] == fmt
    configs = list(shipped_configs(fmt))
    assert configs, f"no shipped config has data.format={fmt}"
    for path, data in configs:
        where = path.relative_to(ROOT)
        assert (data["video_root"], data["split_dir"]) == (guide["video_root"], guide["split_dir"]), where


@pytest.mark.parametrize("fmt", sorted(GUIDES))
def test_guide_commands_write_where_its_config_reads(fmt):
    text = (ROOT / "datasets" / GUIDES[fmt]).read_text()
    guide = guide_data(text)
    targets = command_destinations(text)
    assert any(inside(t, guide["video_root"]) for t in targets), targets
    assert any(inside(t, guide["split_dir"]) for t in targets), targets
    for target in targets:
        assert inside(target, guide["video_root"]) or inside(target, guide["split_dir"]), target
