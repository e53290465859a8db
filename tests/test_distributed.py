"""Two gloo processes on CPU behave like one process with the same global batch."""
import csv
import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

WORKER = Path(__file__).with_name("distributed_worker.py")
TORCHRUN = shutil.which("torchrun")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def launch(out_dir: Path, nproc: int, method: str, global_batch: int = 8, epochs: int = 2, accumulate: int = 1) -> dict:
    if nproc == 1:
        cmd = [sys.executable, str(WORKER)]
    else:
        cmd = [TORCHRUN, "--nnodes=1", f"--nproc_per_node={nproc}", f"--master_port={free_port()}", str(WORKER)]
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    env["OMP_NUM_THREADS"] = "1"
    result = subprocess.run(cmd + [str(out_dir), method, str(global_batch), str(epochs), str(accumulate)], env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    ranks = [json.loads((out_dir / f"rank{r}.json").read_text()) for r in range(nproc)]
    with open(out_dir / "train.csv") as handle:
        losses = [float(row["loss"]) for row in csv.DictReader(handle)]
    return {"ranks": ranks, "losses": losses}


def rows_sorted(rows: list) -> torch.Tensor:
    """A queue's keys as a set: gathered keys arrive rank by rank, one process has them in batch order."""
    return torch.tensor(sorted(rows))


def assert_same_state(a: dict, b: dict, atol: float) -> None:
    assert a.keys() == b.keys()
    for key in a:
        x, y = (rows_sorted(a[key]), rows_sorted(b[key])) if key.endswith("negatives.queue.keys") else (torch.tensor(a[key]), torch.tensor(b[key]))
        assert torch.allclose(x, y, atol=atol), key


pytestmark = pytest.mark.skipif(TORCHRUN is None, reason="torchrun not on PATH")


@pytest.mark.parametrize("method", ["sce", "simclr", "densecl_multicrop"])
def test_two_ranks_match_one_process(tmp_path, method):
    """densecl_multicrop: local views, and DenseCL's dense queue filled from every rank."""
    one = launch(tmp_path / "one", 1, method)
    two = launch(tmp_path / "two", 2, method)
    assert len(one["losses"]) == len(two["losses"]) == 8
    assert_same_state(one["ranks"][0]["state"], two["ranks"][0]["state"], atol=1e-5)
    # every rank ends with identical weights and, for SCE, an identical queue
    assert_same_state(two["ranks"][0]["state"], two["ranks"][1]["state"], atol=0)


def test_each_video_seen_once_per_epoch_across_ranks(tmp_path):
    two = launch(tmp_path / "two", 2, "sce", epochs=2)
    seen = [r["seen"] for r in two["ranks"]]
    for epoch in range(2):
        per_epoch = [s[epoch * 16 : (epoch + 1) * 16] for s in seen]
        assert sorted(per_epoch[0] + per_epoch[1]) == list(range(32))
    assert seen[0][:16] != seen[0][16:]  # reshuffled between epochs


def test_gradient_accumulation_matches_the_full_batch(tmp_path):
    """BYOL without BN: per-sample losses, so 2 x 4 accumulated equals one batch of 8 (no in-batch negatives or queue)."""
    full = launch(tmp_path / "full", 1, "byol", global_batch=8, epochs=1)
    accumulated = launch(tmp_path / "acc", 1, "byol", global_batch=8, epochs=1, accumulate=2)
    assert_same_state(full["ranks"][0]["state"], accumulated["ranks"][0]["state"], atol=1e-5)
