"""The converters' command-line options (`convert-downstream`, `validate-data --downstream`): the video
list, the split, the tail tolerance and prompt files, checked against what the named converter takes."""
from ..options import parse_video_list
from .convert import PromptLines
from .registry import CONVERTERS, get_converter


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


def converter_options(name: str, args) -> dict:
    """Converter `name`'s keyword options given on the command line; one it does not take is a ValueError."""
    converter = get_converter(name)
    given = {"videos": parse_video_list(args.videos) if args.videos else None, "split": args.split,
             "tail_tolerance": args.tail_tolerance}
    options = {k: v for k, v in given.items() if v is not None}
    unknown = [k for k in options if k not in converter.options]
    if unknown:
        raise ValueError(f"{name} takes no --{unknown[0].replace('_', '-')} "
                         f"(its options: {', '.join(converter.options) or 'none'})")
    prompts = {}
    for pair in args.prompts:
        task, eq, path = pair.partition("=")
        if not eq or not task or not path:
            raise ValueError(f"--prompts takes TASK=FILE, got {pair!r}")
        if task not in converter.tasks:
            raise ValueError(f"--prompts {pair}: {name} has no task {task!r} (its tasks: "
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
