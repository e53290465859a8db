"""tools/check_dataset.py on a small generated dataset with a corrupt, a truncated and a missing video."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from videosce.config import load_config
from videosce.data.check import check_dataset, check_video
from videosce.jobs.check_dataset import REPORT_FILE
from videosce.data.demo import make_demo_dataset

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "pretrain" / "demo_sce.yaml"


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Demo dataset (UCF101 layout) plus three broken entries in the train list."""
    root = tmp_path_factory.mktemp("check")
    make_demo_dataset(root, videos_per_class=10, num_frames=12, size=32, progress=False)
    videos = root / "videos" / "CircleHorizontal"
    good = sorted(videos.glob("*.mp4"))[0].read_bytes()
    (videos / "v_CircleHorizontal_g99_c01.mp4").write_bytes(b"\x00garbage" * 500)
    (videos / "v_CircleHorizontal_g99_c02.mp4").write_bytes(good[: len(good) // 2])
    with (root / "splits" / "trainlist01.txt").open("a") as split:
        for clip in ("c01", "c02", "c03"):  # c03 is listed but not on disk
            split.write(f"CircleHorizontal/v_CircleHorizontal_g99_{clip}.mp4 1\n")
    return root


def overrides(root: Path, out: Path, workers: int) -> list:
    return [f"data.video_root={root / 'videos'}", f"data.split_dir={root / 'splits'}", "data.format=ucf101",
            f"data.num_workers={workers}", f"output_dir={out}"]


def test_tool_reports_bad_files_and_exits_1(dataset: Path, tmp_path: Path) -> None:
    result = subprocess.run([sys.executable, str(ROOT / "tools" / "check_dataset.py"), "--cfg", str(CONFIG),
                             *overrides(dataset, tmp_path, 2), "data.frames=6"],  # 11-frame clips: no video is short
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 1, result.stderr[-2000:]
    assert "checked 62 videos: 60 readable, 2 unreadable, 0 cut short\n1 listed files cannot be read: 1 file not found\n" in result.stdout
    assert "32x32: 60" in result.stdout and "duration (s): min 0.75" in result.stdout
    report = (tmp_path / REPORT_FILE).read_text()
    bad = dict(line.split("\t") for line in report.splitlines() if "\t" in line)
    folder = dataset / "videos" / "CircleHorizontal"
    assert set(map(Path, bad)) == {folder / f"v_CircleHorizontal_g99_{c}.mp4" for c in ("c01", "c02", "c03")}
    assert all(bad[str(folder / f"v_CircleHorizontal_g99_{c}.mp4")].startswith("cannot open") for c in ("c01", "c02"))
    assert bad[str(folder / "v_CircleHorizontal_g99_c03.mp4")] == "file not found"


def test_clean_dataset_in_process(demo_root: Path, tmp_path: Path) -> None:
    cfg = load_config(CONFIG, overrides(demo_root, tmp_path, 0))
    report = check_dataset(cfg.data, progress=False)
    assert not report.bad and len(report.checks) == 60 and not report.warnings
    assert "1 distinct" in report.format()


@pytest.mark.parametrize("clip,short", [
    (["data.frames=6", "data.stride=2"], 0),  # 11 frames of the 12-frame videos
    (["data.frames=7", "data.stride=2"], 60),  # 13 frames: one more than each video has
    (["data.clip_duration=0.75"], 0),  # 12 frames at 16 fps = 0.75 s
    (["data.clip_duration=0.8"], 60),
])
def test_videos_shorter_than_one_clip_are_listed(dataset: Path, tmp_path: Path, clip, short) -> None:
    """The fixture's 60 readable videos have 12 frames at 16 fps (make_demo_dataset's arguments)."""
    cfg = load_config(CONFIG, overrides(dataset, tmp_path, 0) + clip)
    report = check_dataset(cfg.data, progress=False)
    assert len(report.short) == short and len(report.bad) == 2
    text = report.format()
    assert (f"{short} readable videos are shorter than one clip" in text) == bool(short)
    if short:
        assert "12 frames, 0.75 s" in text and ("13 frames (data.frames x data.stride)" in text or "0.8 s (data.clip_duration)" in text)


def test_damaged_tail_is_reported(tmp_path: Path) -> None:
    """A file that opens but whose last frames do not decode (corrupted.mp4 when the real videos exist)."""
    path = ROOT / ".." / "shared" / "videos" / "decord" / "corrupted.mp4"
    if not path.is_file():
        pytest.skip("real test videos not found")
    result = check_video(str(path))
    assert result.info is None and "index 49 is past the end: only 28 frames" in result.error
