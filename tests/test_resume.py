"""Exact resume: a run killed with SIGKILL part-way and resumed ends where the uninterrupted run ends."""
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from videosce.engine.checkpoint import load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]


SLOW_SAVE = Path(__file__).with_name("slow_save_pretrain.py")
TMP = ".last.ckpt.tmp"


def pretrain_args(demo_root: Path, out: Path, *extra: str) -> list:
    from helpers import demo_data

    return ["--cfg", str(ROOT / "configs" / "pretrain" / "demo_sce.yaml"), f"output_dir={out}", *demo_data(demo_root),
            "trainer.batch_size=8", "trainer.max_epochs=2", "method.queue_size=32", "trainer.progress_bar=false", "trainer.threads=1",
            "trainer.log_every_n_steps=1", "trainer.save_every_n_steps=1", "eval.retrieval_at_end=false", *extra]


def logged_steps(out: Path) -> int:
    csv = out / "train.csv"
    return max(len(csv.read_text().splitlines()) - 1, 0) if csv.exists() else 0


FAULTS = {  # name: (options, kill while a checkpoint is being written?, seed of the kill's moment)
    "sce_any_moment": ([], False, 0),
    "sce_mid_write": ([], True, 1),
    "mochi_workers_mid_write": (["method.mochi.num_hard=16", "method.mochi.num_mix=4", "data.num_workers=2"], True, 2),
    "mochi_any_moment": (["method.mochi.num_hard=16", "method.mochi.num_mix=4"], False, 3),
}
SLOW_FAULTS = {f"{name}_{seed}": (options, mid_write, seed) for seed in (10, 11) for name, (options, mid_write, _) in FAULTS.items()}


def sigkill_then_resume(demo_root: Path, tmp_path: Path, options: list, mid_write: bool, seed: int) -> None:
    """SIGKILL a pretraining run (checkpoints written slowly) at a moment drawn from `seed`: after
    a random number of steps and a random delay, or, with `mid_write`, while last.ckpt's temporary
    file is half written; then resume=auto. The result must equal the uninterrupted run bit for bit."""
    from helpers import run_tool

    rng = random.Random(seed)
    run_tool("pretrain", *pretrain_args(demo_root, tmp_path / "full", *options))
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, str(SLOW_SAVE), *pretrain_args(demo_root, out, *options)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": str(ROOT)})
    after, deadline = rng.randint(2, 10), time.time() + 300  # step 1 saved whole
    while logged_steps(out) < after and proc.poll() is None and time.time() < deadline:
        time.sleep(0.01)
    if mid_write:
        while not (out / "checkpoints" / TMP).exists() and proc.poll() is None:
            time.sleep(0.005)
        time.sleep(rng.uniform(0.0, 0.15))
    else:
        time.sleep(rng.uniform(0.0, 0.5))
    assert proc.poll() is None, "the run ended before the kill"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    if mid_write:
        assert (out / "checkpoints" / TMP).exists(), "killed while the checkpoint was written"
    killed_at = load_checkpoint(out / "checkpoints" / "last.ckpt")["global_step"]
    assert 0 < killed_at < 12, "the run must be killed part-way for this test to mean anything"
    run_tool("pretrain", *pretrain_args(demo_root, out, *options, "resume=auto"))
    a, b = (load_checkpoint(tmp_path / name / "checkpoints" / "last.ckpt") for name in ("full", "killed"))
    assert_same_checkpoint(a, b)
    assert not (out / "checkpoints" / TMP).exists()


@pytest.mark.parametrize("fault", ["sce_mid_write", "mochi_workers_mid_write"])
def test_sigkill_then_resume_matches_uninterrupted(demo_root, tmp_path, fault):
    sigkill_then_resume(demo_root, tmp_path, *FAULTS[fault])


@pytest.mark.slow
@pytest.mark.parametrize("fault", [name for name in FAULTS if name not in ("sce_mid_write", "mochi_workers_mid_write")] + list(SLOW_FAULTS))
def test_sigkill_at_random_moments_then_resume_matches_uninterrupted(demo_root, tmp_path, fault):
    sigkill_then_resume(demo_root, tmp_path, *{**FAULTS, **SLOW_FAULTS}[fault])


