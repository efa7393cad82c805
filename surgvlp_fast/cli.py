"""The `surgvlp-fast` command. Each subcommand lives in its own module, imported only when used.

A subcommand module defines `add_arguments(parser)` and `run(args) -> int | None`.
"""
import argparse
import importlib
import sys

SUBCOMMANDS = {
    # name: (module, one-line help)
    "doctor": ("surgvlp_fast.doctor", "report what was built and found (kernels, Triton, GPU, sampler, FFmpeg)"),
    "demo": ("surgvlp_fast.demo", "generate the synthetic world, pretrain, evaluate zero-shot, draw pictures"),
    "train": ("surgvlp_fast.training.cli", "pretrain SurgVLP / HecVL / PeskaVLP from a config"),
    "eval": ("surgvlp_fast.evaluation.cli", "evaluate a checkpoint (zero-shot, retrieval, linear probe)"),
    "make-synthetic": ("surgvlp_fast.synthetic.cli", "write a synthetic surgical world in the data layout"),
    "validate-data": ("surgvlp_fast.tools.validate_data", "check a data folder against the on-disk contract"),
    "extract-frames": ("surgvlp_fast.tools.extract_frames", "extract 1 fps frames with the CAMMA naming"),
    "make-splits": ("surgvlp_fast.tools.make_splits", "write split CSVs for a data folder"),
    "prepare-videos": ("surgvlp_fast.tools.prepare_videos", "re-encode lectures into the training cache"),
}


def build_parser(only: str | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="surgvlp-fast", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in SUBCOMMANDS.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == only:
            importlib.import_module(module_name).add_arguments(p)
    return parser


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    command = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(command if command in SUBCOMMANDS else None)
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(SUBCOMMANDS[args.command][0])
    try:
        code = module.run(args)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
