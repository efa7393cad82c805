"""What each augment-texts task asks and how its answers are read: the prompt files (`prompts/`),
one request per input, the answer parsers (dictionary and summarizer: one paragraph; recipe: a
numbered list of pseudo-steps), the lecture title a recipe is asked for, and the assignment of
pseudo-steps to narration sentences by embedding similarity."""
import os
import re

from ...config import ConfigError
from ...errors import DataFormatError
from .client import Request

TASKS = ("dictionary", "summarizer", "recipe")
PROMPTS_DIR = os.path.join(os.path.dirname(__file__), "prompts")
MAX_WORDS = {"dictionary": 150, "summarizer": 200}


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


def make_request(task, prompt, source, row, text) -> Request:
    """The request of `task` for the input `text` (row `row` of the CSV `source`), with its prompt filled in."""
    system, user = prompt
    return Request(task, source, row, text, (("system", system), ("user", user.replace("{input}", text))))


_TITLE = re.compile(r"Title:\s*(.+?)(?:\.?\s+Abstract:|$)", re.S)


def lecture_title(path: str, line: int, abstract: str) -> str:
    """The 'Title: ...' of an abstract ("Video tag: ...; Title: ....  Abstract: ...")."""
    match = _TITLE.search(abstract)
    if not match or not match[1].strip():
        raise DataFormatError(path, "no 'Title: ...' in the abstract (the recipe task needs the lecture title)", line)
    return " ".join(match[1].split()).rstrip(".")


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
    """The answer in the form its task asks for; a malformed one is a DataFormatError naming the input."""
    try:
        return parse_steps(answer) if request.task == "recipe" else parse_paragraph(request.task, answer)
    except ValueError as why:
        raise DataFormatError(request.source, f"the {request.task} answer for {request.input!r} is malformed "
                                              f"({why}): {answer[:200]!r}", request.row) from None


def assign_pseudo_steps(embed, sentences: list[str], steps: list[str]) -> list[str]:
    """Each sentence's most similar pseudo-step (cosine similarity of the embeddings)."""
    if not sentences:
        return []
    best = (embed(sentences) @ embed(steps).T).argmax(dim=1).tolist()
    return [steps[k] for k in best]
