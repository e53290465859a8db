"""tools/pretrain.py with checkpoints written slowly, in chunks, so a test can SIGKILL it mid-write.

Run as `python tests/slow_save_pretrain.py <pretrain overrides>`; each save takes about 0.3 s.
"""
import io
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from videosce.jobs.pretrain import main  # noqa: E402

CHUNKS = 15
real_save = torch.save


def slow_save(obj, handle, *args, **kwargs):
    buffer = io.BytesIO()
    real_save(obj, buffer, *args, **kwargs)
    data = buffer.getvalue()
    step = -(-len(data) // CHUNKS)
    for start in range(0, len(data), step):
        handle.write(data[start : start + step])
        handle.flush()
        time.sleep(0.02)


if __name__ == "__main__":
    torch.save = slow_save
    main(sys.argv[1:])
