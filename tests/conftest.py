import pytest


@pytest.fixture(scope="session")
def demo_root(tmp_path_factory):
    """A small generated demo dataset (UCF101 layout), shared by the tests that decode real files."""
    from videosce.data.demo import make_demo_dataset

    root = tmp_path_factory.mktemp("demo")
    make_demo_dataset(root, videos_per_class=10, num_frames=16, size=32, progress=False)
    return root
