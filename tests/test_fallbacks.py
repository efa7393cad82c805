"""Every module with a native fast path has tests that run in pure-PyTorch mode: some test file of
tests/suites.py's FALLBACK list imports it (or its package, whose __init__ imports it), so
tools/quickstart.sh's second suite (`-m fallback`, SURGVLP_FAST_DISABLE_NATIVE=1) runs its fallback."""
import ast
from pathlib import Path

from suites import FALLBACK

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def modules_with_a_native_fast_path() -> set[str]:
    out = set()
    for path in (ROOT / "surgvlp_fast").rglob("*.py"):
        if path.name != "_native.py" and "_native import" in path.read_text():
            parts = path.relative_to(ROOT).with_suffix("").parts
            out.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return out


def test_every_native_fast_path_has_fallback_tests():
    fast_paths = modules_with_a_native_fast_path()
    assert {"surgvlp_fast.losses.fused", "surgvlp_fast.losses.softdtw", "surgvlp_fast.pretrain.augment",
            "surgvlp_fast.video.native_backend"} <= fast_paths
    covered = set()
    for entry in FALLBACK:
        covered |= imported_modules(ROOT / entry.split("::")[0])
    for package in {name.rsplit(".", 1)[0] for name in fast_paths} | fast_paths:   # a package covers what it imports
        init = ROOT / package.replace(".", "/") / "__init__.py"
        if package in covered and init.exists():
            covered |= imported_modules(init)
    missing = sorted(name for name in fast_paths if name not in covered)
    assert not missing, f"modules with a native fast path and no test in tests/suites.py's FALLBACK: {missing}"
