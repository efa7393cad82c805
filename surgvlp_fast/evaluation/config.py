"""The `eval` section of a training config: which protocols run every N epochs, with which options."""
from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Literal

from surgvlp_fast.config import ConfigError, Scalar, closest_key, option_value

from .options import EvalOptions
from .registry import get_protocol


@dataclass
class EvalConfig:
    every_epochs: int = 5              # 0 = never (reference eval_epoch 5)
    protocols: list[str] = field(default_factory=list)
    data_root: str = ""                # "" = data.root
    # option -> value for every protocol, "protocol.option" -> value for one (EvalOptions' fields);
    # {protocol: {option: value}} (as an override writes it) is read as "protocol.option"
    options: dict[str, Scalar | dict[str, Scalar]] = field(default_factory=dict)
    on_error: Literal["continue", "stop"] = "continue"   # a failing protocol is logged and counted; stop: re-raised

    def check(self, where: str) -> None:
        """Known protocols; every option known, typed, for an evaluated protocol; options flattened."""
        for name in self.protocols:
            try:
                get_protocol(name)
            except ValueError as e:
                raise ConfigError(f"{where}.protocols: {e}") from None
        flat = {}
        for key, value in self.options.items():
            if isinstance(value, dict):
                flat.update({f"{key}.{k}": v for k, v in value.items()})
            else:
                flat[key] = value
        hints = typing.get_type_hints(EvalOptions)
        checked = {}
        for key, value in flat.items():
            protocol, dot, name = key.rpartition(".")
            at = f"{where}.options.{key}"
            if dot:
                try:
                    get_protocol(protocol)
                except ValueError as e:
                    raise ConfigError(f"{at}: {e}") from None
                if protocol not in self.protocols:
                    raise ConfigError(f"{at}: protocol {protocol} is not evaluated ({where}.protocols: "
                                      f"{self.protocols}); add it there or drop the option")
            if name not in hints:
                raise ConfigError(f"unknown key {at!r}{closest_key(name, hints)}")
            if isinstance(value, (dict, list)):
                raise ConfigError(f"{at}: expected a scalar, got {value!r}")
            checked[key] = option_value(value, hints[name], at)
        try:
            for protocol in self.protocols:
                EvalOptions.from_mapping(checked, protocol).resize_hw()
            EvalOptions.from_mapping(checked)
        except (TypeError, ValueError) as e:
            raise ConfigError(f"{where}.options: {e}") from None
        self.options = checked
