"""`surgvlp-fast validate-data DIR`: check a data folder against the on-disk contract (reference.md §2).

Every problem is reported with its file (and row); the exit status is 1 when there are errors.
Checks: the folders; every split (column, named videos exist, their text CSVs exist); every text
CSV (columns, times, start <= end, non-empty text, keystep order); the downstream sets (CSV rows,
frame files, labels, CholecT50 label files). With --deep every video is also opened and the text
times are compared with its duration.
"""
import os
from dataclasses import dataclass

from ..errors import DataFormatError
from ..evaluation.downstream.converter_options import add_converter_options, converter_options
from ..evaluation.downstream.registry import DATASETS, check_native
from ..pretrain.levels import LEVELS, split_sources
from ..pretrain.text_sources import TEXT_FOLDERS, read_split, read_timed_csv, video_id_of

TIME_TOLERANCE_S = 1.0


@dataclass(frozen=True)
class Problem:
    severity: str  # "error" | "warning"
    path: str
    row: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.path}, row {self.row}" if self.row is not None else self.path
        return f"{self.severity.upper()}: {where}: {self.message}"


def _from(err: DataFormatError, severity="error") -> Problem:
    return Problem(severity, err.path, err.row, err.problem)


def validate_data(root: str, deep: bool = False, downstream: bool = True) -> list[Problem]:
    """All problems of the data folder `root`, errors and warnings."""
    problems: list[Problem] = []
    if not os.path.isdir(root):
        return [Problem("error", root, None, "not a folder")]
    videos_dir = os.path.join(root, "videos")
    for folder in ["videos", "splits", *TEXT_FOLDERS.values()]:
        if not os.path.isdir(os.path.join(root, folder)):
            problems.append(Problem("error", os.path.join(root, folder), None, "folder missing"))

    used: dict[str, set] = {}
    splits_dir = os.path.join(root, "splits")
    if os.path.isdir(splits_dir):
        for name in sorted(os.listdir(splits_dir)):
            if not name.endswith(".csv"):
                continue
            errors: list[DataFormatError] = []
            videos = read_split(os.path.join(splits_dir, name), videos_dir, errors)
            problems += map(_from, errors)
            sources = split_sources().get(name[:-4], LEVELS["clip"].sources)
            for video in videos:
                used.setdefault(video_id_of(video), set()).update(sources)
        if not any(n.endswith(".csv") for n in os.listdir(splits_dir)):
            problems.append(Problem("error", splits_dir, None, "no split CSV"))

    tables = {}
    for source, folder in TEXT_FOLDERS.items():
        path = os.path.join(root, folder)
        if not os.path.isdir(path):
            continue
        for name in sorted(os.listdir(path)):
            if not name.endswith(".csv"):
                continue
            errors = []
            file = os.path.join(path, name)
            table = read_timed_csv(file, source, problems=errors)
            problems += map(_from, errors)
            tables[(source, name[:-4])] = table
            if source == "keystep" and (table.start[1:] < table.start[:-1]).any():
                problems.append(Problem("error", file, None, "keystep rows are not in temporal order"))
            if source == "abstract" and not errors and len(table) == 0:
                problems.append(Problem("error", file, None, "no abstract row"))
            if source in ("aws", "whisper", "keystep") and not errors and len(table) == 0:
                problems.append(Problem("warning", file, None, "no rows"))

    for video_id, sources in sorted(used.items()):
        for source in sorted(sources):
            if (source, video_id) not in tables:
                file = os.path.join(root, TEXT_FOLDERS[source], f"{video_id}.csv")
                problems.append(Problem("error", file, None, "missing text CSV for a video of a split"))

    if deep and os.path.isdir(videos_dir):
        problems += _check_videos(root, videos_dir, tables)
    if downstream and os.path.isdir(os.path.join(root, "downstream_datasets")):
        problems += _check_downstream(root)
    return problems


def _check_videos(root, videos_dir, tables) -> list[Problem]:
    from ..video import VideoError, open_video

    problems = []
    for name in sorted(os.listdir(videos_dir)):
        path = os.path.join(videos_dir, name)
        if name.startswith(".") or os.path.isdir(path) or name.endswith((".npz", ".json")):
            continue
        try:
            with open_video(path) as reader:
                duration = reader.metadata.duration
        except VideoError as err:
            problems.append(Problem("error", path, None, err.reason))
            continue
        for source in TEXT_FOLDERS:
            table = tables.get((source, video_id_of(name)))
            if table is None or len(table) == 0:
                continue
            late = (table.start > duration + TIME_TOLERANCE_S).nonzero()[0]
            if len(late):
                problems.append(Problem("error", table.path, None,
                                        f"{len(late)} row(s) start after the video's end ({duration:.2f} s), "
                                        f"first: text row {late[0] + 1}"))
    return problems


def _check_downstream(root) -> list[Problem]:
    problems = []
    for dataset in DATASETS.values():
        for video in dataset.available_videos(root):
            try:
                dataset.read_video(root, video)
            except DataFormatError as err:
                problems.append(_from(err))
    return problems


def add_arguments(parser):
    parser.add_argument("root", metavar="DIR", help="the data folder (videos/, *_texts/, splits/, ...)")
    parser.add_argument("--deep", action="store_true", help="also open every video and compare text times with its duration")
    parser.add_argument("--no-downstream", action="store_true", help="skip downstream_datasets/")
    parser.add_argument("--downstream", metavar="NAME", default=None,
                        help="instead: check DIR as the native release of the downstream set NAME (as "
                             "convert-downstream names it) by converting it to the interchange format; "
                             "--videos, --split, --tail-tolerance and --prompts as convert-downstream takes them")
    add_converter_options(parser)


def run(args) -> int:
    if args.downstream:
        return _run_native(args.downstream, args.root, args)
    problems = validate_data(args.root, deep=args.deep, downstream=not args.no_downstream)
    for problem in problems:
        print(problem)
    errors = sum(p.severity == "error" for p in problems)
    print(f"{args.root}: {errors} error(s), {len(problems) - errors} warning(s)")
    return 1 if errors else 0


def _run_native(name: str, root: str, args) -> int:
    """`--downstream NAME`: convert DIR (in a temporary folder) with the converter's options, and read
    every task back."""
    try:
        report, tasks = check_native(name, root, **converter_options(name, args))
    except ValueError as err:  # DataFormatError included: the file and row at fault
        print(f"ERROR: {err}")
        print(f"{root}: 1 error(s)")
        return 1
    print(report.lines()[0].split(" -> ")[0])
    for task, read in tasks.items():
        skipped = "".join(f", {n} {why}" for why, n in read["skipped"].items())
        print(f"  {task}: {read['videos']} video(s), {read['frames']} labelled frame(s){skipped}")
    for why, n in report.skipped.items():
        print(f"  skipped in conversion: {n} {why}")
    print(f"{root}: 0 error(s)")
    return 0
