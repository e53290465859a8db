"""A bad-input corpus generated here (damaged, cut-short, oversized and unlisted videos; malformed
split files), each checked for its expected one-line message or report line through
tools/check_dataset.py and through the dataset / training path.

Expected reasons are written out in full; cut-short lengths come from the generator (50 frames at
25 fps = 2.00 s stated) and from counting the cut file's packets with PyAV, not from our index.
"""
from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Dict, List, Tuple

import av
import numpy as np
import pytest
import torch

from helpers import eval_dataset, require, run_tool, train_dataset
from videosce.config import load_config
from videosce.data.check import check_video
from videosce.jobs.check_dataset import REPORT_FILE
from videosce.data.datasets import (SplitFormatError, TooManyBadVideos, VideoClipDataset, read_hmdb51, read_index, read_kinetics,
                                    read_ucf101)
from videosce.data.decoders import DECODERS, DecodeError, decode_frames, get_decoder, probe_video
from videosce.data.transforms import EvalClipTransform, TrainClipTransform
from videosce.engine.checkpoint import CheckpointError, load_checkpoint, save_checkpoint

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "configs" / "pretrain" / "demo_sce.yaml"
CORRUPTED = (ROOT / ".." / "shared" / "videos" / "decord" / "corrupted.mp4").resolve()
W, H, FPS, FRAMES = 32, 24, 25, 50  # 2.00 s
MAX_PIXELS = 4096 * 2160  # the data.max_pixels default
CUTS = (10, 50, 90)
CANNOT_OPEN = "cannot open: Invalid data found when processing input"
GOOD = [f"Good/good{i}.mp4" for i in range(8)]


