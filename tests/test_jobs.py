"""The jobs layer: a bad config stops a job before it reads data or runs a step (one line, exit 2); each job
joins the process group before it reads an index; the commands are installable and tools/ are shims."""
import ast
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import ROOT, demo_data, run_tool

PRETRAIN = ROOT / "configs" / "pretrain" / "demo_sce.yaml"
JOBS_DIR = ROOT / "videosce" / "jobs"
# the bad overrides of the demo pretraining: (override, the key its one line names)
BAD_OVERRIDES = [
    ("eval.retrieval_mode=clena", "eval.retrieval_mode"),
    ("data.decoder=pyavv", "data.decoder"),
    ("model.backbone=r3d_19", "model.backbone"),
    ("eval.num_crops=0", "eval.num_crops"),
    ("trainer.batch_size=-1", "trainer.batch_size"),
    ("data.frames=0", "data.frames"),
    ("optim.lr=nan", "optim.lr"),
    ("method.name=scee", "method.name"),
    ("trainer.save_every_n_epochs=0", "trainer.save_every_n_epochs"),
    ("trainer.log_every_n_steps=0", "trainer.log_every_n_steps"),
    ("data.size=0", "data.size"),
    ("model.backbone=r3d_huge", "model.backbone"),
    ("data.decoder=ffmpegx", "data.decoder"),
    ("method.name=simclrr", "method.name"),
    ("optim.lr=inf", "optim.lr"),
    ("data.augment_on=gpu", "data.augment_on"),
    ("data.dali.prefetch=0", "data.dali.prefetch"),
    ("data.dali.num_threads=0", "data.dali.num_threads"),
]


def fresh_demo(tmp_path):
    """Overrides pointing the demo config at a demo root that does not exist yet: reading data would generate it."""
    root = tmp_path / "demo"
    return root, [f"data.video_root={root / 'videos'}", f"data.split_dir={root / 'splits'}", f"output_dir={tmp_path / 'out'}"]


def patch_read_index(monkeypatch, replacement):
    """`read_index` replaced in every videosce module that holds it (the jobs import it when they run)."""
    import videosce.eval  # noqa: F401  (the evaluation modules, which import it at load)
    from videosce.data import datasets

    original = datasets.read_index
    for module in [m for name, m in sys.modules.items() if name.startswith("videosce")]:
        if getattr(module, "read_index", None) is original:
            monkeypatch.setattr(module, "read_index", replacement)
    return original


class Watch:
    """Records whether a job read an index or ran a training step (in this process)."""

    def __init__(self, monkeypatch):
        from videosce.engine import trainer

        self.calls = []
        read_index = patch_read_index(monkeypatch, lambda *a, **k: (self.calls.append("read_index"), read_index(*a, **k))[1])
        fit = trainer.Trainer.fit
        monkeypatch.setattr(trainer.Trainer, "fit", lambda *a, **k: (self.calls.append("fit"), fit(*a, **k))[1])


@pytest.mark.parametrize("override,key", BAD_OVERRIDES, ids=[o for o, _ in BAD_OVERRIDES])
def test_bad_override_stops_pretraining_before_data_or_steps(override, key, tmp_path, monkeypatch, capsys):
    root, paths = fresh_demo(tmp_path)
    watch = Watch(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        run_tool("pretrain", "--cfg", PRETRAIN, *paths, override)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2
    assert err.count("\n") == 1 and err.startswith("error: ") and f"'{key}'" in err, err
    assert watch.calls == [] and not root.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("override,key", [BAD_OVERRIDES[0], BAD_OVERRIDES[1], BAD_OVERRIDES[6], BAD_OVERRIDES[8]],
                         ids=["retrieval_mode", "decoder", "lr_nan", "save_every"])
def test_bad_override_through_the_tool_script(override, key, tmp_path):
    """`python tools/pretrain.py`, as a user runs it: exit code 2, one stderr line naming the key, nothing written."""
    root, paths = fresh_demo(tmp_path)
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "pretrain.py"), "--cfg", str(PRETRAIN), *paths, override],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("error: ") and f"'{key}'" in result.stderr, result.stderr
    assert result.stdout == "" and not root.exists() and not (tmp_path / "out").exists()


