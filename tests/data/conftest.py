"""A tiny synthetic world shared by the data tests, made once per session through the CLI (~3 s)."""
import json

import pytest

from surgvlp_fast import cli


@pytest.fixture(scope="session")
def tiny_world(tmp_path_factory):
    root = tmp_path_factory.mktemp("world") / "data"
    assert cli.main(["make-synthetic", str(root), "--preset", "tiny", "--seed", "0"]) == 0
    return root, json.loads((root / "world.json").read_text())