def encode(path: Path, frames: int = FRAMES, container_options: Dict[str, str] | None = None) -> Path:
    """H.264 of random noise, so every packet is large and a byte cut lands inside the video data."""
    rng = np.random.default_rng(frames)
    with av.open(str(path), "w", options=container_options or {}) as container:
        stream = container.add_stream("libx264", rate=FPS, options={"g": "10"})
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for _ in range(frames):
            image = rng.integers(0, 256, (H, W, 3), dtype=np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        container.mux(stream.encode())
    return path


def encode_huge(path: Path, side: int = 8192) -> Path:
    """One black side x side frame (~200 KB of H.264): a small file that decodes to 200 MB per RGB frame."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS, options={"preset": "ultrafast", "threads": "1"})
        stream.width, stream.height, stream.pix_fmt = side, side, "yuv420p"
        frame = av.VideoFrame(side, side, "yuv420p")
        for plane in frame.planes:
            plane.update(bytes(plane.buffer_size))
        container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def encode_audio(path: Path) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=8000, layout="mono")
        samples = (np.sin(np.arange(8000) / 5) * 0.5).astype(np.float32)[None, :]
        for start in range(0, 8000, 1024):
            frame = av.AudioFrame.from_ndarray(samples[:, start : start + 1024], format="flt", layout="mono")
            frame.sample_rate = 8000
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def cut(source: Path, percent: int, path: Path) -> Path:
    data = source.read_bytes()
    path.write_bytes(data[: len(data) * percent // 100])
    return path


def flipped(source: Path, path: Path, start: int, stop: int, count: int) -> Path:
    """`count` single-bit flips at seeded positions within bytes [start, stop)."""
    data = bytearray(source.read_bytes())
    rng = np.random.default_rng(7)
    for position in rng.integers(start, stop, count):
        data[position] ^= 1 << int(rng.integers(8))
    path.write_bytes(bytes(data))
    return path


def packets(path: Path) -> Tuple[int, int]:
    """(video packets, of which flagged corrupt) as PyAV's demuxer returns them."""
    with av.open(str(path)) as container:
        flags = [p.is_corrupt for p in container.demux(video=0) if p.size]
    return len(flags), sum(flags)


def truncation(path: Path) -> str:
    count, corrupt = packets(path)
    reason = f"truncated: its frames end at {count / FPS:.2f} s of the 2.00 s its container states"
    return reason + (f"; {corrupt} of {count} video packets damaged (cut short or flagged corrupt)" if corrupt else "")


class Corpus:
    """UCF101 layout: Good/ (8 sound videos) and Bad/ (everything else), all in trainlist01.txt."""

    def __init__(self, root: Path) -> None:
        self.root, self.videos, self.splits = root, root / "videos", root / "splits"
        good, bad = self.videos / "Good", self.videos / "Bad"
        good.mkdir(parents=True)
        bad.mkdir()
        self.splits.mkdir()
        for name in GOOD:
            encode(self.videos / name)
        plain, fast = encode(root / "plain.mp4"), encode(root / "fast.mp4", container_options={"movflags": "faststart"})
        matroska = encode(root / "plain.mkv")
        moov = plain.read_bytes().find(b"moov")
        mdat = plain.read_bytes().find(b"mdat")
        (bad / "zero.mp4").touch()
        (bad / "text.mp4").write_text("this is a text file saved as .mp4\n" * 20)
        encode_audio(bad / "audio_only.mp4")
        encode_huge(bad / "huge.mp4")
        cut(plain, 50, bad / "cut50_index_at_end.mp4")
        flipped(plain, bad / "header_flipped.mp4", moov, moov + 4, 16)  # the 'moov' box name itself
        self.unreadable = {
            "Bad/zero.mp4": "file is empty (0 bytes)",
            "Bad/text.mp4": CANNOT_OPEN,
            "Bad/audio_only.mp4": "no video stream (streams: audio)",
            "Bad/huge.mp4": f"frame size 8192x8192 exceeds data.max_pixels={MAX_PIXELS} (67108864 pixels); raise data.max_pixels if such files are wanted",
            "Bad/cut50_index_at_end.mp4": CANNOT_OPEN,
            "Bad/header_flipped.mp4": CANNOT_OPEN,
        }
        self.cut_short: Dict[str, str] = {}
        for percent in CUTS:
            for source, name in ((matroska, f"cut{percent}.mkv"), (fast, f"cut{percent}_index_first.mp4")):
                self.cut_short[f"Bad/{name}"] = truncation(cut(source, percent, bad / name))
        encode(bad / "one_frame.mp4", frames=1)
        flipped(plain, bad / "frames_flipped.mp4", mdat + 64, moov, 50)  # inside the frames' data: concealed by FFmpeg
        self.readable = ["Bad/one_frame.mp4", "Bad/frames_flipped.mp4"]
        (bad / "directory.mp4").mkdir()
        os.symlink("loop.mp4", bad / "loop.mp4")
        os.symlink("nowhere.mp4", bad / "dangling.mp4")
        self.unlisted = {"Bad/directory.mp4": "directory", "Bad/loop.mp4": "symlink loop", "Bad/dangling.mp4": "dangling symlink",
                         "Bad/absent.mp4": "file not found"}
        (self.splits / "classInd.txt").write_text("1 Good\n2 Bad\n")
        listed = GOOD + list(self.unreadable) + list(self.cut_short) + self.readable + list(self.unlisted)
        (self.splits / "trainlist01.txt").write_text("".join(f"{name} {1 + name.startswith('Bad')}\n" for name in listed))
        (self.splits / "testlist01.txt").write_text("".join(f"{name}\n" for name in GOOD[:2]))

    def overrides(self, out: Path, *extra: str) -> List[str]:
        return [f"data.video_root={self.videos}", f"data.split_dir={self.splits}", "data.format=ucf101", "data.num_workers=0",
                f"output_dir={out}", *extra]

    def path(self, name: str) -> str:
        return str(self.videos / name)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Corpus:
    return Corpus(tmp_path_factory.mktemp("corpus"))


def report_lines(report: str) -> Dict[str, List[Tuple[str, str]]]:
    """Each "<path>\\t<reason>" line of check_dataset.txt under the heading it follows."""
    sections: Dict[str, List[Tuple[str, str]]] = {}
    heading = ""
    for line in report.splitlines():
        if "\t" in line:
            path, reason = line.split("\t")
            sections.setdefault(heading, []).append((path, reason))
        else:
            heading = line.split(",")[0].split(" (")[0]
    return sections


def test_check_dataset_reports_every_bad_input(corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_tool("check_dataset", "--cfg", CONFIG, *corpus.overrides(tmp_path))
    assert exit_info.value.code == 1
    report = (tmp_path / REPORT_FILE).read_text()
    assert report.splitlines()[:2] == [
        "checked 22 videos: 10 readable, 6 unreadable, 6 cut short",
        "4 listed files cannot be read: 1 file not found, 1 dangling symlink, 1 directory, 1 symlink loop",  # by path
    ]
    sections = report_lines(report)
    assert sorted(sections["unreadable videos"]) == sorted((corpus.path(n), r) for n, r in corpus.unreadable.items())
    assert sorted(sections["listed files that cannot be read"]) == sorted((corpus.path(n), r) for n, r in corpus.unlisted.items())
    cut_short = dict(sections["cut-short videos"])
    assert set(cut_short) == {corpus.path(n) for n in corpus.cut_short}
    for name, reason in corpus.cut_short.items():
        # a file cut inside a packet also fails to decode its last frames: that is appended
        assert cut_short[corpus.path(name)] == reason or cut_short[corpus.path(name)].startswith(reason + "; index "), name
    assert "frames: min 1.00" in report  # the 1-frame video is readable


def test_cut_short_lengths_and_flags(corpus: Corpus) -> None:
    """The generator's facts: Matroska loses whole packets (none flagged), a cut MP4 with its index
    first keeps a flagged partial packet; every cut leaves well under the stated 2.00 s."""
    for percent in CUTS:
        count, corrupt = packets(corpus.videos / "Bad" / f"cut{percent}.mkv")
        assert corrupt == 0 and count / FPS < 2.00 * (percent + 5) / 100
        count, corrupt = packets(corpus.videos / "Bad" / f"cut{percent}_index_first.mp4")
        assert corrupt == 1 and count / FPS < 2.00 * (percent + 5) / 100


def test_bit_flips_inside_frames_are_not_detected(corpus: Corpus) -> None:
    """The documented limit: FFmpeg conceals damage inside a frame, so the file reads as sound (every
    frame decodes) while its pixels differ from the intact file's. (200 flips instead of 50 made
    a frame fail: then a clip reaching it is skipped like any undecodable video.)"""
    damaged = corpus.videos / "Bad" / "frames_flipped.mp4"
    intact = corpus.root / "plain.mp4"
    result = check_video(str(damaged))
    assert result.error is None and not result.damage and result.info.num_frames == FRAMES
    every = list(range(FRAMES))
    assert not torch.equal(decode_frames(damaged, every), decode_frames(intact, every))


def read_log(path: Path) -> List[Tuple[str, str, str, str]]:
    lines = path.read_text().splitlines()
    assert all(line.count("\t") == 3 for line in lines)
    return sorted(tuple(line.split("\t")) for line in lines)


def test_training_skips_and_lists_every_bad_video_once(corpus: Corpus, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING):
        index = read_ucf101(corpus.videos, corpus.splits, 1, "train")
    assert sorted(index.skipped) == sorted((Path(corpus.path(n)), r) for n, r in corpus.unlisted.items())
    assert (f"trainlist01.txt: 4 of 26 listed videos cannot be read and are skipped: 1 directory (e.g. {corpus.path('Bad/directory.mp4')}), "
            f"1 symlink loop (e.g. {corpus.path('Bad/loop.mp4')})") in caplog.text
    log = tmp_path / "bad_videos.txt"
    train = VideoClipDataset(index.records, TrainClipTransform(16), frames=4, stride=2, num_clips=2, train=True, bad_video_log=log,
                             max_pixels=MAX_PIXELS, max_substitutes=30)
    used = [train[i][2] for i in range(len(train))]
    train.set_epoch(1)
    used += [train[i][2] for i in range(len(train))]
    expected = {**corpus.unreadable, **{n: f"{r} (data.truncated=skip)" for n, r in corpus.cut_short.items()}}
    assert read_log(log) == sorted(("train", "skipped", corpus.path(n), r) for n, r in expected.items())
    skipped = {index.records.index(r) for r in index.records if str(r.path) in {corpus.path(n) for n in expected}}
    assert not skipped & set(used)  # never trained on
    one_frame = next(i for i, r in enumerate(index.records) if r.path.name == "one_frame.mp4")
    views, _, item = train[one_frame]
    assert item == one_frame and torch.equal(views[0][:, 0], views[0][:, -1])  # its only frame, repeated


def test_truncated_use_trains_on_the_frames_it_holds(corpus: Corpus, tmp_path: Path) -> None:
    names = [f"Bad/cut{p}.mkv" for p in CUTS]
    records = [r for r in read_ucf101(corpus.videos, corpus.splits, 1, "train").records if str(r.path) in map(corpus.path, names)]
    log = tmp_path / "bad_videos.txt"
    train = VideoClipDataset(records, TrainClipTransform(16), frames=4, stride=2, num_clips=2, train=True, bad_video_log=log,
                             truncated="use")
    assert [train[i][2] for i in range(len(records))] == [0, 1, 2]
    assert [train[i][2] for i in range(len(records))] == [0, 1, 2]  # listed once, whatever the number of loads
    assert read_log(log) == sorted(("train", "used", corpus.path(n), f"{corpus.cut_short[n]} (data.truncated=use)") for n in names)


def test_evaluation_counts_bad_videos_under_its_own_stage(corpus: Corpus, tmp_path: Path) -> None:
    cfg = load_config(CONFIG, corpus.overrides(tmp_path, "data.max_bad_fraction=1", "data.size=16", "data.eval_short_side=16", "data.frames=4"))
    index = read_index(cfg.data, "train")
    evaluation = eval_dataset(cfg, index)
    valid = [evaluation[i][2] >= 0 for i in range(len(evaluation))]
    bad = {corpus.path(n) for n in [*corpus.unreadable, *corpus.cut_short]}
    assert valid == [str(r.path) not in bad for r in index.records]
    rows = read_log(tmp_path / "bad_videos.txt")
    assert {row[2] for row in rows} == bad and {row[:2] for row in rows} == {("eval", "skipped")}


def test_bad_fraction_trips_at_the_first_video_past_it(corpus: Corpus, tmp_path: Path) -> None:
    """8 good + 3 unreadable, max 0.1: 1 of 11 is within, the 2nd trips, before the 3rd is tried."""
    names = [*GOOD, "Bad/zero.mp4", "Bad/text.mp4", "Bad/audio_only.mp4"]
    records = [r for r in read_ucf101(corpus.videos, corpus.splits, 1, "train").records if str(r.path) in map(corpus.path, names)]
    log = tmp_path / "bad_videos.txt"
    dataset = VideoClipDataset(records, EvalClipTransform(16, 16), frames=4, stride=2, num_clips=1, train=False, bad_video_log=log,
                               max_bad_fraction=0.1)
    assert all(dataset[i][2] == i for i in range(8)) and dataset[8][2] == -1
    with pytest.raises(TooManyBadVideos) as info:
        dataset[9]
    assert str(info.value) == (f"2 of 11 videos unreadable at stage 'eval', more than data.max_bad_fraction=0.1: they are listed in {log}; "
                               "fix or remove them (tools/check_dataset.py checks every file), or raise data.max_bad_fraction")
    assert len(log.read_text().splitlines()) == 2


def test_builders_apply_the_data_config(corpus: Corpus, tmp_path: Path) -> None:
    """Pretraining, finetuning and evaluation datasets all get the limit, the policy and the fraction."""
    cfg = load_config(CONFIG, corpus.overrides(tmp_path, "data.max_pixels=1000", "data.truncated=use", "data.max_bad_fraction=0.2"))
    index = read_index(cfg.data, "train")
    for dataset, stage in ((train_dataset(cfg, index, 2), "train"), (eval_dataset(cfg, index), "eval")):
        assert (dataset.max_pixels, dataset.truncated, dataset.max_bad_fraction, dataset.stage) == (1000, "use", 0.2, stage)
        assert dataset.bad_video_log == tmp_path / "bad_videos.txt"


def test_pretraining_stops_mid_epoch_with_one_line(corpus: Corpus, tmp_path: Path) -> None:
    """DataLoader workers trip the fraction; the tool prints the worker's one line and exits 2 before the epoch ends."""
    out = tmp_path / "run"
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "pretrain.py"), "--cfg", str(CONFIG), *corpus.overrides(out), "data.num_workers=2",
         "data.size=16", "data.frames=4", "trainer.batch_size=2", "trainer.max_epochs=1", "method.queue_size=8",
         "trainer.progress_bar=false", "data.max_bad_fraction=0.05", "eval.retrieval_at_end=false"],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 2, result.stderr[-3000:]
    (error,) = [line for line in result.stderr.splitlines() if line.startswith("error: ")]  # workers may log after it
    assert " of 22 videos unreadable at stage 'train', more than data.max_bad_fraction=0.05: " in error
    assert "Traceback" not in result.stderr
    assert not (out / "checkpoints" / "backbone.pt").exists()  # the epoch never ended: nothing exported


