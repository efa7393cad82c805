"""`surgvlp-fast convert-downstream NAME ROOT OUT`: a set's native release -> the interchange format.

    surgvlp-fast convert-downstream cholec80 /data/cholec80 /data/field --videos 49-80
    surgvlp-fast convert-downstream bernbypass70 /data/MultiBypass140 /data/field --split test/1fps_0
    surgvlp-fast convert-downstream grasp /data/GraSP /data/field --split test --prompts phases=my_phases.txt

Writes `OUT/<NAME>.json` and `OUT/<NAME>_frames.txt` (frames stay where they are: the JSON's
`info.frames_root` is ROOT) and prints what was converted and what was skipped, with counts.
"""
import sys

from .converter_options import add_converter_options, converter_options
from .registry import CONVERTERS, get_converter


def add_arguments(parser):
    parser.add_argument("name", choices=sorted(CONVERTERS), help="the native set")
    parser.add_argument("root", metavar="ROOT", help="the set's native release folder")
    parser.add_argument("out", metavar="OUT", help="folder for <NAME>.json and <NAME>_frames.txt")
    add_converter_options(parser)


def run(args) -> int:
    try:
        options = converter_options(args.name, args)
        report = get_converter(args.name).convert(args.root, args.out, **options)
    except ValueError as err:   # a bad option, prompt file or data file: one line
        if args.debug:
            raise
        print(f"surgvlp-fast convert-downstream: {err}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0
