"""The `surgvlp-fast` command. Each subcommand lives in its own module, imported only when used.

A subcommand module defines `add_arguments(parser)` and `run(args) -> int | None`. Every
subcommand parses the same way: options and positionals (CONFIG, `key=value` overrides) in any
order (`parse_intermixed_args`). An error the user causes (a bad path, option, config key or data
file) prints one line naming the command and exits 1; `--debug` (or SURGVLP_FAST_DEBUG=1) shows
the traceback instead.
"""
import argparse
import importlib
import os
import sys

SUBCOMMANDS = {
    # name: (module, one-line help)
    "doctor": ("surgvlp_fast.doctor", "report what was built and found (kernels, Triton, GPU, sampler, FFmpeg)"),
    "demo": ("surgvlp_fast.demo", "generate the synthetic world, pretrain, evaluate zero-shot, draw pictures"),
    "train": ("surgvlp_fast.training.cli", "pretrain SurgVLP / HecVL / PeskaVLP from a config"),
    "eval": ("surgvlp_fast.evaluation.cli", "evaluate a checkpoint (zero-shot, retrieval, linear probe; --suite field: the field's ten-column table)"),
    "export": ("surgvlp_fast.export", "write a checkpoint as the official SurgVLP state dict (.pth and .safetensors)"),
    "make-synthetic": ("surgvlp_fast.synthetic.cli", "write a synthetic surgical world in the data layout"),
    "validate-data": ("surgvlp_fast.prep.validate_data", "check a data folder against the on-disk contract"),
    "convert-downstream": ("surgvlp_fast.evaluation.downstream.convert_cli", "convert a downstream set's native release into the field's interchange format"),
    "extract-frames": ("surgvlp_fast.prep.extract_frames", "extract 1 fps frames with the CAMMA naming"),
    "make-splits": ("surgvlp_fast.prep.make_splits", "write split CSVs for a data folder"),
    "prepare-videos": ("surgvlp_fast.prep.prepare_videos", "re-encode lectures into the training cache"),
    "narrations": ("surgvlp_fast.prep.narrations.cli", "narration CSVs: import ASR outputs (AWS, Whisper, SRT, WebVTT) or transcribe videos"),
    "predict": ("surgvlp_fast.inference.predict_cli", "a phase timeline of your own videos (zero-shot or a linear-probe head): CSV, JSON, ribbon PNG"),
    "index": ("surgvlp_fast.inference.index_cli", "embed every second of a folder of videos into a searchable index"),
    "search": ("surgvlp_fast.inference.search_cli", "find the moments of an index's videos that match a text"),
    "augment-texts": ("surgvlp_fast.prep.augment_texts.command", "PeskaVLP knowledge augmentation of keysteps, abstracts and narrations with a chat-completions LLM"),
    "import-surglavi": ("surgvlp_fast.prep.importers.surglavi", "SurgLaVi-beta (surglavi_beta.db + your videos) into the data folder's layout"),
}


def user_errors() -> tuple:
    """Exceptions that mean "the input is wrong", reported as one line (imported lazily: cheap CLI)."""
    from surgvlp_fast.config import ConfigError
    from surgvlp_fast.errors import DataFormatError
    from surgvlp_fast.video.errors import VideoError

    return ConfigError, DataFormatError, VideoError, FileNotFoundError, NotADirectoryError, IsADirectoryError, PermissionError


def overview_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="surgvlp-fast", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (_, help_text) in SUBCOMMANDS.items():
        sub.add_parser(name, help=help_text, description=help_text)
    return parser


def command_parser(name: str) -> argparse.ArgumentParser:
    help_text = SUBCOMMANDS[name][1]
    parser = argparse.ArgumentParser(prog=f"surgvlp-fast {name}", description=help_text)
    importlib.import_module(SUBCOMMANDS[name][0]).add_arguments(parser)
    parser.add_argument("--debug", action="store_true", help="show the Python traceback of an error")
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0] not in SUBCOMMANDS:
        parser = overview_parser()
        if argv and argv[0] not in ("-h", "--help"):
            parser.error(f"unknown command {argv[0]!r}; choose one of {', '.join(SUBCOMMANDS)}")
        parser.print_help()
        return 0 if argv else 2
    name = argv[0]
    args = command_parser(name).parse_intermixed_args(argv[1:])
    args.command = name
    module = importlib.import_module(SUBCOMMANDS[name][0])
    try:
        code = module.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except user_errors() as e:
        if args.debug or os.environ.get("SURGVLP_FAST_DEBUG") == "1":
            raise
        print(f"surgvlp-fast {name}: {e}", file=sys.stderr)
        return 1
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