@pytest.mark.skipif(not CORRUPTED.is_file(), reason="real test videos not found")
def test_real_video_failing_part_way(tmp_path: Path) -> None:
    """corrupted.mp4 states 50 frames and decodes 28: check_dataset and evaluation (clips up to its end) list it."""
    assert check_video(str(CORRUPTED)).error.startswith("index 49 is past the end: only 28 frames could be decoded before FFmpeg failed")
    log = tmp_path / "bad_videos.txt"
    from videosce.data.datasets import VideoRecord

    dataset = VideoClipDataset([VideoRecord(CORRUPTED, 0)], EvalClipTransform(16, 16), frames=4, stride=2, num_clips=4, train=False,
                               bad_video_log=log)
    assert dataset[0][2] == -1
    (row,) = read_log(log)
    assert row[:3] == ("eval", "skipped", str(CORRUPTED)) and "only 28 frames could be decoded" in row[3]


# ---------------------------------------------------------------- the frame-size limit, every backend


@pytest.mark.parametrize("backend", DECODERS.list())
def test_max_pixels_refuses_before_decoding(backend: str, corpus: Corpus, monkeypatch: pytest.MonkeyPatch) -> None:
    require(backend)
    huge = corpus.videos / "Bad" / "huge.mp4"
    monkeypatch.setattr(get_decoder(backend), "decode", lambda path, indices: pytest.fail("decoded a frame over the limit"))
    message = f"{huge}: frame size 8192x8192 exceeds data.max_pixels={MAX_PIXELS} (67108864 pixels); raise data.max_pixels if such files are wanted"
    with pytest.raises(DecodeError) as info:
        probe_video(huge, backend=backend, max_pixels=MAX_PIXELS)
    assert str(info.value) == message
    with pytest.raises(DecodeError) as info:
        decode_frames(huge, [0], backend=backend, max_pixels=MAX_PIXELS)
    assert str(info.value) == message
    assert probe_video(huge, backend=backend, max_pixels=8192 * 8192).width == 8192  # at the limit: accepted


