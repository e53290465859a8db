"""Split readers on files written in the exact official formats, and the clip dataset."""
import logging
import os

import pytest
import torch

from videosce.data.datasets import (SplitFormatError, VideoClipDataset, VideoRecord, bad_video_count, check_bad_fraction,
                                    read_hmdb51, read_kinetics, read_ucf101)
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
    assert len(index.records) == 1 and "1 of 2 listed videos are missing" in caplog.text


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
    assert "1 of 3 listed videos not found" in caplog.text
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
    from videosce.data.datasets import read_ucf101

    good = read_ucf101(demo_root / "videos", demo_root / "splits", 1, "train").records[:3]
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"not a video at all")
    records = [VideoRecord(broken, 0)] + list(good)
    log = tmp_path / "bad_videos.txt"
    train = VideoClipDataset(records, TrainClipTransform(24), frames=4, stride=2, num_clips=2, train=True, bad_video_log=log)
    views, _, used = train[0]
    assert used != 0 and len(views) == 2
    assert bad_video_count(log) == 1 and str(broken) in log.read_text()
    evaluation = VideoClipDataset(records, EvalClipTransform(24, 28), frames=4, stride=2, num_clips=2, train=False, bad_video_log=log)
    clips, _, idx = evaluation[0]
    assert idx == -1 and clips.shape == (2, 3, 4, 24, 24)
    check_bad_fraction(log, total=4, max_fraction=0.25)
    with pytest.raises(RuntimeError, match="max_bad_fraction"):
        check_bad_fraction(log, total=4, max_fraction=0.1)


def test_time_based_clips(demo_root, monkeypatch):
    """clip_duration > 0: `frames` frames spread over that many seconds (16 fps demo: 1 s = 16 frames)."""
    from videosce.data import datasets
    from videosce.data.datasets import read_ucf101

    record = read_ucf101(demo_root / "videos", demo_root / "splits", 1, "train").records[0]
    requested = []
    real_decode = datasets.decode_frames
    monkeypatch.setattr(datasets, "decode_frames", lambda path, idx, **kw: requested.append(list(idx)) or real_decode(path, idx, **kw))
    evaluation = VideoClipDataset([record], EvalClipTransform(24, 28), frames=4, stride=1, num_clips=2, train=False, clip_duration=0.5)
    clips, _, _ = evaluation[0]
    assert clips.shape == (2, 3, 4, 24, 24)
    # two uniform windows over a 16-frame (1 s) video: starts 0 s and 0.5 s, 4 frames 0.125 s apart
    assert requested == [[0, 2, 4, 6, 8, 10, 12, 14]]


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


def test_num_workers_is_a_ceiling_capped_by_the_cpus(monkeypatch, caplog):
    """A recipe's data.num_workers=8 on a 2-CPU machine runs 2 workers (said once); fewer are kept."""
    from videosce.data import builders

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 1}, raising=False)
    builders._note_worker_cap.cache_clear()
    with caplog.at_level(logging.INFO, logger="videosce.data.builders"):
        assert [builders.usable_workers(n) for n in (0, 1, 2, 8, 8)] == [0, 1, 2, 2, 2]
        assert builders.loader_options("pyav", 8, torch.device("cpu"))["num_workers"] == 2
    assert [r.getMessage() for r in caplog.records] == ["data.num_workers=8 capped at 2: the CPUs this process may use"]
