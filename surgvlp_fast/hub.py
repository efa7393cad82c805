"""`surgvlp_fast.load`: a model, its tokenizer and its preprocessing from a local file.

    model, tokenizer, preprocess = surgvlp_fast.load("PeskaVLP.zip", text_model="models/Bio_ClinicalBERT")

Accepted: a released `.zip` (holding `<Name>.pth`) or `.pth` of SurgVLP, HecVL or PeskaVLP, a bare
released name (looked up, locally only, where the official package keeps its downloads), or one of
our training checkpoints (its `config.yaml` beside it). Nothing is ever downloaded.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class ReleasedModel:
    """One of the three released models (reference.md §1.2): same architecture, different weights."""
    name: str
    config: str                       # the training config describing the model (configs/)
    sha256: str | None = None         # of `<name>.pth`; unknown until checked against a real download

    @property
    def files(self) -> tuple[str, str]:
        return f"{self.name}.zip", f"{self.name}.pth"


RELEASED = {m.name: m for m in (ReleasedModel("SurgVLP", "surgvlp.yaml"), ReleasedModel("HecVL", "hecvl.yaml"),
                                ReleasedModel("PeskaVLP", "peskavlp.yaml"))}
OFFICIAL_CACHE = os.path.join("~", ".cache", "surgvlp")   # where the official `surgvlp.load` downloads to


def available_models() -> list[str]:
    return list(RELEASED)


def config_file(name: str) -> str:
    """A shipped config (`peskavlp.yaml`, `demo.yaml`, ...): the installed package's copy, else the
    source tree's `configs/`."""
    for folder in (Path(__file__).resolve().parent / "configs", Path(__file__).resolve().parents[1] / "configs"):
        if (folder / name).is_file():
            return str(folder / name)
    raise FileNotFoundError(f"no shipped config {name!r} (looked in surgvlp_fast/configs and configs/)")


def released_model_of(path: str) -> ReleasedModel | None:
    """The registry entry a released file is named after (`PeskaVLP.zip`, `peskavlp.pth`), or None."""
    stem = os.path.basename(path).split(".")[0].lower()
    return next((m for m in RELEASED.values() if m.name.lower() == stem), None)


def resolve_checkpoint(name_or_path: str) -> str:
    """A path to an existing file; a released name is looked for in the official package's cache."""
    if os.path.exists(name_or_path):
        return name_or_path
    if name_or_path in RELEASED:
        folder = os.path.expanduser(OFFICIAL_CACHE)
        for file in RELEASED[name_or_path].files[::-1]:   # the unzipped .pth first
            if os.path.isfile(os.path.join(folder, file)):
                return os.path.join(folder, file)
        raise FileNotFoundError(f"{name_or_path}: no {' or '.join(RELEASED[name_or_path].files)} in {folder}; "
                                f"pass the path of the downloaded file (nothing is downloaded here)")
    raise FileNotFoundError(f"{name_or_path}: no such file (released names: {', '.join(RELEASED)})")


def config_for(checkpoint: str, config: str | None = None) -> str:
    """The config describing `checkpoint`: `config` when given, else config.yaml beside our checkpoint
    (or its parent folder), else the registry's for a released file."""
    if config:
        return config
    for folder in (os.path.dirname(os.path.abspath(checkpoint)),
                   os.path.dirname(os.path.dirname(os.path.abspath(checkpoint)))):
        candidate = os.path.join(folder, "config.yaml")
        if os.path.exists(candidate):
            return candidate
    released = released_model_of(checkpoint)
    if released is not None:
        return config_file(released.config)
    raise FileNotFoundError(f"no config.yaml beside {checkpoint}: pass a config (e.g. configs/peskavlp.yaml "
                            f"for a released file)")


def sha256_of_pth(path: str) -> str:
    """sha256 of the `.pth` (inside a released `.zip` too), for comparing with the registry."""
    from surgvlp_fast.models.released import _released_member

    member = _released_member(path)
    digest = hashlib.sha256()
    with (member if member is not None else open(path, "rb")) as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_model(checkpoint: str, config_path: str, overrides=(), device="cpu", echo=print):
    """(model in eval mode, tokenizer, config) from a checkpoint and the config describing it."""
    from surgvlp_fast.training.config import load_config
    from surgvlp_fast.models import build_model, load_released, load_tokenizer

    cfg = load_config(config_path, list(overrides))
    tokenizer = load_tokenizer(cfg.model.text.tokenizer_path())
    # the checkpoint replaces every weight: no need to read ImageNet weights first
    model_cfg = dataclasses.replace(cfg.model, init_checkpoint="",
                                    vision=dataclasses.replace(cfg.model.vision, weights="random"))
    model = build_model(model_cfg, tokenizer)
    report = load_released(model, checkpoint, strict=True)
    released = released_model_of(checkpoint)
    if released is not None and released.sha256 and sha256_of_pth(checkpoint) != released.sha256:
        echo(f"warning: {checkpoint}: not the published {released.name} weights (sha256 differs)")
    if echo:
        echo(f"loaded {checkpoint}: {report}")
    return model.to(device).eval(), tokenizer, cfg


def load(name_or_path: str, *, text_model: str | None = None, config: str | None = None, device="cpu",
         overrides=(), verbose: bool = False):
    """(model in eval mode, tokenizer, preprocess) for a released `.zip`/`.pth`, a released name or
    one of our checkpoints. `text_model`: the local Hugging Face folder of the BERT (the released
    models need Bio_ClinicalBERT's tokenizer and config); `config`: the training config (default: the
    checkpoint's own, or the registry's); `overrides`: config overrides (`model.text.path=DIR`).
    `preprocess` is the official evaluation preprocessing: a PIL image or a path -> (3, 224, 224)."""
    from surgvlp_fast.models.preprocess import OfficialPreprocess

    checkpoint = resolve_checkpoint(name_or_path)
    overrides = list(overrides)
    if text_model is not None:
        overrides.append(f"model.text.path={text_model}")
    model, tokenizer, _ = load_model(checkpoint, config_for(checkpoint, config), overrides, device,
                                     echo=print if verbose else None)
    return model, tokenizer, OfficialPreprocess()
