"""Index readers for the official split files, and the multi-clip video dataset.

Readers return `VideoRecord`s; they raise `SplitFormatError` naming file and line for a
malformed entry, and report (never silently drop) listed videos missing on disk.
"""
from __future__ import annotations

import csv
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from videosce.errors import UserError
from videosce.utils.dist import barrier, is_main_process

from .decoders import DecodeError, decode_frames, frame_timestamps, probe_video
from .samplers import ClipGap, random_clips, random_time_clips, segment_clips, segment_time_clips, uniform_clips, uniform_time_clips

log = logging.getLogger(__name__)

SUBSETS = ("train", "test")
ClipTransform = Callable[[torch.Tensor, np.random.Generator], torch.Tensor]


class SplitFormatError(UserError, ValueError):
    """A split/index file that does not follow the official format."""


@dataclass(frozen=True)
class VideoRecord:
    path: Path
    label: int


@dataclass(frozen=True)
class VideoIndex:
    records: List[VideoRecord]
    classes: List[str]


def _lines(path: Path) -> List[Tuple[int, str]]:
    if not path.is_file():
        raise SplitFormatError(f"split file not found: {path}")
    return [(n, line.strip()) for n, line in enumerate(path.read_text().splitlines(), 1) if line.strip()]


def _check_subset(subset: str) -> None:
    if subset not in SUBSETS:
        raise ValueError(f"subset must be one of {SUBSETS}, got '{subset}'")


def read_ucf101(video_root: str | Path, split_dir: str | Path, split: int, subset: str) -> VideoIndex:
    """classInd.txt ("1 ApplyEyeMakeup"), trainlist0N.txt ("Class/v_x.avi 1"), testlist0N.txt ("Class/v_x.avi")."""
    _check_subset(subset)
    video_root, split_dir = Path(video_root), Path(split_dir)
    class_file = split_dir / "classInd.txt"
    classes: Dict[str, int] = {}
    for n, line in _lines(class_file):
        parts = line.split()
        if len(parts) != 2 or not parts[0].isdigit():
            raise SplitFormatError(f"{class_file}:{n}: expected '<index> <ClassName>', got '{line}'")
        classes[parts[1]] = int(parts[0]) - 1
    if sorted(classes.values()) != list(range(len(classes))):
        raise SplitFormatError(f"{class_file}: class indices must be 1..{len(classes)} without gaps")
    list_file = split_dir / f"{subset}list0{split}.txt"
    records = []
    for n, line in _lines(list_file):
        parts = line.split()
        rel = parts[0]
        class_name = rel.split("/")[0]
        if "/" not in rel or class_name not in classes or len(parts) > 2:
            raise SplitFormatError(f"{list_file}:{n}: expected '<ClassName>/<file> [label]' with a class of classInd.txt, got '{line}'")
        label = classes[class_name]
        if len(parts) == 2 and int(parts[1]) - 1 != label:
            raise SplitFormatError(f"{list_file}:{n}: label {parts[1]} contradicts class '{class_name}' ({label + 1})")
        records.append(VideoRecord(video_root / rel, label))
    names = [name for name, _ in sorted(classes.items(), key=lambda item: item[1])]
    return VideoIndex(_existing(records, list_file), names)


def read_hmdb51(video_root: str | Path, split_dir: str | Path, split: int, subset: str) -> VideoIndex:
    """`<class>_test_split<N>.txt` with lines "<file.avi> <flag>", flag 1 = train, 2 = test, 0 = unused."""
    _check_subset(subset)
    video_root, split_dir = Path(video_root), Path(split_dir)
    files = sorted(split_dir.glob(f"*_test_split{split}.txt"))
    if not files:
        raise SplitFormatError(f"no '*_test_split{split}.txt' files in {split_dir}")
    classes = [f.name[: -len(f"_test_split{split}.txt")] for f in files]
    wanted = "1" if subset == "train" else "2"
    records = []
    for label, (name, file) in enumerate(zip(classes, files)):
        for n, line in _lines(file):
            parts = line.split()
            if len(parts) != 2 or parts[1] not in ("0", "1", "2"):
                raise SplitFormatError(f"{file}:{n}: expected '<file> <0|1|2>', got '{line}'")
            if parts[1] == wanted:
                records.append(VideoRecord(video_root / name / parts[0], label))
    return VideoIndex(_existing(records, files[0].parent), classes)


