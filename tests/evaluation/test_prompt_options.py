"""Every prompt option reaches its protocol: `-o cholec80.prompts=FILE`, `-o autolaparo.prompts=FILE`
and `-o cholect50.prompts=FILE` through the eval command's option parsing (reference.md §2.7 formats)."""
from types import SimpleNamespace

import pytest

from surgvlp_fast.training.config import load_config
from surgvlp_fast.evaluation.cli import eval_overrides
from surgvlp_fast.evaluation.options import EvalOptions
from surgvlp_fast.evaluation.registry import get_protocol
from surgvlp_fast.resources import class_prompts, read_triplet_prompts


def options_from_command_line(folder, protocols, pairs):
    args = SimpleNamespace(protocol=protocols, option=pairs)
    return load_config(None, [f"model.text.tokenizer={folder}", *eval_overrides(args)]).eval.options


def test_every_prompt_option_is_honoured(tmp_path):
    phases = tmp_path / "phases.txt"
    phases.write_text("".join(f"phase {c} one | phase {c} two\n" for c in range(7)))
    triplets = tmp_path / "triplets.txt"
    triplets.write_text("".join(f"{i}:tool_{i},acts on,thing_{i}.\n" for i in range(100)))
    options = options_from_command_line(tmp_path, ["cholec80", "autolaparo", "cholect50"],
                                        [f"cholec80.prompts={phases}", f"cholect50.prompts={triplets}"])
    cholec80 = get_protocol("cholec80").prompts(EvalOptions.from_mapping(options, "cholec80"))
    assert cholec80[3] == ["phase 3 one", "phase 3 two"]
    autolaparo = get_protocol("autolaparo").prompts(EvalOptions.from_mapping(options, "autolaparo"))
    assert autolaparo == [[p] for p in class_prompts("autolaparo")]   # not given: the packaged prompts
    texts = get_protocol("cholect50").class_texts(EvalOptions.from_mapping(options, "cholect50"))
    assert texts["triplet"][7] == "tool 7 acts on thing 7."       # after the last ':', ',' and '_' -> ' '
    default = get_protocol("cholect50").class_texts(EvalOptions())
    assert default["triplet"] == read_triplet_prompts() and len(default["triplet"]) == 100


def test_prompt_files_of_the_wrong_length_are_refused(tmp_path):
    short = tmp_path / "short.txt"
    short.write_text("0:one\n1:two\n")
    with pytest.raises(ValueError, match="short.txt: 2 triplet prompts, expected 100"):
        get_protocol("cholect50").class_texts(EvalOptions(prompts=str(short)))
    with pytest.raises(ValueError, match="short.txt: 2 prompt lines, expected one per class \\(7\\)"):
        get_protocol("cholec80").prompts(EvalOptions(prompts=str(short)))
