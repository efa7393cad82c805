"""The one config mechanism: typed dataclasses read from YAML, dotted overrides, checks at load.

A config file is plain data (YAML). `read_config(schema, path, overrides)` reads it, applies
overrides such as `optim.lr=1e-4` and builds the dataclass `schema`, checking every key and type:
an unknown key is an error that names the closest valid key. Then every section checks itself:
a dataclass may define `check(self, where)` (where = its dotted key, "" for the top), called
innermost first; it raises ConfigError naming the key and may normalise its values in place.

The sections live with the components that read them (models/config.py, pretrain/config.py,
evaluation/config.py, training/config.py, which composes a training run's config); this module
imports none of them.
"""
import dataclasses
import difflib
import types
import typing
from typing import Literal

import yaml

Scalar = bool | int | float | str


class ConfigError(ValueError):
    """A config key or value is invalid; the message names the key."""


def closest_key(key: str, valid) -> str:
    """" (did you mean 'x'?)" for the valid key closest to `key`, or ""."""
    match = difflib.get_close_matches(key, list(valid), n=1, cutoff=0.0)
    return f" (did you mean {match[0]!r}?)" if match else ""


def convert(value, hint, where: str):
    """Check `value` against the type `hint` and return it (ints and numeric strings become floats)."""
    origin = typing.get_origin(hint)
    if origin is Literal:
        if value not in typing.get_args(hint):
            raise ConfigError(f"{where}: {value!r} is not one of {list(typing.get_args(hint))}")
        return value
    if origin is types.UnionType:
        if type(value) in typing.get_args(hint):   # Scalar: keep the YAML value's own type ('49' stays '49')
            return value
        for option in typing.get_args(hint):
            try:
                return convert(value, option, where)
            except ConfigError:
                continue
        raise ConfigError(f"{where}: {value!r} is not a {hint}")
    if origin is list:
        if not isinstance(value, list):
            raise ConfigError(f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(hint)
        return [convert(v, item, f"{where}[{i}]") for i, v in enumerate(value)]
    if origin is dict:
        if not isinstance(value, dict):
            raise ConfigError(f"{where}: expected a mapping, got {value!r}")
        _, item = typing.get_args(hint)
        return {str(k): convert(v, item, f"{where}.{k}") for k, v in value.items()}
    if hint is float and not isinstance(value, bool):
        if isinstance(value, int):
            return float(value)
        if isinstance(value, str):   # YAML reads 1e-4 (no dot) as a string
            try:
                return float(value)
            except ValueError:
                pass
    if isinstance(value, bool) and hint is not bool or not isinstance(value, hint):
        raise ConfigError(f"{where}: expected {hint.__name__}, got {value!r}")
    return value


def from_dict(cls, data, where: str = "", base=None):
    """Build dataclass `cls` from a mapping over `base` (default: cls()), checking every key and value."""
    base = cls() if base is None else base
    if data is None:
        return base
    if not isinstance(data, dict):
        raise ConfigError(f"{where or 'config'}: expected a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)]
    updates = {}
    for key, value in data.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in names:
            raise ConfigError(f"unknown key {name!r}{closest_key(str(key), names)}")
        hint = hints[key]
        if dataclasses.is_dataclass(hint):
            updates[key] = from_dict(hint, value, name, getattr(base, key))
        elif typing.get_origin(hint) is dict and isinstance(value, dict):
            updates[key] = {**getattr(base, key), **convert(value, hint, name)}
        else:
            updates[key] = convert(value, hint, name)
    return dataclasses.replace(base, **updates)


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently)."""

    def construct_mapping(self, node, deep=False):
        seen = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                duplicate = key in seen
            except TypeError:   # unhashable key: let SafeLoader report it
                break
            if duplicate:
                raise ConfigError(f"{key_node.start_mark.name}, line {key_node.start_mark.line + 1}: "
                                  f"duplicate key {key!r}")
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def load_yaml(path: str):
    """Read a YAML file; a duplicate key is a ConfigError naming the file and line."""
    with open(path) as f:
        loader = _UniqueKeyLoader(f)
        loader.name = str(path)
        try:
            return loader.get_single_data()
        finally:
            loader.dispose()


def to_dict(cfg) -> dict:
    return dataclasses.asdict(cfg)


def apply_override(data: dict, override: str) -> None:
    """`a.b.c=value` (value parsed as YAML: 1e-4, true, [1, 2], text) into the nested dict `data`."""
    if "=" not in override:
        raise ConfigError(f"override {override!r} must look like key.sub=value")
    dotted, raw = override.split("=", 1)
    keys = dotted.strip().split(".")
    value = yaml.safe_load(raw) if raw.strip() else ""
    node = data
    for key in keys[:-1]:
        node = node.setdefault(key, {})
        if not isinstance(node, dict):
            raise ConfigError(f"override {override!r}: {key} is not a section")
    node[keys[-1]] = value


def option_value(value, hint, where: str):
    """`value` checked against an option's type: ints become floats for float options and
    strings for str options; a string is never parsed into a number."""
    if hint is str and isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if hint is float and isinstance(value, str):
        raise ConfigError(f"{where}: expected float, got {value!r}")
    return convert(value, hint, where)


def parse_shard(text: str | None) -> tuple[int, int]:
    """`--shard I/N` (0 <= I < N) -> (I, N); None (no --shard) -> (0, 1)."""
    if text is None:
        return 0, 1
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise ConfigError(f"--shard takes I/N, e.g. 0/8; got {text!r}") from None
    if not 0 <= i < n:
        raise ConfigError(f"--shard I/N needs 0 <= I < N (shards are numbered from 0); got {text!r}")
    return i, n


def check_sections(cfg, where: str = "") -> None:
    """Call `check(where)` of every section of `cfg`, innermost first, then of `cfg` itself."""
    for f in dataclasses.fields(cfg):
        value = getattr(cfg, f.name)
        if dataclasses.is_dataclass(value):
            check_sections(value, f"{where}.{f.name}" if where else f.name)
    if hasattr(cfg, "check"):
        cfg.check(where)


def read_config(schema, path: str | None, overrides=()):
    """Read a YAML config (or the defaults when `path` is None), apply overrides, build `schema`
    and check every section."""
    data = {}
    if path is not None:
        try:
            data = load_yaml(path) or {}
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{path}: the top level must be a mapping")
    for override in overrides:
        apply_override(data, override)
    try:
        cfg = from_dict(schema, data)
        check_sections(cfg)
        return cfg
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}" if path else str(e)) from None


def save_config(cfg, path: str) -> None:
    with open(path, "w") as f:
        yaml.safe_dump(to_dict(cfg), f, sort_keys=False)