KINETICS_SPLIT_FILES = {"train": ("train.csv",), "test": ("validate.csv", "val.csv")}


def _kinetics_csv(split_dir: Path, subset: str) -> Optional[Path]:
    """The subset's CSV: DeepMind's archives name the validation list validate.csv, the CVDF mirror val.csv."""
    return next((split_dir / name for name in KINETICS_SPLIT_FILES[subset] if (split_dir / name).is_file()), None)


def _kinetics_rows(csv_file: Path) -> List[Dict[str, str]]:
    with csv_file.open(newline="") as handle:
        reader = csv.DictReader(handle)
        required = {"label", "youtube_id", "time_start", "time_end"}
        if not required.issubset(reader.fieldnames or ()):
            raise SplitFormatError(f"{csv_file}:1: header must contain {sorted(required)}, got {reader.fieldnames}")
        return list(reader)


def read_kinetics(video_root: str | Path, split_dir: str | Path, subset: str) -> VideoIndex:
    """Official Kinetics-400/600/700 CSV (label, youtube_id, time_start, time_end, split[, is_cc]);
    train = train.csv, test = validate.csv or val.csv.

    Labels are numbered in sorted order of train.csv's class names whichever subset is read, so the
    train and test subsets agree even when a class is missing from one list. Videos are found
    anywhere under `video_root` by name `<youtube_id>_<start:06d>_<end:06d>.<ext>` (the usual
    downloader naming) or `<youtube_id>.<ext>`.
    """
    _check_subset(subset)
    split_dir = Path(split_dir)
    csv_file = _kinetics_csv(split_dir, subset)
    if csv_file is None:
        raise SplitFormatError(f"split file not found: {' or '.join(str(split_dir / n) for n in KINETICS_SPLIT_FILES[subset])}")
    rows = _kinetics_rows(csv_file)
    train_csv = _kinetics_csv(split_dir, "train")
    class_rows = rows if subset == "train" or train_csv is None else _kinetics_rows(train_csv)
    classes = sorted({row["label"] for row in class_rows})
    label_of = {name: i for i, name in enumerate(classes)}
    on_disk: Dict[str, Path] = {}
    for dirpath, _, filenames in os.walk(video_root):
        for filename in filenames:
            on_disk.setdefault(Path(filename).stem, Path(dirpath) / filename)
    records, missing = [], 0
    for n, row in enumerate(rows, 2):
        if row["label"] not in label_of:
            raise SplitFormatError(f"{csv_file}:{n}: class '{row['label']}' is not in {train_csv}")
        try:
            stem = f"{row['youtube_id']}_{int(float(row['time_start'])):06d}_{int(float(row['time_end'])):06d}"
        except ValueError:
            raise SplitFormatError(f"{csv_file}:{n}: time_start/time_end must be numbers") from None
        path = on_disk.get(stem) or on_disk.get(row["youtube_id"])
        if path is None:
            missing += 1
        else:
            records.append(VideoRecord(path, label_of[row["label"]]))
    if missing:
        log.warning("%s: %d of %d listed videos not found under %s; skipped", csv_file, missing, len(rows), video_root)
    return VideoIndex(records, classes)


def _existing(records: List[VideoRecord], source: Path) -> List[VideoRecord]:
    present = [r for r in records if r.path.is_file()]
    if len(present) < len(records):
        example = next(r.path for r in records if not r.path.is_file())
        log.warning("%s: %d of %d listed videos are missing (e.g. %s); skipped", source, len(records) - len(present), len(records), example)
    return present