# ---------------------------------------------------------------- split files

UCF_CASES = {  # name: (file, content, expected message after "<split_dir>/")
    "space in a train path": ("trainlist01.txt", b"Good/good0.mp4 1\nGood/my video.mp4 1\n",
                              "trainlist01.txt:2: expected '<ClassName>/<file> [label]' (no spaces in file names), got 'Good/my video.mp4 1'"),
    "space in a test path": ("testlist01.txt", b"Good/my video.mp4\n",
                             "testlist01.txt:1: label 'video.mp4' is not an integer (a file name with a space?); "
                             "expected '<ClassName>/<file> [label]', got 'Good/my video.mp4'"),
    "label not an integer": ("trainlist01.txt", b"Good/good0.mp4 one\n",
                             "trainlist01.txt:1: label 'one' is not an integer (a file name with a space?); "
                             "expected '<ClassName>/<file> [label]', got 'Good/good0.mp4 one'"),
    "non-UTF-8 byte": ("trainlist01.txt", b"Good/good0.mp4 1\nGood/caf\xe9.mp4 1\n",
                       "trainlist01.txt:2: byte 0xe9 is not UTF-8; save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"),
    "BOM inside the file": ("trainlist01.txt", b"Good/good0.mp4 1\n\xef\xbb\xbfGood/good1.mp4 1\n",
                            "trainlist01.txt:2: class '\\ufeffGood' is not in {split_dir}/classInd.txt"),
    "unknown class": ("trainlist01.txt", b"Good/good0.mp4 1\nNope/x.mp4 2\n", "trainlist01.txt:2: class 'Nope' is not in {split_dir}/classInd.txt"),
    "classInd not UTF-8": ("classInd.txt", b"1 Good\n2 B\xffd\n", "classInd.txt:2: byte 0xff is not UTF-8; save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)"),
}


