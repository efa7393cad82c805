"""The chat-completions side of augment-texts: one request (its messages and where its input came
from), the HTTP client with retries and backoff, the on-disk answer cache, fetching every answer
(cache first, then concurrent requests) and the dry run's listing of what would be sent."""
import hashlib
import http.client
import json
import os
import socket
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from dataclasses import dataclass

from ...config import ConfigError

RETRY_STATUS = (429, 500, 502, 503, 504)


class LLMError(ConfigError):
    """The chat-completions server cannot be used as configured (key, model, URL, no answer)."""


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
        tmp = f"{path}.{uuid.uuid4().hex}.tmp"     # unique across the threads, processes and hosts of shards
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump({"model": model, "task": request.task, "input": request.input,
                       "messages": request.messages, "answer": answer}, f)
        os.replace(tmp, path)

    def remove_leftovers(self) -> int:
        """Remove the temporary files of writers that were killed; only while no other run writes here."""
        removed = 0
        for folder, _, names in os.walk(self.folder):
            for name in names:
                if name.endswith(".tmp"):
                    os.unlink(os.path.join(folder, name))
                    removed += 1
        return removed


def fetch_answers(requests: list[Request], client: ChatClient, cache: AnswerCache, parse, concurrency: int = 4,
                  progress: bool = True) -> dict:
    """key -> parse(request, answer) for every request (cached ones first, then the others over HTTP).
    `parse` raises on an answer not in the asked form; such an answer is not cached."""
    from tqdm import tqdm

    model = client.model
    answers, todo = {}, {}
    for request in requests:
        key = request.key(model)
        if key in answers or key in todo:
            continue
        cached = cache.get(key)
        if cached is not None:
            answers[key] = parse(request, cached)
        else:
            todo[key] = request

    def ask(key: str, request: Request):
        answer = client.complete(request.messages)
        parsed = parse(request, answer)  # a malformed answer is not cached: a rerun asks again
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


def print_unsent(requests: list[Request], model: str, cache: AnswerCache, out) -> dict:
    """The dry run: print the prompts of the requests not in the cache (each once) to `out`; send nothing."""
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
