"""tools/benchmark_data.py runs end to end on a tiny generated set (a smoke test, not a timing test)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from videosce.benchmarks.data import RandomCrop, Run, rss_mb

ROOT = Path(__file__).resolve().parents[1]
TOOL = ROOT / "tools" / "benchmark_data.py"


def test_smoke_run(tmp_path: Path) -> None:
    args = ["--data-dir", str(tmp_path), "--videos", "2", "--seconds", "2", "--clips", "8", "--repeats", "1",
            "--rss-clips", "8", "--workers", "1", "--batch", "2", "--decoders", "pyav", "--sections", "decoders"]
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


SHARED = ROOT.parent / "shared" / "videos" / "mmaction2"


@pytest.mark.skipif(not SHARED.is_dir(), reason=f"real test videos not found at {SHARED}")
@pytest.mark.parametrize("name", ["S001C001P001R001A001_rgb.avi", "test.avi"])
def test_gop_bound_reference_counts_frames_on_avi_files_without_usable_timestamps(name):
    """AVI with B-frames (H.264 1080p, MPEG-4 Part 2): timestamps cannot name frames, so the bound decodes
    from the start; its clips are the frames of an independent full sequential decode."""
    import av

    from videosce.benchmarks.data import GopBoundDataset, Settings
    from videosce.data.decoders.pyav import stream_index
    from videosce.data.samplers import random_clips

    path = SHARED / name
    index = stream_index(path)
    assert not index.seekable
    settings = Settings(frames=4, stride=3, num_clips=2)
    clips, *_ = GopBoundDataset([path], {path: index}, settings, lambda clip, rng: clip)[0]
    with av.open(str(path)) as container:
        reference = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    wanted = random_clips(index.num_frames, 4, 3, 2, np.random.default_rng([settings.seed, 0]))
    for clip, indices in zip(clips, wanted):
        assert np.array_equal(clip.numpy(), np.stack([reference[i] for i in indices]))


def test_device_side_sections_run(tmp_path: Path) -> None:
    """The augment and dali sections on a tiny generated set: every row printed with its ratios."""
    pytest.importorskip("nvidia.dali")
    args = ["--data-dir", str(tmp_path), "--videos", "2", "--seconds", "1", "--clips", "4", "--repeats", "1", "--workers", "1",
            "--batch", "2", "--sections", "augment,dali"]
    result = subprocess.run([sys.executable, str(TOOL), *args], capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.rstrip().endswith("x") and ("pyav," in line or "DALI" in line)]
    assert len(rows) == 6, result.stdout
    assert sorted(p.suffix for p in tmp_path.rglob("bench_*")) == [".mp4", ".mp4", ".webm", ".webm"]