def read_index(data_cfg, subset: str) -> VideoIndex:
    """The records of `subset` ('train' | 'test') for `data.format`; demo data is generated if absent."""
    fmt = data_cfg.format
    if data_cfg.split == "all":
        raise SplitFormatError("data.split=all is an evaluation option (tools/finetune.py); pick one split, 1..3, here")
    if fmt == "demo":
        from .demo import ensure_demo_dataset

        root = Path(data_cfg.video_root).parent
        if Path(data_cfg.split_dir).resolve() != (root / "splits").resolve():
            raise SplitFormatError(f"demo data lives in <root>/videos and <root>/splits; got data.split_dir={data_cfg.split_dir}")
        if is_main_process():  # one writer; the other ranks wait, then read
            ensure_demo_dataset(root, **data_cfg.demo)
        barrier()
        fmt = "ucf101"
    if fmt == "ucf101":
        index = read_ucf101(data_cfg.video_root, data_cfg.split_dir, data_cfg.split, subset)
    elif fmt == "hmdb51":
        index = read_hmdb51(data_cfg.video_root, data_cfg.split_dir, data_cfg.split, subset)
    else:
        index = read_kinetics(data_cfg.video_root, data_cfg.split_dir, subset)
    if not index.records:
        raise SplitFormatError(f"no readable videos for data.format={data_cfg.format} subset={subset} under {data_cfg.video_root}")
    return index


