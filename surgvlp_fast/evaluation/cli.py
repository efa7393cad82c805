"""`surgvlp-fast eval`: evaluate a checkpoint (ours or a released .pth) on frozen protocols.

    surgvlp-fast eval --checkpoint runs/peskavlp/checkpoints/step000012000.pt --data-root data --protocol cholec80 --out results/
    surgvlp-fast eval --checkpoint PeskaVLP.pth --config configs/peskavlp.yaml model.text.path=/models/Bio_ClinicalBERT \
        --data-root data --protocol cholec80 --protocol autolaparo --protocol cholect50 --out results/
"""
from __future__ import annotations

import dataclasses
import os
import sys
import time

from .protocols import PROTOCOLS, get_protocol


def add_arguments(parser):
    parser.add_argument("--checkpoint", required=True, help="our checkpoint or a released SurgVLP/HecVL/PeskaVLP .pth")
    parser.add_argument("--config", default=None,
                        help="training config describing the model (default: config.yaml beside the checkpoint)")
    parser.add_argument("--data-root", required=True, help="data folder holding downstream_datasets/")
    parser.add_argument("--protocol", action="append", choices=sorted(PROTOCOLS), required=True,
                        help="repeat for several")
    parser.add_argument("--out", required=True, help="folder for results.json and the pictures")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 (default: cuda when available)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="evaluation option, e.g. -o batch_size=200 -o videos=49-55 -o cholec80.prompts=FILE")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides, e.g. model.text.path=DIR")


def _config_path(args) -> str:
    if args.config:
        return args.config
    for folder in (os.path.dirname(os.path.abspath(args.checkpoint)),
                   os.path.dirname(os.path.dirname(os.path.abspath(args.checkpoint)))):
        candidate = os.path.join(folder, "config.yaml")
        if os.path.exists(candidate):
            return candidate
    raise SystemExit(f"no config.yaml beside {args.checkpoint}: pass --config (e.g. configs/peskavlp.yaml for a released .pth)")


def load_model(checkpoint: str, config_path: str, overrides=(), device="cpu"):
    """(model in eval mode, tokenizer, config) from a checkpoint and the config describing it."""
    from surgvlp_fast.config import load_config, tokenizer_path
    from surgvlp_fast.models import build_model, load_released, load_tokenizer

    cfg = load_config(config_path, list(overrides))
    tokenizer = load_tokenizer(tokenizer_path(cfg))
    # the checkpoint replaces every weight: no need to read ImageNet weights first
    model_cfg = dataclasses.replace(cfg.model, init_checkpoint="",
                                    vision=dataclasses.replace(cfg.model.vision, weights="random"))
    model = build_model(model_cfg, tokenizer)
    report = load_released(model, checkpoint, strict=True)
    print(f"loaded {checkpoint}: {report}", flush=True)
    return model.to(device).eval(), tokenizer, cfg


def parse_options(pairs) -> dict:
    import yaml

    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"option {pair!r} must look like key=value")
        options[key.strip()] = yaml.safe_load(value) if value.strip() else ""
    return options


def run(args) -> int:
    import torch

    from .runner import EvalOptions, evaluate, summary_table, write_report

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    options = parse_options(args.option)
    started = time.perf_counter()
    model, tokenizer, cfg = load_model(args.checkpoint, _config_path(args), args.overrides, device)
    results = {}
    for name in args.protocol:
        print(f"[eval] {name} ...", flush=True)
        t0 = time.perf_counter()
        protocol_options = EvalOptions.from_mapping(options, name)
        longest = cfg.model.text.max_positions
        if not protocol_options.max_length and get_protocol(name).max_length > longest:
            print(f"[eval] {name}: prompts cut to the text model's {longest} positions", flush=True)
            protocol_options.max_length = longest
        results[name] = evaluate(name, model, tokenizer, args.data_root, protocol_options, device)
        print(f"[eval] {name} done in {time.perf_counter() - t0:.1f} s", flush=True)
    print(summary_table(results, title=f"Evaluation of {args.checkpoint}"))
    written = write_report(results, args.out, extra={"checkpoint": os.path.abspath(args.checkpoint),
                                                     "data_root": os.path.abspath(args.data_root),
                                                     "options": options, "seconds": time.perf_counter() - started})
    for what, path in written.items():
        print(f"  {what}: {path}")
    sys.stdout.flush()
    return 0
