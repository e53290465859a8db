"""The synthetic demo dataset: UCF101 layout and split format, decodable videos, determinism, caching."""
from __future__ import annotations

import re
from pathlib import Path
from typing import Dict, List

import av
import numpy as np
import pytest

from videosce.data.demo import DEMO_CLASSES, ensure_demo_dataset, make_demo_dataset

TINY = dict(videos_per_class=10, num_frames=12, size=32, fps=8, progress=False)
CLIP = r"(?P<cls>[A-Za-z]+)/v_(?P=cls)_g(?P<group>\d\d)_c(?P<clip>\d\d)\.mp4"


@pytest.fixture(scope="module")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_demo_dataset(tmp_path_factory.mktemp("demo"), seed=0, **TINY)


def decode_all(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])


def all_videos(root: Path) -> List[str]:
    return sorted(p.relative_to(root / "videos").as_posix() for p in (root / "videos").rglob("*.mp4"))


def read_lines(path: Path) -> List[str]:
    text = path.read_text()
    assert text.endswith("\n") and "\r" not in text
    return text.splitlines()


def test_class_index(tiny_root: Path) -> None:
    lines = read_lines(tiny_root / "splits" / "classInd.txt")
    assert lines == [f"{i} {name}" for i, name in enumerate(DEMO_CLASSES, 1)]
    assert len(DEMO_CLASSES) == 6 and all(re.fullmatch(r"(?:[A-Z][a-z]+)+", c) for c in DEMO_CLASSES)


@pytest.mark.parametrize("split", [1, 2, 3])
def test_split_files(tiny_root: Path, split: int) -> None:
    labels = {name: i for i, name in enumerate(DEMO_CLASSES, 1)}
    train: Dict[str, int] = {}
    for line in read_lines(tiny_root / "splits" / f"trainlist0{split}.txt"):
        m = re.fullmatch(rf"(?P<rel>{CLIP}) (?P<label>\d+)", line)
        assert m, f"bad train line {line!r}"
        assert int(m["label"]) == labels[m["cls"]]
        assert int(m["group"]) not in (2 * split - 1, 2 * split)
        train[m["rel"]] = int(m["label"])
    test = []
    for line in read_lines(tiny_root / "splits" / f"testlist0{split}.txt"):
        m = re.fullmatch(CLIP, line)
        assert m, f"bad test line {line!r}"
        assert int(m["group"]) in (2 * split - 1, 2 * split)
        test.append(line)
    assert not set(train) & set(test)
    assert sorted([*train, *test]) == all_videos(tiny_root)
    assert len(all_videos(tiny_root)) == 6 * TINY["videos_per_class"]
    assert len(test) == 6 * 2 * (TINY["videos_per_class"] // 10)


def test_videos_decode_and_move(tiny_root: Path) -> None:
    assert not list(tiny_root.rglob("*.partial"))
    for rel in all_videos(tiny_root):
        path = tiny_root / "videos" / rel
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            assert (stream.codec_context.name, stream.format.name) == ("h264", "yuv420p")
        frames = decode_all(path).astype(np.int16)
        assert frames.shape == (TINY["num_frames"], TINY["size"], TINY["size"], 3), rel
        # the object moves: some later frame differs from frame 0 by far more than coding noise
        # (a bouncing or rotating object may happen to be back in place in the last frame)
        changed = (np.abs(frames[1:] - frames[0]).max(axis=-1) > 60).sum(axis=(1, 2))
        assert changed.max() >= 4, f"{rel}: nothing moves"


def test_same_seed_same_pixels_other_seed_differs(tiny_root: Path, tmp_path: Path) -> None:
    again = make_demo_dataset(tmp_path / "again", seed=0, **TINY)
    other = make_demo_dataset(tmp_path / "other", seed=1, **TINY)
    for rel in all_videos(tiny_root):
        reference = decode_all(tiny_root / "videos" / rel)
        assert np.array_equal(reference, decode_all(again / "videos" / rel)), rel
        assert not np.array_equal(reference, decode_all(other / "videos" / rel)), rel


def test_ensure_reuses_complete_dataset_and_redoes_incomplete(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    assert ensure_demo_dataset(root, **TINY) == root
    files = sorted(p for p in root.rglob("*") if p.is_file())
    mtimes = [p.stat().st_mtime_ns for p in files]

    ensure_demo_dataset(root, **TINY)
    assert [p.stat().st_mtime_ns for p in files] == mtimes

    (root / ".complete").unlink()
    ensure_demo_dataset(root, **TINY)
    assert (root / ".complete").is_file()
    assert [p.stat().st_mtime_ns for p in files if p.suffix == ".mp4"] != [
        m for p, m in zip(files, mtimes) if p.suffix == ".mp4"
    ]


def test_changed_params_regenerate_without_stale_clips(tmp_path: Path) -> None:
    root = tmp_path / "demo"
    ensure_demo_dataset(root, **{**TINY, "videos_per_class": 20})
    ensure_demo_dataset(root, **TINY)
    assert len(all_videos(root)) == 6 * TINY["videos_per_class"]
    assert '"videos_per_class": 10' in (root / ".complete").read_text()


def test_videos_per_class_must_fill_groups(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="multiple of 10"):
        make_demo_dataset(tmp_path, **{**TINY, "videos_per_class": 15})


def test_objects_carry_their_class_pattern() -> None:
    """Inside the object, patterned classes show two colours (object + complement); the plain one shows one."""
    from videosce.data.demo import _CLASS_SPECS, _object_coords, _pattern_mask

    u, v = np.meshgrid(np.linspace(-0.95, 0.95, 41), np.linspace(-0.95, 0.95, 41))
    for name, (_, pattern, _) in _CLASS_SPECS.items():
        second = _pattern_mask(pattern, u, v)
        share = second.mean()
        assert (share == 0) if pattern == "plain" else (0.1 < share < 0.9), (name, share)
    patterns = [spec[1] for spec in _CLASS_SPECS.values()]
    assert len(set(patterns)) == len(patterns)  # one pattern per class
    # object coordinates turn with the object: a point on the object's own u axis stays there
    u0, v0 = _object_coords(np.array(0.0), np.array(5.0), np.array(5.0), np.array(np.pi / 2))
    assert np.allclose([u0, v0], [1.0, 0.0])
