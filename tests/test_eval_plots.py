import matplotlib.image as mpimg
import numpy as np
import pytest
import torch

from helpers import run_tool
from videosce.eval.plots import RetrievalExample, plot_confusion, plot_retrieval


def is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_curves_tool_draws_every_csv_of_a_run(tmp_path, capsys):
    (tmp_path / "run0").mkdir()
    rows = "\n".join(f"{s},{s // 10},{2.0 / s},{0.1},{s / 2},0.01,0.1" for s in range(1, 40))
    (tmp_path / "train.csv").write_text("step,epoch,loss,lr,acc,data_time,step_time\n" + rows + "\n")
    (tmp_path / "run0" / "finetune.csv").write_text("step,epoch,loss,lr,acc,data_time,step_time\n" + rows + "\n")
    run_tool("plot_curves", "--run", tmp_path)
    assert is_png(tmp_path / "train_curves.png") and is_png(tmp_path / "run0" / "finetune_curves.png")
    assert "train_curves.png" in capsys.readouterr().out


def test_one_row_curve_shows_its_point_and_the_run_name(tmp_path, monkeypatch):
    """A run that logged once: the point is drawn (pixels of the line colour C0 in the PNG), the title names the run."""
    from matplotlib.figure import Figure

    from videosce.eval.plots import plot_training_curves

    titles, save = [], Figure.savefig

    def recording_savefig(fig, *args, **kwargs):
        titles.append(fig._suptitle.get_text())
        return save(fig, *args, **kwargs)

    monkeypatch.setattr(Figure, "savefig", recording_savefig)
    run = tmp_path / "demo_sce"
    run.mkdir()
    (run / "train.csv").write_text("step,epoch,loss,lr,data_time,step_time\n5,0,6.2,0.01,0.1,0.3\n")
    image = mpimg.imread(plot_training_curves(run / "train.csv", run / "train_curves.png"))[..., :3]
    line_colour = np.array([0x1F, 0x77, 0xB4]) / 255
    assert (np.abs(image - line_colour).max(axis=-1) < 0.05).sum() > 20
    assert titles == ["demo_sce: train (1 logged steps)"]


def test_plot_curves_tool_without_logs_is_a_one_line_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        run_tool("plot_curves", "--run", tmp_path)
    assert info.value.code == 2 and capsys.readouterr().err.strip().startswith("error: no CSV logs")


def test_retrieval_and_confusion_pictures(tmp_path):
    frame = np.zeros((32, 40, 3), dtype=np.uint8)
    examples = [RetrievalExample(frame, "A", [(frame, "A", True), (frame, "B", False)]), RetrievalExample(frame, "B", [(frame, "B", True)])]
    assert is_png(plot_retrieval(examples, tmp_path / "r.png", "retrieval, mode=vcop"))
    assert is_png(plot_confusion(torch.tensor([[3, 1], [0, 4]]), ["A", "B"], tmp_path / "c.png", "finetune"))
