"""Split readers on files written in the exact official formats, and the clip dataset."""
import logging
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from videosce.data.datasets import (SplitFormatError, TooManyBadVideos, VideoClipDataset, VideoRecord, bad_videos,
                                    read_hmdb51, read_kinetics, read_ucf101)
from videosce.data.decoders import VideoInfo
from videosce.data.transforms import EvalClipTransform, TrainClipTransform


def touch(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"")
    return path


def test_ucf101_official_format(tmp_path):
    root, splits = tmp_path / "UCF-101", tmp_path / "ucfTrainTestlist"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 ApplyEyeMakeup\n2 ApplyLipstick\n")
    (splits / "trainlist01.txt").write_text("ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi 1\nApplyLipstick/v_ApplyLipstick_g08_c01.avi 2\n")
    (splits / "testlist01.txt").write_text("ApplyLipstick/v_ApplyLipstick_g01_c01.avi\r\n")
    for rel in ["ApplyEyeMakeup/v_ApplyEyeMakeup_g08_c01.avi", "ApplyLipstick/v_ApplyLipstick_g08_c01.avi", "ApplyLipstick/v_ApplyLipstick_g01_c01.avi"]:
        touch(root / rel)
    train = read_ucf101(root, splits, 1, "train")
    assert train.classes == ["ApplyEyeMakeup", "ApplyLipstick"]
    assert [(r.path.name, r.label) for r in train.records] == [("v_ApplyEyeMakeup_g08_c01.avi", 0), ("v_ApplyLipstick_g08_c01.avi", 1)]
    test = read_ucf101(root, splits, 1, "test")
    assert [(r.path.name, r.label) for r in test.records] == [("v_ApplyLipstick_g01_c01.avi", 1)]


def test_ucf101_errors_name_file_and_line(tmp_path, caplog):
    splits = tmp_path / "s"
    splits.mkdir()
    (splits / "classInd.txt").write_text("1 A\n2 B\n")
    (splits / "trainlist01.txt").write_text("A/a.avi 1\nC/c.avi 3\n")
    with pytest.raises(SplitFormatError, match=r"trainlist01.txt:2"):
        read_ucf101(tmp_path, splits, 1, "train")
    (splits / "trainlist01.txt").write_text("A/a.avi 2\n")
    with pytest.raises(SplitFormatError, match="contradicts"):
        read_ucf101(tmp_path, splits, 1, "train")
    with pytest.raises(SplitFormatError, match="not found"):
        read_ucf101(tmp_path, splits, 2, "train")
    (splits / "trainlist01.txt").write_text("A/a.avi 1\nB/b.avi 2\n")
    touch(tmp_path / "A" / "a.avi")
    with caplog.at_level(logging.WARNING):
        index = read_ucf101(tmp_path, splits, 1, "train")
    assert len(index.records) == 1 and "1 of 2 listed videos cannot be read and are skipped: 1 file not found" in caplog.text
    assert index.skipped == [(tmp_path / "B" / "b.avi", "file not found")]


def test_hmdb51_official_format(tmp_path):
    splits = tmp_path / "testTrainMulti_7030_splits"
    splits.mkdir()
    (splits / "brush_hair_test_split1.txt").write_text("a.avi 1 \nb.avi 2 \nc.avi 0 \n")
    (splits / "cartwheel_test_split1.txt").write_text("d.avi 2 \n")
    for rel in ["brush_hair/a.avi", "brush_hair/b.avi", "brush_hair/c.avi", "cartwheel/d.avi"]:
        touch(tmp_path / "videos" / rel)
    train = read_hmdb51(tmp_path / "videos", splits, 1, "train")
    test = read_hmdb51(tmp_path / "videos", splits, 1, "test")
    assert train.classes == ["brush_hair", "cartwheel"]
    assert [(r.path.name, r.label) for r in train.records] == [("a.avi", 0)]
    assert [(r.path.name, r.label) for r in test.records] == [("b.avi", 0), ("d.avi", 1)]
    (splits / "cartwheel_test_split1.txt").write_text("d.avi 7\n")
    with pytest.raises(SplitFormatError, match="cartwheel_test_split1.txt:1"):
        read_hmdb51(tmp_path / "videos", splits, 1, "test")


