"""tools/gpu_check.sh, the one prepared GPU check, exercised on the CPU (--dry-run): CI cannot measure a GPU,
but the command, its tests step and every row of its table run."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_gpu_check_dry_run_prints_the_table(tmp_path: Path) -> None:
    """tools/gpu_check.sh --dry-run: the gpu tests (they skip without CUDA) and every row of the throughput
    table (2 models x 1 video set x 3 pipelines), with the same Trainer, loaders and device augmentation."""
    pytest.importorskip("nvidia.dali")
    script = ROOT / "tools" / "gpu_check.sh"
    result = subprocess.run(["bash", str(script), "--dry-run", "--data-dir", str(tmp_path), "--warmup", "1", "--steps", "1"],
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    table = [line for line in result.stdout.splitlines() if line.startswith("| R")]
    assert len(table) == 6 and {line.split(" | ")[2] for line in table} == {"pyav + worker aug", "pyav + device aug", "dali + device aug"}
    assert "skipped" in result.stdout and "gpu_check: gpu tests exit 0, benchmark exit 0" in result.stdout
