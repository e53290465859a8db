import pytest


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A small generated demo dataset (UCF101 layout), shared by the tests that decode real files."""
    from videosce.data.demo import make_demo_dataset

    root = tmp_path_factory.mktemp("demo")
    make_demo_dataset(root, videos_per_class=10, num_frames=16, size=32, progress=False)
    return root


@pytest.fixture(autouse=True)
def restore_torch_globals():
    """Runs in this process may switch on deterministic algorithms or set the thread count
    (trainer.deterministic / trainer.threads, as the demo config does): undo it after each test."""
    import torch

    deterministic, threads = torch.are_deterministic_algorithms_enabled(), torch.get_num_threads()
    yield
    torch.use_deterministic_algorithms(deterministic)
    torch.set_num_threads(threads)
