"""`surgvlp-fast convert-downstream NAME ROOT OUT`: a set's native release -> the interchange format.

    surgvlp-fast convert-downstream cholec80 /data/cholec80 /data/field --videos 49-80
    surgvlp-fast convert-downstream bernbypass70 /data/MultiBypass140 /data/field --split test/1fps_0
    surgvlp-fast convert-downstream grasp /data/GraSP /data/field --split test --prompts phases=my_phases.txt

Writes `OUT/<NAME>.json` and `OUT/<NAME>_frames.txt` (frames stay where they are: the JSON's
`info.frames_root` is ROOT) and prints what was converted and what was skipped, with counts.
"""
import sys

from ..options import parse_video_list
from .convert import PromptLines
from .registry import CONVERTERS, get_converter


def add_arguments(parser):
    parser.add_argument("name", choices=sorted(CONVERTERS), help="the native set")
    parser.add_argument("root", metavar="ROOT", help="the set's native release folder")
    parser.add_argument("out", metavar="OUT", help="folder for <NAME>.json and <NAME>_frames.txt")
    add_converter_options(parser)


def add_converter_options(parser):
    parser.add_argument("--videos", default="",
                        help=f"{', '.join(n for n, c in CONVERTERS.items() if 'videos' in c.options)}: video numbers, "
                             f"e.g. 49-80 (default: all present)")
    parser.add_argument("--split", default=None,
                        help="MultiBypass140: an official split pickle, e.g. test/1fps_0 (default: every video); "
                             "GraSP: the annotation split, e.g. test (default); SAR-RARP50: the split folder, e.g. test "
                             "(default: ROOT holds the video_* folders)")
    parser.add_argument("--tail-tolerance", type=int, default=None,
                        help="label rows past a video's last frame that are skipped (and counted) before it is an error")
    parser.add_argument("--prompts", action="append", default=[], metavar="TASK=FILE",
                        help="a task's class prompts (one line per class), e.g. phases=FILE; repeat per task")


def converter_options(args) -> dict:
    """The converter keyword options given on the command line; one it does not take is a ValueError."""
    converter = get_converter(args.name)
    given = {"videos": parse_video_list(args.videos) if args.videos else None, "split": args.split,
             "tail_tolerance": args.tail_tolerance}
    options = {k: v for k, v in given.items() if v is not None}
    unknown = [k for k in options if k not in converter.options]
    if unknown:
        raise ValueError(f"{args.name} takes no --{unknown[0].replace('_', '-')} "
                         f"(its options: {', '.join(converter.options) or 'none'})")
    prompts = {}
    for pair in args.prompts:
        task, eq, path = pair.partition("=")
        if not eq or not task or not path:
            raise ValueError(f"--prompts takes TASK=FILE, got {pair!r}")
        if task not in converter.tasks:
            raise ValueError(f"--prompts {pair}: {args.name} has no task {task!r} (its tasks: "
                             f"{', '.join(converter.tasks)})")
        prompts[task] = path
    if prompts:
        options["prompts"] = {task: _lines(path) for task, path in prompts.items()}
    return options


def _lines(path: str) -> PromptLines:
    """A prompt file's non-empty lines; a missing, unreadable or empty file is a ValueError naming it."""
    try:
        with open(path, encoding="utf-8") as f:
            lines = [line.strip() for line in f if line.strip()]
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) else err
        raise ValueError(f"{path}: cannot read the prompt file ({reason})") from None
    if not lines:
        raise ValueError(f"{path}: the prompt file is empty (one line per class)")
    return PromptLines(lines, path)


def run(args) -> int:
    try:
        options = converter_options(args)
        report = get_converter(args.name).convert(args.root, args.out, **options)
    except ValueError as err:   # a bad option, prompt file or data file: one line
        if args.debug:
            raise
        print(f"surgvlp-fast convert-downstream: {err}", file=sys.stderr)
        return 1
    print("\n".join(report.lines()))
    return 0
