"""`surgvlp-fast eval`: evaluate a checkpoint (ours or a released .zip / .pth) on frozen protocols,
or on the field's ten-column zero-shot table (`--suite field`, field_suite.py).

    surgvlp-fast eval --checkpoint runs/peskavlp/checkpoints/step000012000.pt --data-root data --protocol cholec80 --out results/
    surgvlp-fast eval --checkpoint PeskaVLP.zip model.text.path=/models/Bio_ClinicalBERT \
        --data-root data --protocol cholec80 --protocol autolaparo --protocol cholect50 --out results/
    surgvlp-fast eval PeskaVLP.zip --suite field data model.text.path=/models/Bio_ClinicalBERT --out results/

CHECKPOINT and DATA_ROOT may be given as the first two positionals instead of --checkpoint / --data-root.
"""
from __future__ import annotations

import os
import re
import sys
import time

from .options import EvalOptions
from .registry import FIELD_PROTOCOLS, PROTOCOLS, get_protocol
from .runner import evaluate, evaluate_and_report, failure_message, summary_table, write_report

SUITES = ("field",)
OVERRIDE = re.compile(r"^[A-Za-z_][\w.\-]*=")   # key.sub=value (a path has a / or no = before its first =)


def add_arguments(parser):
    parser.add_argument("--checkpoint", default=None,
                        help="our checkpoint or a released SurgVLP/HecVL/PeskaVLP .zip or .pth (or the first positional)")
    parser.add_argument("--config", default=None,
                        help="training config describing the model (default: config.yaml beside the checkpoint, "
                             "or the shipped one of a released file)")
    parser.add_argument("--data-root", default=None,
                        help="data folder holding downstream_datasets/ and, for the field suite, field/ "
                             "(or the second positional)")
    parser.add_argument("--protocol", action="append", default=[], choices=sorted([*PROTOCOLS, *FIELD_PROTOCOLS]),
                        help="repeat for several; with --suite, protocols run beside the suite's columns")
    parser.add_argument("--suite", choices=SUITES, default=None,
                        help="field: the field's ten-column zero-shot table on every set present under "
                             "DATA_ROOT/field (absent sets are listed, never failed)")
    parser.add_argument("--field-averaging", choices=("video", "pooled"), default=None,
                        help="--suite field: the Acc / F1 cells averaged per video then over videos (default, "
                             "SurgCLIP's) or pooled over all frames")
    parser.add_argument("--field-f1", choices=("f1", "f1_all"), default=None,
                        help="--suite field: macro-F1 over every class (f1_all, default, SurgCLIP's) or over the "
                             "classes in the labels or predictions (f1, CAMMA's)")
    parser.add_argument("--model-name", default=None,
                        help="--suite field: the model's name in the table (default: the checkpoint's file name)")
    parser.add_argument("--out", default="eval-results", help="folder for results.json, the tables and the pictures "
                                                              "(default: eval-results)")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 (default: cuda when available)")
    parser.add_argument("-o", "--option", action="append", default=[], metavar="KEY=VALUE",
                        help="evaluation option, e.g. -o batch_size=200 -o videos=49-55 -o cholec80.prompts=FILE")
    parser.add_argument("inputs", nargs="*", metavar="CHECKPOINT DATA_ROOT key.sub=value",
                        help="the checkpoint and the data folder (unless given by option), then config overrides, "
                             "e.g. model.text.path=DIR")


def resolve_inputs(args) -> None:
    """Fill args.checkpoint, args.data_root and args.overrides from the positionals and check that the
    command names what to run; a mistake is one ValueError line."""
    paths = [item for item in args.inputs if not OVERRIDE.match(item)]
    args.overrides = [item for item in args.inputs if OVERRIDE.match(item)]
    for attr, label in (("checkpoint", "--checkpoint"), ("data_root", "--data-root")):
        if getattr(args, attr) is None:
            if not paths:
                raise ValueError(f"missing the {label.lstrip('-').replace('-', ' ')} ({label} or a positional)")
            setattr(args, attr, paths.pop(0))
    if paths:
        raise ValueError(f"unexpected argument(s) {' '.join(paths)} (config overrides look like key.sub=value)")
    if not args.suite and not args.protocol:
        raise ValueError("name what to run: --protocol NAME (repeat for several) or --suite field")
    if not args.suite:
        for flag, value in (("--field-averaging", args.field_averaging), ("--field-f1", args.field_f1),
                            ("--model-name", args.model_name)):
            if value is not None:
                raise ValueError(f"{flag} applies to --suite field only")
    elif not os.path.isdir(args.data_root):    # every column would be "absent": a mistyped folder, not no data
        raise ValueError(f"data root {args.data_root}: no such folder")