def test_reruns_are_bit_identical_with_workers(demo_root, tmp_path):
    """The demo's trainer.deterministic=true: two runs of the same command (2 data workers) end with
    equal tensors, bit for bit, in the full state (weights, BN statistics, target network, queue)."""
    from helpers import demo_data, run_tool

    for name in ("a", "b"):
        run_tool("pretrain", "--cfg", ROOT / "configs" / "pretrain" / "demo_sce.yaml", f"output_dir={tmp_path / name}",
                 *demo_data(demo_root), "data.num_workers=2", "trainer.batch_size=8", "trainer.max_epochs=2",
                 "method.queue_size=32", "trainer.progress_bar=false", "eval.retrieval_at_end=false")
        assert torch.are_deterministic_algorithms_enabled()
    a, b = (load_checkpoint(tmp_path / name / "checkpoints" / "last.ckpt")["model"] for name in ("a", "b"))
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class Interrupted(Exception):
    """Stands for a SIGKILL right after a checkpoint: the process's state beyond it is lost."""


def interrupted_after_save(monkeypatch, at_step: int) -> None:
    """The trainer's next save of last.ckpt at `at_step` is written, then the run dies."""
    import videosce.engine.trainer as trainer

    def save_then_die(state, path):
        saved = save_checkpoint(state, path)
        if state.get("global_step") == at_step and "optimizer" in state:
            raise Interrupted
        return saved

    monkeypatch.setattr(trainer, "save_checkpoint", save_then_die)


OPTIONS = {
    "sce": [],
    "sce_workers": ["data.num_workers=2"],
    "mochi": ["method.mochi.num_hard=16", "method.mochi.num_mix=4"],
    "inter_intra": ["method.inter_intra.rank_weight=1", "method.inter_intra.coherent_weight=1"],
    "vclr": ["method.vclr.segments=2"],
}


@pytest.mark.parametrize("option", OPTIONS)
def test_mid_epoch_resume_is_exact(demo_root, tmp_path, monkeypatch, option):
    """Died mid-epoch 2 (step 8 of 12, saved every 2 steps), then resume=auto: the full state (weights,
    BN statistics, target, queue, the method's generator), the optimizer and every saved random state
    equal the uninterrupted run's, bit for bit. Bit-exact because both runs execute the same
    deterministic CPU kernels on the same data in the same order: any random draw the resume replays
    differently changes the weights."""
    from helpers import demo_data, run_tool

    def pretrain(out: Path, *extra: str) -> None:
        run_tool("pretrain", "--cfg", ROOT / "configs" / "pretrain" / "demo_sce.yaml", f"output_dir={out}", *demo_data(demo_root),
                 "trainer.batch_size=8", "trainer.max_epochs=2", "method.queue_size=32", "trainer.progress_bar=false",
                 "trainer.save_every_n_steps=2", "trainer.threads=1", "eval.retrieval_at_end=false", *OPTIONS[option], *extra)

    pretrain(tmp_path / "full")
    with monkeypatch.context() as patch:
        interrupted_after_save(patch, at_step=8)
        with pytest.raises(Interrupted):
            pretrain(tmp_path / "killed")
    assert load_checkpoint(tmp_path / "killed" / "checkpoints" / "last.ckpt")["global_step"] == 8
    pretrain(tmp_path / "killed", "resume=auto")
    a, b = (load_checkpoint(tmp_path / name / "checkpoints" / "last.ckpt") for name in ("full", "killed"))
    assert_same_checkpoint(a, b)


def assert_same_checkpoint(a: dict, b: dict) -> None:
    """Equal bit for bit: global step, model state, optimizer state and each rank's saved random states."""
    assert a["global_step"] == b["global_step"]
    assert a["model"].keys() == b["model"].keys()
    differ = [k for k in a["model"] if not torch.equal(a["model"][k], b["model"][k])]
    assert not differ, f"{len(differ)} tensors differ, e.g. {differ[:5]}"
    for x, y in zip(a["optimizer"]["state"].values(), b["optimizer"]["state"].values()):
        assert all(torch.equal(x[k], y[k]) for k in x)
    assert a["rng"].keys() == b["rng"].keys()
    assert [k for k in a["rng"] if not torch.equal(a["rng"][k], b["rng"][k])] == []