def test_kinetics_official_csv(tmp_path, caplog):
    (tmp_path / "validate.csv").write_text(
        "label,youtube_id,time_start,time_end,split,is_cc\n"
        "abseiling,0wR5jVB-WPk,417,427,val,0\n"
        "air drumming,--nQbRBEz2s,104,114,val,0\n"
        "abseiling,missing_id0,1,11,val,0\n"
    )
    touch(tmp_path / "videos" / "val" / "abseiling" / "0wR5jVB-WPk_000417_000427.mp4")
    touch(tmp_path / "videos" / "val" / "air drumming" / "--nQbRBEz2s_000104_000114.mp4")
    with caplog.at_level(logging.WARNING):
        index = read_kinetics(tmp_path / "videos", tmp_path, "test")
    assert index.classes == ["abseiling", "air drumming"]
    assert sorted((r.path.name, r.label) for r in index.records) == [("--nQbRBEz2s_000104_000114.mp4", 1), ("0wR5jVB-WPk_000417_000427.mp4", 0)]
    assert "1 of 3 listed videos cannot be read and are skipped: 1 file not found (e.g. " in caplog.text
    assert index.skipped == [(tmp_path / "videos" / "missing_id0_000001_000011.*", "file not found")]
    (tmp_path / "train.csv").write_text("youtube_id,label\nx,y\n")
    with pytest.raises(SplitFormatError, match="header"):
        read_kinetics(tmp_path / "videos", tmp_path, "train")


def test_kinetics_val_csv_and_labels_from_train(tmp_path):
    """CVDF's val.csv (no is_cc column, as in Kinetics-700-2020) is the test list; a class absent from
    it keeps train.csv's number, and a class train.csv lacks is a clear error."""
    (tmp_path / "train.csv").write_text(
        "label,youtube_id,time_start,time_end,split\n"
        '"passing American football (in game)",aaa,0,10,train\n'
        "abseiling,bbb,5,15,train\n"
        "zumba,ccc,1,11,train\n"
    )
    (tmp_path / "val.csv").write_text("label,youtube_id,time_start,time_end,split\nzumba,ddd,2,12,val\n")
    touch(tmp_path / "videos" / "ddd_000002_000012.mp4")
    index = read_kinetics(tmp_path / "videos", tmp_path, "test")
    assert index.classes == ["abseiling", "passing American football (in game)", "zumba"]
    assert [(r.path.name, r.label) for r in index.records] == [("ddd_000002_000012.mp4", 2)]
    (tmp_path / "val.csv").write_text("label,youtube_id,time_start,time_end,split\nyoga,eee,2,12,val\n")
    with pytest.raises(SplitFormatError, match="val.csv:2: class 'yoga'"):
        read_kinetics(tmp_path / "videos", tmp_path, "test")
    (tmp_path / "val.csv").unlink()
    with pytest.raises(SplitFormatError, match="validate.csv or .*val.csv"):
        read_kinetics(tmp_path / "videos", tmp_path, "test")


def test_clip_dataset_train_and_eval_items(demo_root):
    from videosce.data.datasets import read_ucf101

    index = read_ucf101(demo_root / "videos", demo_root / "splits", 1, "train")
    train = VideoClipDataset(index.records[:4], TrainClipTransform(24), frames=4, stride=2, num_clips=2, train=True)
    views, label, idx = train[1]
    assert len(views) == 2 and views[0].shape == (3, 4, 24, 24) and label == index.records[1].label and idx == 1
    assert not torch.equal(views[0], views[1])
    train.set_epoch(0)
    again, _, _ = train[1]
    assert torch.equal(again[0], views[0])
    train.set_epoch(1)
    assert not torch.equal(train[1][0][0], views[0])
    evaluation = VideoClipDataset(index.records[:4], EvalClipTransform(24, 28), frames=4, stride=2, num_clips=3, train=False)
    clips, _, idx = evaluation[0]
    assert clips.shape == (3, 3, 4, 24, 24) and idx == 0