def suite_protocols(args) -> list[str]:
    """Every protocol this command may run (its options are checked against this list)."""
    if not args.suite:
        return list(args.protocol)
    from .field_suite import suite_protocols as field

    return list(dict.fromkeys([*field(), *args.protocol]))


def eval_overrides(args, protocols: list[str] | None = None) -> list[str]:
    """`--protocol` and `-o KEY=VALUE` as config overrides of the `eval` section, so they are checked
    (unknown key with the closest one named, typed values, per-protocol keys) by the same code as a
    training config's, before any model is built. The config's own evaluation options do not apply."""
    from surgvlp_fast.config import ConfigError

    for pair in args.option:
        if "=" not in pair or not pair.partition("=")[0].strip():
            raise ConfigError(f"option {pair!r} must look like key=value")
    names = args.protocol if protocols is None else protocols
    return ["eval.options={}", f"eval.protocols=[{', '.join(names)}]",
            *(f"eval.options.{pair.strip()}" for pair in args.option)]


def run(args) -> int:
    import torch

    try:
        resolve_inputs(args)
    except ValueError as err:
        print(f"surgvlp-fast eval: {err}", file=sys.stderr)
        return 1
    device = args.device if args.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    started = time.perf_counter()
    echo = lambda line: print(line, flush=True)   # noqa: E731
    # the config (with every option) is checked before anything is built
    from surgvlp_fast.hub import config_for, load_model

    model, tokenizer, cfg = load_model(args.checkpoint, config_for(args.checkpoint, args.config),
                                       [*args.overrides, *eval_overrides(args, suite_protocols(args))], device,
                                       echo=echo)
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
    if args.suite == "field":
        results, failures = run_field(args, model, tokenizer, options_of, device, extra, echo)
    else:
        # results.json is rewritten as each protocol finishes; a failing one does not stop the others
        results, failures = evaluate_and_report(args.protocol, model, tokenizer, args.data_root, options_of, device,
                                                args.out, extra, echo=echo)
        print(summary_table(results, title=f"Evaluation of {args.checkpoint}"))
    written = write_report(results, args.out, extra={**extra, "failures": failures,
                                                     "seconds": time.perf_counter() - started})
    for what, path in written.items():
        print(f"  {what}: {path}")
    for name, message in failures.items():
        print(f"surgvlp-fast eval: {name} failed: {message}", file=sys.stderr)
    sys.stdout.flush()
    return 1 if failures else 0


def run_field(args, model, tokenizer, options_of, device, extra, echo) -> tuple[dict, dict]:
    """`--suite field`: every present column, then the extra `--protocol`s; results.json rewritten after
    each; the ten-column tables written and printed; the absent sets listed (never a failure)."""
    from .field_suite import run_field_suite, unread_field_files, write_field_tables

    failures: dict[str, str] = {}
    state = {"absent": []}
    unread = unread_field_files(args.data_root)

    def save(results):
        write_report(results, args.out, extra={**extra, "suite": "field", "absent": state["absent"],
                                                 "failures": failures, "not_read": unread})

    results, absent = run_field_suite(model, tokenizer, args.data_root, options_of, device, failures=failures,
                                      echo=echo, on_result=save)
    state["absent"] = absent
    for name in args.protocol:
        if name in results or name in failures:
            continue
        echo(f"[eval] {name} ...")
        try:
            results[name] = evaluate(name, model, tokenizer, args.data_root, options_of(name), device)
        except Exception as err:   # noqa: BLE001 - reported, counted, and the exit status says so
            failures[name] = failure_message(err)
            echo(f"[eval] {name} FAILED: {failures[name]}")
        save(results)
    if results:
        print(summary_table(results, title=f"Evaluation of {args.checkpoint}"))
    echo(f"[eval] absent (no data under {args.data_root}): {', '.join(absent)}" if absent else
         "[eval] every column of the field's table has data")
    if unread:
        echo(f"[eval] not read (no column reads these files of {os.path.join(args.data_root, 'field')}): "
             f"{', '.join(unread)}")
    averaging, f1 = args.field_averaging or "video", args.field_f1 or "f1_all"
    name = args.model_name or os.path.basename(args.checkpoint.rstrip("/"))
    tables = write_field_tables(args.out, name, results, absent, averaging, f1, failures=failures, unread=unread)
    with open(tables["markdown"], encoding="utf-8") as f:
        print(f.read())
    for what, path in tables.items():
        print(f"  {what}: {path}")
    extra["absent"], extra["suite"], extra["not_read"] = absent, "field", unread
    return results, failures