def ucf_splits(corpus: Corpus, directory: Path, **files: bytes) -> Path:
    directory.mkdir()
    defaults = {"classInd.txt": b"1 Good\n2 Bad\n", "trainlist01.txt": b"Good/good0.mp4 1\nGood/good1.mp4 1\n",
                "testlist01.txt": b"Good/good2.mp4\n"}
    for name, content in {**defaults, **files}.items():
        (directory / name).write_bytes(content)
    return directory


@pytest.mark.parametrize("case", sorted(UCF_CASES))
def test_malformed_ucf101_split_is_one_line_exit_2(case: str, corpus: Corpus, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    file, content, expected = UCF_CASES[case]
    splits = ucf_splits(corpus, tmp_path / "splits", **{file: content})
    message = f"{splits}/" + expected.format(split_dir=splits)
    subset = "test" if file.startswith("test") else "train"
    with pytest.raises(SplitFormatError) as info:
        read_ucf101(corpus.videos, splits, 1, subset)
    assert str(info.value) == message
    overrides = [*corpus.overrides(tmp_path / "out"), f"data.split_dir={splits}"]
    with pytest.raises(SystemExit) as exit_info:
        run_tool("check_dataset", "--cfg", CONFIG, *overrides)
    assert exit_info.value.code == 2 and capsys.readouterr().err == f"error: {message}\n"
    with pytest.raises(SplitFormatError) as info:  # what pretraining and evaluation read
        read_index(load_config(CONFIG, overrides).data, subset)
    assert str(info.value) == message


def test_leading_bom_is_accepted(corpus: Corpus, tmp_path: Path) -> None:
    """Windows tools write a UTF-8 BOM first: the files read exactly as without it (UCF101 and Kinetics)."""
    plain = ucf_splits(corpus, tmp_path / "plain")
    bom = ucf_splits(corpus, tmp_path / "bom", **{name: b"\xef\xbb\xbf" + (plain / name).read_bytes() for name in ("classInd.txt", "trainlist01.txt")})
    assert read_ucf101(corpus.videos, bom, 1, "train") == read_ucf101(corpus.videos, plain, 1, "train")
    kinetics = tmp_path / "k400"
    kinetics.mkdir()
    (kinetics / "train.csv").write_bytes("\ufefflabel,youtube_id,time_start,time_end,split\nGood,good0,0,10,train\n".encode())
    index = read_kinetics(corpus.videos, kinetics, "train")
    assert index.classes == ["Good"] and [r.path for r in index.records] == [corpus.videos / "Good" / "good0.mp4"]


def test_duplicate_entries_are_used_once_and_counted(corpus: Corpus, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    splits = ucf_splits(corpus, tmp_path / "splits", **{"trainlist01.txt": b"Good/good0.mp4 1\nGood/good1.mp4\nGood/good0.mp4 1\nGood/good0.mp4\n"})
    with caplog.at_level(logging.WARNING):
        index = read_ucf101(corpus.videos, splits, 1, "train")
    assert [r.path.name for r in index.records] == ["good0.mp4", "good1.mp4"]
    listed = splits / "trainlist01.txt"
    assert (f"2 duplicate split entries ignored, each video is used once (e.g. {listed}:3 repeats {listed}:1, "
            f"{corpus.videos / 'Good' / 'good0.mp4'})") in caplog.text
    with pytest.raises(SystemExit):
        run_tool("check_dataset", "--cfg", CONFIG, *corpus.overrides(tmp_path / "out"), f"data.split_dir={splits}")
    assert "warning: 2 duplicate split entries ignored" in (tmp_path / "out" / REPORT_FILE).read_text()


def test_malformed_hmdb51_and_kinetics_files(corpus: Corpus, tmp_path: Path) -> None:
    hmdb = tmp_path / "hmdb"
    hmdb.mkdir()
    (hmdb / "Good_test_split1.txt").write_bytes(b"good0.mp4 1\nmy video.mp4 1\n")
    with pytest.raises(SplitFormatError) as info:
        read_hmdb51(corpus.videos, hmdb, 1, "train")
    assert str(info.value) == f"{hmdb}/Good_test_split1.txt:2: expected '<file> <0|1|2>' (no spaces in file names), got 'my video.mp4 1'"
    (hmdb / "Good_test_split1.txt").write_bytes(b"good0.mp4 1\ngood\xe91.mp4 1\n")
    with pytest.raises(SplitFormatError, match=r"Good_test_split1.txt:2: byte 0xe9 is not UTF-8"):
        read_hmdb51(corpus.videos, hmdb, 1, "train")

    kinetics = tmp_path / "k400"
    kinetics.mkdir()
    header = "label,youtube_id,time_start,time_end,split\n"
    cases = {
        header + "Good,good0,0,10,train\nGood,good1,0\n": "train.csv:3: expected the 5 fields of the header ['label', 'youtube_id', 'time_start', 'time_end', 'split']",
        header + "Good,good0,0,ten,train\n": "train.csv:2: time_start/time_end must be numbers",
        header + "Good,good0,0,10,train\nBad,good0,0,10,train\n": (
            f"train.csv:3: {corpus.videos / 'Good' / 'good0.mp4'} is listed again with another class (first at {kinetics / 'train.csv'}:2); keep one entry"),
        header + "Good,good0,0,10,tr\xe4in\n": "train.csv:2: byte 0xe4 is not UTF-8; save the file as UTF-8 (e.g. iconv -f latin1 -t utf-8)",
    }
    for text, expected in cases.items():
        (kinetics / "train.csv").write_bytes(text.encode("latin1"))
        with pytest.raises(SplitFormatError) as info:
            read_kinetics(corpus.videos, kinetics, "train")
        assert str(info.value) == f"{kinetics}/{expected}"


# ---------------------------------------------------------------- checkpoints


class Payload:
    def __reduce__(self):
        return (os.system, ("echo this must never run",))


def test_damaged_or_malicious_checkpoint_is_one_line(tmp_path: Path, demo_root: Path) -> None:
    good = save_checkpoint({"model": {"w": torch.ones(64, 64)}, "epoch": 1}, tmp_path / "good.ckpt")
    data = good.read_bytes()
    (tmp_path / "cut.ckpt").write_bytes(data[: len(data) // 2])
    (tmp_path / "empty.ckpt").write_bytes(b"")
    (tmp_path / "junk.ckpt").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    torch.save({"model": Payload()}, tmp_path / "evil.ckpt")
    damaged = "use an intact copy (or, to evaluate, a backbone-epoch-NNNN.pt of the same run)"
    expected = {
        "cut.ckpt": f"truncated or damaged ([Errno 22] Invalid argument); {damaged}",
        "empty.ckpt": f"truncated or damaged (EOFError); {damaged}",
        "junk.ckpt": "not a PyTorch checkpoint or damaged (Unsupported operand ",
        "evil.ckpt": ("not loaded, it holds Python objects beyond tensors and plain containers (Trying to load unsupported GLOBAL "
                      "posix.system whose module posix is blocked.); load only checkpoints you trust, saved by videosce or as a plain state_dict"),
    }
    for name, reason in expected.items():
        with pytest.raises(CheckpointError) as info:
            load_checkpoint(tmp_path / name)
        assert str(info.value).startswith(f"{tmp_path / name}: {reason}") and "\n" not in str(info.value), name
    result = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "retrieval.py"), "--cfg", str(ROOT / "configs" / "retrieval" / "demo.yaml"),
         f"checkpoint={tmp_path / 'evil.ckpt'}", f"output_dir={tmp_path / 'out'}", f"data.video_root={demo_root / 'videos'}",
         f"data.split_dir={demo_root / 'splits'}", "data.format=ucf101"],
        capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 2 and "this must never run" not in result.stdout
    assert result.stderr.strip().splitlines()[-1] == f"error: {tmp_path / 'evil.ckpt'}: {expected['evil.ckpt']}"


# ---------------------------------------------------------------- results name their undecodable videos


def test_eval_results_count_undecodable_videos(demo_root: Path, tmp_path: Path) -> None:
    """The demo split plus one unreadable video in each subset: 49 train (7 batches of 7, none dropped), 13 test;
    retrieval, finetuning and linear evaluation each count it in their json."""
    import json
    import shutil

    videos, splits = tmp_path / "videos", tmp_path / "splits"
    shutil.copytree(demo_root / "videos", videos)
    shutil.copytree(demo_root / "splits", splits)
    for subset, label in (("train", " 1"), ("test", "")):
        (videos / "CircleHorizontal" / f"broken_{subset}.mp4").write_text("not a video")
        with (splits / f"{subset}list01.txt").open("a") as handle:
            handle.write(f"CircleHorizontal/broken_{subset}.mp4{label}\n")
    data = [f"data.video_root={videos}", f"data.split_dir={splits}", "data.format=ucf101", "data.num_workers=0", "data.size=24",
            "data.eval_short_side=28", "data.eval_clips=2", "data.frames=4", "data.max_bad_fraction=0.1", "checkpoint=random"]
    run_tool("retrieval", "--cfg", ROOT / "configs" / "retrieval" / "demo.yaml", f"output_dir={tmp_path / 'ret'}", *data)
    result = json.loads((tmp_path / "ret" / "retrieval.json").read_text())
    assert (result["undecodable_queries"], result["undecodable_gallery"]) == (1, 1)
    run_tool("finetune", "--cfg", ROOT / "configs" / "finetune" / "demo.yaml", f"output_dir={tmp_path / 'fin'}", *data,
             "trainer.max_epochs=1", "trainer.batch_size=7", "trainer.progress_bar=false")
    result = json.loads((tmp_path / "fin" / "finetune.json").read_text())
    assert (result["undecodable_train"], result["undecodable_test"]) == (1, 1)
    run_tool("linear", "--cfg", ROOT / "configs" / "linear" / "demo.yaml", f"output_dir={tmp_path / 'lin'}", *data,
             "trainer.max_epochs=1", "trainer.batch_size=8", "trainer.progress_bar=false")
    result = json.loads((tmp_path / "lin" / "linear.json").read_text())
    assert (result["undecodable_train"], result["undecodable_test"]) == (1, 1)
    table = (tmp_path / "fin" / "finetune.md").read_text().splitlines()
    assert table[2].endswith("| undecodable_train | undecodable_test |") and table[4].endswith("| 1 | 1 |")  # counts as integers
