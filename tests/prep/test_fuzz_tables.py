"""The CSV / label readers on mutated files of the tiny synthetic world: validate-data reports every
problem with a file of the world (and a row where there is one) and never raises; the level datasets
either build or raise a DataFormatError naming the file. Lines dropped, doubled and cut, fields
emptied, bytes inserted (quotes, commas, NUL, invalid UTF-8), files cut short or emptied."""
import os
import random
import shutil

import pytest

from surgvlp_fast.errors import DataFormatError
from surgvlp_fast.prep.validate_data import validate_data
from surgvlp_fast.pretrain.datasets import dataset_for_level
from surgvlp_fast.pretrain.levels import LEVELS

JUNK = [b'"', b",", b"\x00", b"\xff\xfe", b"\n", b",,,", b"nan", b"-1e309", b"\r\n", b"\xe2\x80"]


def mutate(data: bytes, rng: random.Random) -> bytes:
    lines = data.split(b"\n")
    kind = rng.randrange(7)
    if kind == 0 and len(lines) > 1:
        del lines[rng.randrange(len(lines))]
    elif kind == 1:
        i = rng.randrange(len(lines))
        lines.insert(i, lines[i])
    elif kind == 2:
        i = rng.randrange(len(lines))
        lines[i] = lines[i][: rng.randrange(len(lines[i]) + 1)]
    elif kind == 3:
        i = rng.randrange(len(lines))
        fields = lines[i].split(b",")
        fields[rng.randrange(len(fields))] = rng.choice([b"", b"x", b"1e400", b"-3"])
        lines[i] = b",".join(fields)
    elif kind == 4:
        out = bytearray(data)
        for _ in range(rng.randint(1, 5)):
            out[rng.randrange(len(out) + 1):0] = rng.choice(JUNK)
        return bytes(out)
    elif kind == 5:
        return data[: rng.randrange(len(data) + 1)]
    else:
        return b""
    return b"\n".join(lines)


@pytest.mark.slow
def test_mutated_tables_give_problems_naming_the_file(tiny_world, tmp_path):
    source, _ = tiny_world
    root = tmp_path / "world"
    shutil.copytree(source, root, ignore=shutil.ignore_patterns("*.npz", "*.png"))
    tables = sorted(str(p) for ext in ("*.csv", "*.txt") for p in root.rglob(ext))
    assert len(tables) > 20
    rng = random.Random(0)
    for trial in range(400):
        path = rng.choice(tables)
        original = open(path, "rb").read()
        with open(path, "wb") as f:
            f.write(mutate(original, rng))
        try:
            for problem in validate_data(str(root)):
                assert str(problem.path).startswith(str(root)), (path, problem)
                assert problem.row is None or problem.row >= 1, (path, problem)
            for level, info in LEVELS.items():
                try:
                    dataset_for_level(level, str(root), split=os.path.join(str(root), info.split))
                except DataFormatError as err:
                    assert err.path.startswith(str(root)) and err.path in str(err), (path, err)
        finally:
            with open(path, "wb") as f:
                f.write(original)
