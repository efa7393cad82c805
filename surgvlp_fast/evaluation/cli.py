"""`surgvlp-fast eval`: evaluate a checkpoint (ours or a released .zip / .pth) on frozen protocols.

    surgvlp-fast eval --checkpoint runs/peskavlp/checkpoints/step000012000.pt --data-root data --protocol cholec80 --out results/
    surgvlp-fast eval --checkpoint PeskaVLP.zip model.text.path=/models/Bio_ClinicalBERT \
        --data-root data --protocol cholec80 --protocol autolaparo --protocol cholect50 --out results/
"""
from __future__ import annotations

import os
import sys
import time

from .options import EvalOptions
from .registry import PROTOCOLS, get_protocol
from .runner import evaluate_and_report, summary_table, write_report


def add_arguments(parser):
    parser.add_argument("--checkpoint", required=True, help="our checkpoint or a released SurgVLP/HecVL/PeskaVLP .zip or .pth")
    parser.add_argument("--config", default=None,
                        help="training config describing the model (default: config.yaml beside the checkpoint, "
                             "or the shipped one of a released file)")
    parser.add_argument("--data-root", required=True, help="data folder holding downstream_datasets/")
    parser.add_argument("--protocol", action="append", choices=sorted(PROTOCOLS), required=True,
                        help="repeat for several")
    parser.add_argument("--out", required=True, help="folder for results.json and the pictures")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 (default: cuda when available)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="evaluation option, e.g. -o batch_size=200 -o videos=49-55 -o cholec80.prompts=FILE")
    parser.add_argument("overrides", nargs="*", metavar="key.sub=value", help="config overrides, e.g. model.text.path=DIR")


def eval_overrides(args) -> list[str]:
    """`--protocol` and `-o KEY=VALUE` as config overrides of the `eval` section, so they are checked
    (unknown key with the closest one named, typed values, per-protocol keys) by the same code as a
    training config's, before any model is built. The config's own evaluation options do not apply."""
    from surgvlp_fast.config import ConfigError

    for pair in args.option:
        if "=" not in pair or not pair.partition("=")[0].strip():
            raise ConfigError(f"option {pair!r} must look like key=value")
    return ["eval.options={}", f"eval.protocols=[{', '.join(args.protocol)}]",
            *(f"eval.options.{pair.strip()}" for pair in args.option)]


def run(args) -> int:
    import torch

    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    # the config (with every option) is checked before anything is built
    from surgvlp_fast.hub import config_for, load_model

    model, tokenizer, cfg = load_model(args.checkpoint, config_for(args.checkpoint, args.config),
                                       [*args.overrides, *eval_overrides(args)], device,
                                       echo=lambda line: print(line, flush=True))
    options = cfg.eval.options

    def options_of(name):
        protocol_options = EvalOptions.from_mapping(options, name)
        longest = cfg.model.text.max_positions
        if not protocol_options.max_length and get_protocol(name).max_length > longest:
            print(f"[eval] {name}: prompts cut to the text model's {longest} positions", flush=True)
            protocol_options.max_length = longest
        return protocol_options

    extra = {"checkpoint": os.path.abspath(args.checkpoint), "data_root": os.path.abspath(args.data_root),
             "options": options}
    # results.json is rewritten as each protocol finishes; a failing one does not stop the others
    results, failures = evaluate_and_report(args.protocol, model, tokenizer, args.data_root, options_of, device,
                                            args.out, extra, echo=lambda line: print(line, flush=True))
    print(summary_table(results, title=f"Evaluation of {args.checkpoint}"))
    written = write_report(results, args.out, extra={**extra, "failures": failures,
                                                     "seconds": time.perf_counter() - started})
    for what, path in written.items():
        print(f"  {what}: {path}")
    for name, message in failures.items():
        print(f"surgvlp-fast eval: {name} failed: {message}", file=sys.stderr)
    sys.stdout.flush()
    return 1 if failures else 0
