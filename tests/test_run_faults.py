"""Faults around a run: a second run on a live output_dir, a disk that fills while a checkpoint is written."""
import errno
import fcntl
import os
import signal
import subprocess
import sys

import pytest
import torch

from helpers import ROOT, demo_data, run_tool
from videosce.engine.checkpoint import load_checkpoint
from videosce.engine.lock import LOCK_FILE

DEMO = ROOT / "configs" / "pretrain" / "demo_sce.yaml"
SHORT = ["trainer.batch_size=8", "trainer.max_epochs=2", "method.queue_size=32", "trainer.progress_bar=false", "trainer.threads=1",
         "eval.retrieval_at_end=false"]
HOLD = "import sys, time; from videosce.engine.lock import lock_output_dir; lock_output_dir(sys.argv[1]); print('held', flush=True); time.sleep(600)"


@pytest.mark.parametrize("job", ["pretrain", "retrieval"])
def test_a_live_output_dir_is_refused_and_a_killed_holder_frees_it(demo_root, tmp_path, capsys, job):
    """Another process holds the directory: the job exits 2 with one line naming the directory and
    the holder's pid, before it writes anything. SIGKILL the holder: the kernel drops its lock."""
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(out)], stdout=subprocess.PIPE, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)})
    try:
        assert holder.stdout.readline().strip() == "held"
        args = ["--cfg", DEMO, *SHORT] if job == "pretrain" else ["--cfg", ROOT / "configs" / "retrieval" / "demo.yaml", "checkpoint=random"]
        with pytest.raises(SystemExit) as exit_info:
            run_tool(job, *args, f"output_dir={out}", *demo_data(demo_root))
        assert exit_info.value.code == 2
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1
        assert f"output_dir {out.resolve()} is in use by another run (pid {holder.pid})" in err
        assert sorted(p.name for p in out.iterdir()) == [LOCK_FILE]  # nothing written: no config.yaml, no log
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    with open(out / LOCK_FILE, "r+") as handle:  # not stale: free at once
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)


def test_disk_full_while_saving_keeps_the_last_good_checkpoint(demo_root, tmp_path, monkeypatch, capsys):
    """From the third save on, the disk is full (ENOSPC after part of the file is written): the run
    stops with one line (exit 2) that names the file, the cause and resume=auto; last.ckpt is the
    step-4 checkpoint, whole; no temporary file is left; resume=auto then finishes the run."""
    out = tmp_path / "run"
    real_save, saves = torch.save, []

    def disk_fills(obj, handle, *args, **kwargs):
        saves.append(1)
        if len(saves) < 3:
            return real_save(obj, handle, *args, **kwargs)
        handle.write(b"PK\x03\x04 partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    pretrain = ["--cfg", DEMO, *SHORT, f"output_dir={out}", *demo_data(demo_root), "trainer.save_every_n_steps=2"]
    with monkeypatch.context() as patch:
        patch.setattr(torch, "save", disk_fills)
        with pytest.raises(SystemExit) as exit_info:
            run_tool("pretrain", *pretrain)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    last = out / "checkpoints" / "last.ckpt"
    assert err == [f"error: could not write checkpoint {last}: No space left on device; the last good one, {last}, is intact. "
                   "Free space on that disk (or choose another output_dir) and rerun with resume=auto"]
    assert load_checkpoint(last)["global_step"] == 4
    assert not list((out / "checkpoints").glob("*.tmp")) and not list((out / "checkpoints").glob(".*.tmp"))
    run_tool("pretrain", *pretrain, "resume=auto")
    assert load_checkpoint(last)["global_step"] == 12