@pytest.mark.parametrize("job,override,key", [
    ("retrieval", "eval.num_crops=0", "eval.num_crops"),
    ("retrieval", "data.eval_short_side=8", "data.eval_short_side"),  # below the 40 px test crop
    ("retrieval", "eval.knn_temperature=nan", "eval.knn_temperature"),
    ("finetune", "eval.test_every_n_epochs=-1", "eval.test_every_n_epochs"),
    ("finetune", "model.dropout=1.0", "model.dropout"),
    ("linear", "eval.knn_k=[0]", "eval.knn_k"),
    ("linear", "optim.name=adam", "optim.name"),
])
def test_evaluation_jobs_check_their_evaluation_settings_first(job, override, key, tmp_path, monkeypatch, capsys):
    root, paths = fresh_demo(tmp_path)
    watch = Watch(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        run_tool(job, "--cfg", ROOT / "configs" / job / "demo.yaml", "checkpoint=random", *paths, override)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.count("\n") == 1 and f"'{key}'" in err, err
    assert watch.calls == [] and not root.exists() and not (tmp_path / "out").exists()


def test_ablation_checks_every_run_config_before_the_first_run(tmp_path, monkeypatch, capsys):
    import yaml

    path = tmp_path / "ablate.yaml"
    path.write_text(yaml.safe_dump({"output_dir": str(tmp_path / "abl"), "seeds": [0],
                                    "variants": {"sce": [], "broken": ["method.mochi.num_mix=4", "method.name=byol"]}}))
    watch = Watch(monkeypatch)
    with pytest.raises(SystemExit) as exit_info:
        run_tool("ablate", "--cfg", path)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and err.startswith("error: ablation variant 'broken': ") and "'method.mochi.num_mix'" in err
    assert watch.calls == [] and not (tmp_path / "abl").exists()


# ---- process group first, then demo data (rank 0), then the index


def demo_config(job: str) -> Path:
    """The job's demo config (the jobs without a config folder of their own read the pretraining one)."""
    folder = job if (ROOT / "configs" / job).is_dir() else "pretrain"
    return ROOT / "configs" / folder / ("demo_sce.yaml" if folder == "pretrain" else "demo.yaml")


class Stop(Exception):
    """Raised at the first index read: the order of what came before is all a test needs."""


@pytest.mark.parametrize("job", ["pretrain", "finetune", "linear", "retrieval", "check_dataset"])
def test_each_job_joins_the_process_group_before_it_reads_data(job, demo_root, tmp_path, monkeypatch):
    from videosce.jobs import common
    from videosce.utils import dist

    order = []
    monkeypatch.setattr(dist, "init_from_env", lambda device: order.append("process group"))
    prepare_data = common.prepare_data
    monkeypatch.setattr(common, "prepare_data", lambda data: (order.append("demo data"), prepare_data(data)))

    def read_index(*args, **kwargs):
        order.append("index")
        raise Stop

    patch_read_index(monkeypatch, read_index)
    with pytest.raises(Stop):
        run_tool(job, "--cfg", demo_config(job), f"output_dir={tmp_path}", "checkpoint=random", *demo_data(demo_root))
    assert order == ["process group", "demo data", "index"]


def test_read_index_writes_nothing(tmp_path):
    """Demo data is the jobs' to generate: reading an absent demo dataset is an error, not a side effect."""
    from videosce.config import load_config
    from videosce.data.datasets import SplitFormatError, read_index

    root = tmp_path / "demo"
    cfg = load_config(PRETRAIN, [f"data.video_root={root / 'videos'}", f"data.split_dir={root / 'splits'}"])
    with pytest.raises(SplitFormatError, match="split file not found"):
        read_index(cfg.data, "train")
    assert not root.exists()


@pytest.mark.skipif(shutil.which("torchrun") is None, reason="torchrun not on PATH")
def test_two_ranks_generate_the_demo_data_once(tmp_path):
    """Under torchrun, rank 0 alone generates a missing demo dataset; the other rank waits and reads it."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    root, paths = fresh_demo(tmp_path)
    tiny = ["data.demo.videos_per_class=10", "data.demo.num_frames=8", "data.demo.size=16", "data.size=12", "data.frames=4",
            "data.stride=1", "data.num_workers=0", "trainer.batch_size=8", "trainer.max_epochs=1", "trainer.progress_bar=false",
            "method.queue_size=32", "eval.retrieval_at_end=false", "trainer.device=cpu"]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run([shutil.which("torchrun"), "--nnodes=1", "--nproc_per_node=2", f"--master_port={port}",
                             str(ROOT / "tools" / "pretrain.py"), "--cfg", str(PRETRAIN), *paths, *tiny],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (result.stdout + result.stderr).count("demo dataset: 60 videos") == 1
    assert (tmp_path / "out" / "checkpoints" / "last.ckpt").is_file()


def join_a_one_rank_group(*args, **kwargs) -> int:
    """A job's `run` reduced to what matters here: it joins a process group (as under torchrun)."""
    import torch.distributed as torch_dist

    torch_dist.init_process_group("gloo", rank=0, world_size=1, store=torch_dist.HashStore())
    return 0


def command_argv(job: str, tmp_path) -> list:
    if job == "ablate":
        return ["--cfg", "demo"]
    return ["--cfg", str(demo_config(job)), f"output_dir={tmp_path}", "checkpoint=random"]


@pytest.mark.parametrize("job", ["pretrain", "finetune", "linear", "retrieval", "check_dataset", "ablate"])
def test_each_command_closes_its_process_group_when_the_job_succeeds(job, tmp_path, monkeypatch):
    """A gloo rank that exits holding its group can abort ("terminate called without an active exception")."""
    import importlib

    import torch.distributed as torch_dist

    module = importlib.import_module(f"videosce.jobs.{job}")
    monkeypatch.setattr(module, "run", join_a_one_rank_group)
    try:
        module.main(command_argv(job, tmp_path))
    except SystemExit as exit_info:  # check_dataset exits with its report's code
        assert exit_info.code == 0
    assert not torch_dist.is_initialized()


def test_a_failed_command_leaves_its_group_to_torchrun(tmp_path, monkeypatch, capsys):
    """After an error another rank may wait in a collective: closing the group could hang, so the command only exits."""
    import torch.distributed as torch_dist

    from videosce.errors import ConfigError
    from videosce.jobs import pretrain

    def joins_then_fails(cfg):
        join_a_one_rank_group()
        raise ConfigError("bad value")

    monkeypatch.setattr(pretrain, "run", joins_then_fails)
    try:
        with pytest.raises(SystemExit) as exit_info:
            pretrain.main(command_argv("pretrain", tmp_path))
        assert exit_info.value.code == 2 and capsys.readouterr().err == "error: bad value\n"
        assert torch_dist.is_initialized()
    finally:
        torch_dist.destroy_process_group()


# ---- commands


def test_every_tool_is_a_shim_of_its_job_without_path_edits():
    for tool in sorted((ROOT / "tools").glob("*.py")):
        tree = ast.parse(tool.read_text())
        imports = [node for node in ast.walk(tree) if isinstance(node, (ast.Import, ast.ImportFrom))]
        assert [(node.module, [a.name for a in node.names]) for node in imports] == [(f"videosce.jobs.{tool.stem}", ["main"])], tool.name
        assert "sys.path" not in tool.read_text()


def test_console_scripts_name_every_job_main():
    tomllib = pytest.importorskip("tomllib")
    scripts = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["scripts"]
    tools = sorted(t.stem for t in (ROOT / "tools").glob("*.py"))
    assert scripts == {f"videosce-{t.replace('_', '-')}": f"videosce.jobs.{t}:main" for t in tools}
    for job in tools:
        assert "def main(" in (JOBS_DIR / f"{job}.py").read_text()


def test_no_module_below_the_jobs_imports_a_job():
    for path in (ROOT / "videosce").rglob("*.py"):
        if JOBS_DIR in path.parents:
            continue
        tree = ast.parse(path.read_text())
        modules = [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        modules += [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        assert not [m for m in modules if m.startswith("videosce.jobs")], path