def test_bad_videos_are_substituted_logged_and_counted(demo_root, tmp_path):
    """One line per (stage, outcome, video), without the path repeated in the reason; training and
    evaluation are told apart by the stage column; the fraction trips at the first video past it."""
    from videosce.data.datasets import read_ucf101

    good = read_ucf101(demo_root / "videos", demo_root / "splits", 1, "train").records[:3]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    records = [VideoRecord(broken, 0)] + list(good)
    log = tmp_path / "bad_videos.txt"
    train = VideoClipDataset(records, TrainClipTransform(24), frames=4, stride=2, num_clips=2, train=True, bad_video_log=log,
                             max_bad_fraction=0.25)
    views, _, used = train[0]
    assert used != 0 and len(views) == 2
    train.set_epoch(1)
    train[0]  # the same video fails again: still one line
    evaluation = VideoClipDataset(records, EvalClipTransform(24, 28), frames=4, stride=2, num_clips=2, train=False, bad_video_log=log)
    clips, _, idx = evaluation[0]
    assert idx == -1 and clips.shape == (2, 3, 4, 24, 24)
    reason = "cannot open: Invalid data found when processing input"
    assert log.read_text().splitlines() == [f"train\tskipped\t{broken}\t{reason}", f"eval\tskipped\t{broken}\t{reason}"]
    assert bad_videos(log, "train") == bad_videos(log, "eval") == {str(broken)}
    strict = VideoClipDataset(records, TrainClipTransform(24), frames=4, stride=2, num_clips=2, train=True, bad_video_log=log,
                              max_bad_fraction=0.2)  # 1 of 4 > 0.2
    with pytest.raises(TooManyBadVideos, match=rf"^1 of 4 videos unreadable at stage 'train', more than data.max_bad_fraction=0.2: they are listed in {log}"):
        strict[0]


def test_time_based_clips(demo_root, monkeypatch):
    """clip_duration > 0: `frames` frames spread over the frames of a window of that many seconds (16 fps demo: 1 s = 16 frames)."""
    from videosce.data import datasets
    from videosce.data.datasets import read_ucf101

    record = read_ucf101(demo_root / "videos", demo_root / "splits", 1, "train").records[0]
    requested = []
    real_decode = datasets.decode_frames
    monkeypatch.setattr(datasets, "decode_frames", lambda path, idx, **kw: requested.append(list(idx)) or real_decode(path, idx, **kw))
    evaluation = VideoClipDataset([record], EvalClipTransform(24, 28), frames=4, stride=1, num_clips=2, train=False, clip_duration=0.5)
    clips, _, _ = evaluation[0]
    assert clips.shape == (2, 3, 4, 24, 24)
    # two uniform windows over a 16-frame (1 s) video: [0, 0.5) holds frames 0..7, [0.5, 1) frames 8..15;
    # 4 frames spread first to last over each window's 8: k * 7 // 3 = 0, 2, 4, 7
    assert requested == [[0, 2, 4, 7, 8, 10, 12, 15]]


def test_hanging_decode_is_cut_and_counted(demo_root, tmp_path, monkeypatch):
    """A decode that never returns becomes a bad video after decode_timeout_s; training substitutes another."""
    import time

    from videosce.data import decoders
    from videosce.data.datasets import read_ucf101

    records = read_ucf101(demo_root / "videos", demo_root / "splits", 1, "train").records[:3]
    pyav = decoders.get_decoder("pyav")
    real_decode = pyav.decode
    monkeypatch.setattr(pyav, "decode", lambda path, idx: time.sleep(30) if path == records[0].path else real_decode(path, idx))
    log = tmp_path / "bad_videos.txt"
    train = VideoClipDataset(records, TrainClipTransform(24), frames=4, stride=2, num_clips=2, train=True, bad_video_log=log, decode_timeout_s=0.5)
    start = time.perf_counter()
    _, _, used = train[0]
    assert used != 0 and time.perf_counter() - start < 10
    assert "timed out" in log.read_text()


def test_loader_options_keep_gpu_decoding_in_the_main_process(monkeypatch, caplog):
    """DALI with a GPU returns CUDA clips: no forked workers (CUDA does not survive fork), no pinning."""
    from videosce.data.builders import loader_options

    cuda = torch.device("cuda")
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(8)), raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert loader_options("dali", 4, torch.device("cpu")) == {"num_workers": 4, "pin_memory": False}  # DALI's CPU operators
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert loader_options("pyav", 4, cuda) == {"num_workers": 4, "pin_memory": True}
    with caplog.at_level(logging.INFO):
        assert loader_options("dali", 4, cuda) == {"num_workers": 0, "pin_memory": False}
    assert "data.num_workers=4 ignored" in caplog.text


