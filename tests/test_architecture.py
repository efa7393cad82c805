"""docs/architecture.md stays true: every path of its layout and every `surgvlp_fast.*` name it
writes exists, the parts import each other only downward (its floors), and no modules import
each other in a circle (imports inside functions count: a lazy import hides a cycle, it does not
remove it)."""
import ast
import importlib
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "surgvlp_fast"
DOC = (ROOT / "docs" / "architecture.md").read_text()

# part -> floor (docs/architecture.md, "Floors"): a part imports only parts on lower floors.
# A part is a top-level module or folder of surgvlp_fast; "" is the package's own __init__.py.
FLOORS = {
    "": 0, "config": 0, "_native": 0, "resources": 0, "allocator": 0,
    "backends": 1,
    "video": 2, "models": 2, "losses": 2, "collectives": 2,
    "errors": 3,
    "pretrain": 4, "zeroshot": 4,
    "evaluation": 5, "inference": 5,
    "training": 6,
    "hub": 7, "export": 7, "testing": 7, "doctor": 7, "synthetic": 7, "prep": 7,
    "demo": 8,
    "cli": 9,
}
COMMAND = "cli"   # a part's cli.py or *_cli.py is a command: on the top floor, imported by no module


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


def modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def imports(name: str, path: Path, known) -> set[str]:
    """The modules of surgvlp_fast that module `name` imports, anywhere in its text."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            targets = [f"{module}.{a.name}" if f"{module}.{a.name}" in known or a.name == "_C" else module
                       for a in node.names]
        else:
            continue
        for target in targets:
            if not target.startswith("surgvlp_fast") or target == "surgvlp_fast._C":
                continue   # the compiled core: below everything
            while target not in known and "." in target:
                target = target.rpartition(".")[0]
            if target != name:
                found.add(target)
    return found


GRAPH = {name: imports(name, path, modules()) for name, path in modules().items()}


def part_of(module: str) -> str:
    parts = module.split(".")
    if parts[-1] == COMMAND or parts[-1].endswith("_" + COMMAND):
        return COMMAND
    return parts[1] if len(parts) > 1 else ""


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


def test_every_part_has_a_floor_in_the_doc():
    parts = {part_of(m) for m in GRAPH} - {COMMAND}
    assert parts == set(FLOORS) - {COMMAND}, f"parts without a floor or floors without a part: {parts ^ set(FLOORS)}"
    for part in parts - {""}:
        assert f"`{part}`" in DOC.split("## Floors", 1)[1].split("\n## ", 1)[0], f"docs/architecture.md: no floor for {part}"


def test_parts_import_only_downward():
    upward = []
    for module, targets in GRAPH.items():
        for target in targets:
            source, dest = part_of(module), part_of(target)
            if dest == COMMAND:
                upward.append(f"{module} imports the command {target}")
            elif source != dest and FLOORS[dest] >= FLOORS[source]:
                upward.append(f"{module} (floor {FLOORS[source]}) imports {target} (floor {FLOORS[dest]})")
    assert not upward, "\n".join(upward)


def test_config_imports_no_component():
    assert GRAPH["surgvlp_fast.config"] == set()


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other in a circle (Tarjan's strongly connected components)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in graph:
        if module not in index:
            visit(module)
    return found


def test_no_modules_import_each_other_in_a_circle():
    assert not circles(GRAPH), f"modules importing each other in a circle: {circles(GRAPH)}"


def test_the_reader_sees_every_import_and_the_circles(tmp_path):
    """Relative, absolute and function-level imports are read; a circle through three modules is found."""
    path = tmp_path / "m.py"
    path.write_text("from . import b\nfrom ..video import open_video\ndef f():\n    import surgvlp_fast.training.trainer\n")
    known = {"surgvlp_fast.pretrain.m", "surgvlp_fast.pretrain.b", "surgvlp_fast.video", "surgvlp_fast.training.trainer"}
    assert imports("surgvlp_fast.pretrain.m", path, known) == {"surgvlp_fast.pretrain.b", "surgvlp_fast.video",
                                                               "surgvlp_fast.training.trainer"}
    assert circles({"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}) == [["a", "b", "c"]]
    assert circles({"a": {"b"}, "b": set()}) == []