class VideoClipDataset(Dataset):
    """Each item: `num_clips` clips of one video, decoded in one pass and augmented per clip.

    Clips are `frames` frames at `stride`, or, with `clip_duration` > 0 seconds, `frames` frames
    uniformly subsampled from a window of that duration located by the frame timestamps
    (robust to variable frame rates and wrong metadata). Train mode draws clips at random positions and returns (list of clips, label, index); eval
    mode takes uniformly spaced clips and returns (stacked clips (K,3,T,S,S), label, index).
    Randomness is a function of (seed, epoch, index), so runs and resumes are reproducible.
    An undecodable video is appended to `bad_video_log` (path + reason); training substitutes
    another video deterministically, eval returns index -1 so the caller drops and counts it.
    Train-mode options (samplers.py): `clip_gap` bounds/draws the distance between the views' starts
    (frames, or seconds with `clip_duration`); `segments` = S > 0 makes each view S clips, one per
    equal segment (VCLR), returned as a (S,3,T,H,W) tensor with one augmentation drawn per view;
    `local_views` = N > 0 appends N local clips (multi-crop) of `local_frames` frames at the same
    stride (with `clip_duration`, over the same fraction of it), independent uniform starts, each
    through its own transform (`transform[num_clips + n]`: smaller crops).
    """

    def __init__(
        self,
        records: Sequence[VideoRecord],
        transform: ClipTransform | Sequence[ClipTransform],
        frames: int,
        stride: int,
        num_clips: int,
        train: bool,
        decoder: str = "pyav",
        seed: int = 0,
        bad_video_log: Optional[str | Path] = None,
        max_substitutes: int = 10,
        clip_duration: float = 0.0,
        decode_timeout_s: float = 0.0,
        clip_gap: Optional[ClipGap] = None,
        segments: int = 0,
        local_views: int = 0,
        local_frames: Optional[int] = None,
    ) -> None:
        self.records = list(records)
        self.transforms = list(transform) if isinstance(transform, (list, tuple)) else [transform]
        self.frames, self.stride, self.num_clips = frames, stride, num_clips
        self.train, self.decoder, self.seed = train, decoder, seed
        self.bad_video_log = Path(bad_video_log) if bad_video_log else None
        self.max_substitutes, self.clip_duration = max_substitutes, clip_duration
        self.timeout_s = decode_timeout_s or None
        self.clip_gap, self.segments = clip_gap, segments
        self.local_views, self.local_frames = local_views, local_frames or frames
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.records)

    def sample_clips(self, index: int, rng: np.random.Generator) -> List[List[int]]:
        """Frame indices of the item's clips: `num_clips` clips, or `num_clips` * `segments` (view-major),
        then the `local_views` local clips in train mode."""
        record = self.records[index]
        local = self.local_views if self.train else 0
        if self.clip_duration > 0:  # time-based: `frames` frames over `clip_duration` seconds
            times = frame_timestamps(record.path)
            if not self.train:
                return uniform_time_clips(times, self.clip_duration, self.frames, self.num_clips)
            if self.segments:
                return [c for _ in range(self.num_clips) for c in segment_time_clips(times, self.clip_duration, self.frames, self.segments, rng)]
            clips = random_time_clips(times, self.clip_duration, self.frames, self.num_clips, rng, gap=self.clip_gap)
            if local:
                clips += random_time_clips(times, self.clip_duration * self.local_frames / self.frames, self.local_frames, local, rng)
            return clips
        num_frames = probe_video(record.path, backend=self.decoder, timeout_s=self.timeout_s).num_frames
        if not self.train:
            return uniform_clips(num_frames, self.frames, self.stride, self.num_clips)
        if self.segments:
            return [c for _ in range(self.num_clips) for c in segment_clips(num_frames, self.frames, self.stride, self.segments, rng)]
        clips = random_clips(num_frames, self.frames, self.stride, self.num_clips, rng, gap=self.clip_gap)
        if local:
            clips += random_clips(num_frames, self.local_frames, self.stride, local, rng)
        return clips

    def load_clips(self, index: int) -> List[torch.Tensor]:
        record = self.records[index]
        rng = np.random.default_rng([self.seed, self.epoch, index])
        clips = self.sample_clips(index, rng)
        wanted = sorted({i for clip in clips for i in clip})
        frames = decode_frames(record.path, wanted, backend=self.decoder, timeout_s=self.timeout_s)
        position = {frame: row for row, frame in enumerate(wanted)}

        def view(n: int, clip: List[int], view_rng: np.random.Generator) -> torch.Tensor:
            # index_select: indexing with a Python list takes torch's much slower advanced-indexing path
            rows = torch.tensor([position[i] for i in clip])
            return self.transforms[n % len(self.transforms)](frames.index_select(0, rows), view_rng)

        if self.train and self.segments:  # a view's S clips share one augmentation: the same seed for each
            views = []
            for n in range(self.num_clips):
                seed = int(rng.integers(2**63))
                segment = clips[n * self.segments : (n + 1) * self.segments]
                views.append(torch.stack([view(n, clip, np.random.default_rng(seed)) for clip in segment]))
            return views
        return [view(n, clip, rng) for n, clip in enumerate(clips)]

    def _report_bad(self, index: int, error: Exception) -> None:
        log.warning("skipping unreadable video: %s", error)
        if self.bad_video_log is not None:
            self.bad_video_log.parent.mkdir(parents=True, exist_ok=True)
            with self.bad_video_log.open("a") as handle:
                handle.write(f"{self.records[index].path}\t{str(error).splitlines()[0]}\n")

    def __getitem__(self, index: int):
        if not self.train:
            try:
                return torch.stack(self.load_clips(index)), self.records[index].label, index
            except DecodeError as error:
                self._report_bad(index, error)
                return self._placeholder(), self.records[index].label, -1
        candidate = index
        for attempt in range(self.max_substitutes + 1):
            try:
                return self.load_clips(candidate), self.records[candidate].label, candidate
            except DecodeError as error:
                self._report_bad(candidate, error)
                candidate = int(np.random.default_rng([self.seed, index, attempt]).integers(len(self)))
        raise RuntimeError(f"{self.max_substitutes + 1} unreadable videos in a row starting at {self.records[index].path}; see {self.bad_video_log}")

    def _placeholder(self) -> torch.Tensor:
        """Zero clips with the shape a good item has (the transform run on a blank clip), so a batch still collates."""
        blank = torch.zeros(self.frames, 64, 64, 3, dtype=torch.uint8)
        shape = self.transforms[0](blank, np.random.default_rng(0)).shape
        return torch.zeros(self.num_clips, *shape)


def bad_video_count(bad_video_log: str | Path) -> int:
    """Distinct videos reported in a bad-video log."""
    path = Path(bad_video_log)
    if not path.is_file():
        return 0
    return len({line.split("\t")[0] for line in path.read_text().splitlines() if line})


def check_bad_fraction(bad_video_log: str | Path, total: int, max_fraction: float) -> None:
    """Stop with a clear error once more than `max_fraction` of the videos were unreadable."""
    bad = bad_video_count(bad_video_log)
    if bad:
        log.warning("%d of %d videos unreadable so far (listed in %s)", bad, total, bad_video_log)
    if bad > max_fraction * total:
        raise RuntimeError(f"{bad} of {total} videos are unreadable (> data.max_bad_fraction={max_fraction}); see {bad_video_log}")
