"""tools/benchmark_data.py runs end to end on a tiny generated set (a smoke test, not a timing test)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import torch

from videosce.benchmarks.data import RandomCrop, Run, rss_mb

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "benchmark_data.py"


def test_smoke_run(tmp_path: Path) -> None:
    args = ["--data-dir", str(tmp_path), "--videos", "2", "--seconds", "2", "--clips", "8", "--repeats", "1",
            "--rss-clips", "8", "--workers", "1", "--batch", "2", "--decoders", "pyav"]
    result = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    out = result.stdout
    for row in ("videosce pyav", "GOP-bound (PyAV)", "pytorchvideo (pyav)"):
        assert any(line.startswith(row) and line.rstrip().endswith("x") for line in out.splitlines()), out
    assert "of the GOP-bound rate" in out and "worker RSS over 8 clips" in out
    assert sorted(p.name for p in tmp_path.rglob("*.mp4")) == ["bench_000.mp4", "bench_001.mp4"]


def test_random_crop_shape_and_range() -> None:
    clip = np.random.default_rng(0).integers(0, 256, (4, 24, 32, 3), dtype=np.uint8)

    out = RandomCrop(16)(torch.from_numpy(clip), np.random.default_rng(1))
    assert out.shape == (3, 4, 16, 16) and 0 <= float(out.min()) and float(out.max()) <= 1


def test_run_rates_and_memory_reader() -> None:
    run = Run(clips=100, seconds=4.0, wait_seconds=1.0)
    assert run.clips_per_s == 25.0 and run.wait_share == 0.25
    assert 1 < rss_mb() < 100_000


def test_memory_verdict_tells_a_leak_from_warm_up_and_noise():
    from videosce.benchmarks.data import grows

    warm_up_then_noise = [400, 480, 540, 584, 560, 528, 573, 570, 552, 581]
    assert not grows(warm_up_then_noise)
    leak = [400 + 10 * i for i in range(10)]
    assert grows(leak)
    assert not grows([500])


def test_per_repeat_ratios_pair_runs_of_the_same_repeat():
    from videosce.benchmarks.data import per_repeat_ratios

    ours = [Run(300, 3.0, 0.0), Run(200, 2.0, 0.0)]  # 100 clips/s, 100 clips/s
    base = [Run(100, 4.0, 0.0), Run(100, 2.0, 0.0)]  # 25 clips/s, 50 clips/s
    assert per_repeat_ratios(ours, base) == [4.0, 2.0]