def test_temporal_difference_at_the_native_rate_before_colour_ops(monkeypatch):
    """A synthetic 25 fps video whose frame i is uniformly grey at v_i = 20 + round(i^2 / 30): the
    native frame-to-frame change grows with i. With the temporal difference and solarize both drawn
    (p = 1), each output frame of a 2.56 s / 8-frame clip must be, computed here in float64 from the
    reference's definition: e = round((g(v_i) - g(v_{i+1}) + 255) / 2) for clip frame i (the last
    frame: g(v_{last-1}) - g(v_last)), g = truncated grey, then solarize (e / 255 >= 0.5 -> 1 - e / 255),
    then (x - 0.45) / 0.225. Tolerance 1e-4 (float32); one grey level is 0.017 after normalisation.
    """
    from videosce.data import datasets

    values = np.array([20 + round(i * i / 30) for i in range(80)])
    video = torch.from_numpy(values.astype(np.uint8))[:, None, None, None].expand(80, 12, 16, 3).contiguous()
    monkeypatch.setattr(datasets, "frame_timestamps", lambda path: np.arange(80) / 25)
    monkeypatch.setattr(datasets, "decode_frames", lambda path, idx, **kw: video[list(idx)])
    monkeypatch.setattr(datasets, "probe_video", lambda path, **kw: VideoInfo(80, 25.0, 12, 16, 3.2))
    transform = TrainClipTransform(8, scale=(1.0, 1.0), ratio=(4 / 3, 4 / 3), jitter_p=0.0, grayscale_p=0.0, flip_p=0.0,
                                   solarize_p=1.0, temporal_difference_p=1.0)
    dataset = VideoClipDataset([VideoRecord(Path("synthetic.mp4"), 0)], transform, frames=8, stride=1, num_clips=2, train=True,
                               seed=3, clip_duration=2.56)
    views, _, _ = dataset[0]
    clips = dataset.sample_clips(0, np.random.default_rng([3, 0, 0]))  # the positions the item drew (tested in test_samplers)

    def grey(v):
        return np.floor(0.2989 * v + 0.587 * v + 0.114 * v)

    def normalised(x):
        return (x - 0.45) / 0.225

    for view, clip in zip(views, clips):
        partners = [i + 1 if i < clip[-1] else i for i in clip]
        firsts = [i if i < clip[-1] else i - 1 for i in clip]
        e = np.round((grey(values[firsts]) - grey(values[partners]) + 255) / 2) / 255
        expected = normalised(np.where(e >= 0.5, 1 - e, e))
        got = view.mean(dim=(0, 2, 3)).double().numpy()  # every pixel of a frame is equal
        assert torch.allclose(view, view[:, :, :1, :1].expand_as(view))
        assert np.abs(got - expected).max() < 1e-4
        # the oracle rejects the nearest wrong answers: differencing the subsampled frames, and the
        # old order (solarize on the frames, then the difference of subsampled frames in [0, 1])
        subsampled = np.round((grey(values[clip[:-1]]) - grey(values[clip[1:]]) + 255) / 2) / 255
        assert np.abs(normalised(np.append(subsampled, subsampled[-1])) - expected).max() > 0.1
        solar = np.where(values[clip] / 255 >= 0.5, 1 - values[clip] / 255, values[clip] / 255)
        old = (np.append(solar[1:] - solar[:-1], solar[-1] - solar[-2]) + 1) / 2
        assert np.abs(normalised(old) - expected).max() > 0.1


def test_num_workers_is_a_ceiling_capped_by_the_cpus(monkeypatch, caplog):
    """A recipe's data.num_workers=8 on a 2-CPU machine runs 2 workers (said once); fewer are kept."""
    from videosce.data import builders

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    builders._note_worker_cap.cache_clear()
    with caplog.at_level(logging.INFO, logger="videosce.data.builders"):
        assert [builders.usable_workers(n) for n in (0, 1, 2, 8, 8)] == [0, 1, 2, 2, 2]
        assert builders.loader_options("pyav", 8, torch.device("cpu"))["num_workers"] == 2
    assert [r.getMessage() for r in caplog.records] == ["data.num_workers=8 capped at 2: the CPUs this process may use"]
