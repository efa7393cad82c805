"""The README's Python example, extracted from README.md and run against a released-layout
PeskaVLP.zip and a Bio_ClinicalBERT-shaped folder built locally (tiny widths, the released recipe)."""
import os
import re
import subprocess
import sys
import zipfile

import torch
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests", "training"))


def readme_python_example() -> str:
    text = open(os.path.join(ROOT, "README.md"), encoding="utf-8").read()
    section = text[text.index("### From Python"):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_zero_shot_example_runs(tmp_path):
    from training_toy import make_tokenizer
    from transformers import BertConfig, BertModel

    from surgvlp_fast.training.config import load_config
    from surgvlp_fast.export import official_state_dict
    from surgvlp_fast.hub import config_file
    from surgvlp_fast.models import build_model, load_tokenizer

    bert_dir = tmp_path / "models" / "Bio_ClinicalBERT"
    make_tokenizer(str(bert_dir))
    torch.manual_seed(0)
    # the released recipe needs hidden size 768 (= embed_dim) and 4 pooled layers; the rest is tiny
    BertModel(BertConfig(vocab_size=len(load_tokenizer(str(bert_dir))), hidden_size=768, num_hidden_layers=3,
                         num_attention_heads=2, intermediate_size=32)).save_pretrained(bert_dir)
    cfg = load_config(config_file("peskavlp.yaml"), [f"model.text.path={bert_dir}", "model.vision.weights=random"])
    state = official_state_dict(build_model(cfg.model, load_tokenizer(str(bert_dir))).state_dict())
    torch.save(state, tmp_path / "PeskaVLP.pth")
    with zipfile.ZipFile(tmp_path / "PeskaVLP.zip", "w") as archive:
        archive.write(tmp_path / "PeskaVLP.pth", "PeskaVLP.pth")
    os.remove(tmp_path / "PeskaVLP.pth")
    (tmp_path / "frames").mkdir()
    for k in (1, 2, 3):
        Image.new("RGB", (854, 480), (40 * k, 90, 200 - 30 * k)).save(tmp_path / "frames" / f"video49_{k}.png")
    run = subprocess.run([sys.executable, "-c", readme_python_example()], cwd=tmp_path, capture_output=True,
                         text=True, timeout=300, env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert run.returncode == 0, run.stderr[-3000:]
    phases = eval(run.stdout.strip().splitlines()[-1])
    assert len(phases) == 3 and set(phases) <= set(open(os.path.join(
        ROOT, "surgvlp_fast", "resources", "cholec80_phases.txt")).read().split())
