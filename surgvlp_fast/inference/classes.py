"""The classes a video is classified into: a packaged set (cholec80, autolaparo) or a user's text file.

A class file holds one class per line: `Name: prompt one | prompt two` (several prompts are averaged
as the protocols do); a line without `Name:` is named after its first prompt. Blank lines and lines
starting with `#` are skipped.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Sequence

from .. import resources
from ..errors import DataFormatError

PACKAGED = tuple(resources.PROMPT_FILES)
_SPLIT = re.compile(r"\s*\|\s*")


@dataclass(frozen=True)
class ClassSet:
    """Class names and each class's prompts (a list, averaged), with where they came from."""

    names: tuple[str, ...]
    prompts: tuple[tuple[str, ...], ...]
    source: str

    def __len__(self) -> int:
        return len(self.names)


def packaged(name: str) -> ClassSet:
    """A packaged set: the phase names and our class prompts (resources)."""
    prompts = tuple((p,) for p in resources.class_prompts(name))
    return ClassSet(tuple(resources.phase_names(name)), prompts, name)


def read_class_file(path: str) -> ClassSet:
    """A user's class file (see the module docstring); DataFormatError names the file and line."""
    if os.path.isdir(path):
        raise IsADirectoryError(f"{path}: is a folder, expected a class file (one class per line)")
    names, prompts = [], []
    with open(path, encoding="utf-8") as f:
        for row, line in enumerate(f, start=1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, colon, rest = line.partition(":")
            texts = [p.strip() for p in _SPLIT.split(rest if colon else line) if p.strip()]
            if not texts or (colon and not name.strip()):
                raise DataFormatError(path, "expected 'Name: prompt | prompt' (a class name and a prompt)", row)
            name = name.strip() if colon else texts[0]
            if name in names:
                raise DataFormatError(path, f"class {name!r} given twice", row)
            names.append(name)
            prompts.append(tuple(texts))
    if len(names) < 2:
        raise DataFormatError(path, f"{len(names)} class(es): at least 2 are needed to classify")
    return ClassSet(tuple(names), tuple(prompts), os.path.abspath(path))


def class_set(spec: str | ClassSet | Sequence) -> ClassSet:
    """"cholec80" | "autolaparo" | a class file | a ClassSet | a {name: prompt(s)} mapping | a list of
    prompts (each class named after its prompt)."""
    if isinstance(spec, ClassSet):
        return spec
    if isinstance(spec, (str, os.PathLike)):
        spec = os.fspath(spec)
        if spec in PACKAGED:
            return packaged(spec)
        if not os.path.exists(spec):
            raise FileNotFoundError(f"{spec}: no such class file (packaged sets: {', '.join(PACKAGED)})")
        return read_class_file(spec)
    items = list(spec.items()) if isinstance(spec, dict) else [(p if isinstance(p, str) else p[0], p) for p in spec]
    groups = tuple((p,) if isinstance(p, str) else tuple(p) for _, p in items)
    if len(items) < 2 or any(not g for g in groups):
        raise ValueError("classes: at least 2 classes, each with at least one prompt")
    return ClassSet(tuple(str(n) for n, _ in items), groups, "python")
