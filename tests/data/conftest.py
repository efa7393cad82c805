"""A tiny synthetic world shared by the data tests (generated once per session, ~3 s)."""
import pytest

from surgvlp_fast.data.synthetic import make_world


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world") / "data"
    info = make_world(str(root), preset="tiny", seed=0)
    return root, info
