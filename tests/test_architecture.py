"""docs/architecture.md stays true: every path of its layout and every `surgvlp_fast.*` name it
writes exists, and the parts import each other only in the direction it states."""
import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = (ROOT / "docs" / "architecture.md").read_text()

# part -> the parts it may import (docs/architecture.md, "Imports run one way")
ALLOWED = {
    "video": {"_native"},
    "models": set(),
    "losses": {"_native", "backends"},
    "pretrain": {"_native", "video", "models", "errors", "config"},
    "evaluation": {"models", "video", "errors", "config", "pretrain", "collectives",
                   "hub"},   # hub: the eval command's loader
    "training": {"pretrain", "losses", "models", "video", "errors", "config", "evaluation", "collectives"},
}


def layout_paths():
    block = DOC.split("```\n", 2)[1]
    stack = []
    for line in block.splitlines():
        token = line.strip().split(" ")[0]
        if not (token.endswith("/") or re.search(r"\.\w+$", token)):
            continue
        depth = (len(line) - len(line.lstrip())) // 2
        stack = stack[:depth] + [token]
        yield "".join(stack)


def test_every_layout_path_exists():
    paths = list(layout_paths())
    assert len(paths) > 30
    missing = [p for p in paths if not (ROOT / p).exists()]
    assert not missing, f"docs/architecture.md names paths that do not exist: {missing}"


def test_every_surgvlp_fast_name_exists():
    names = sorted(set(re.findall(r"`(surgvlp_fast(?:\.\w+)+)", DOC)))
    assert names
    for name in names:
        if name == "surgvlp_fast._C" or name.startswith("surgvlp_fast._C."):
            continue   # the compiled core: checked by the build tests
        parts = name.split(".")
        for cut in range(len(parts), 0, -1):
            try:
                obj = importlib.import_module(".".join(parts[:cut]))
                break
            except ModuleNotFoundError:
                continue
        for attr in parts[cut:]:
            assert hasattr(obj, attr), f"docs/architecture.md names {name}, which does not exist"
            obj = getattr(obj, attr)


def test_parts_import_in_the_stated_direction():
    for part, allowed in ALLOWED.items():
        for path in (ROOT / "surgvlp_fast" / part).rglob("*.py"):
            tree = ast.parse(path.read_text())
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    if node.level:   # relative: ..x from a part's top folder, ... from a subfolder
                        depth = len(path.relative_to(ROOT / "surgvlp_fast" / part).parts)
                        if node.level < depth + 1:
                            continue
                        target = (node.module or "").split(".")[0]
                    else:
                        target = (node.module or "").split(".")[1] if (node.module or "").startswith("surgvlp_fast.") else None
                    names = [target]
                elif isinstance(node, ast.Import):
                    names = [a.name.split(".")[1] for a in node.names if a.name.startswith("surgvlp_fast.")]
                else:
                    continue
                for target in names:
                    if target and target != part:
                        assert target in allowed, f"{path.relative_to(ROOT)} imports surgvlp_fast.{target}"
