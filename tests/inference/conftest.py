"""A tiny checkpoint `surgvlp_fast.load` reads (our layout: last.pt + config.yaml beside it) and the
tiny world's held-out Cholec80 videos as real H.264 files (lossless RGB: the PNG frames exactly)."""
import dataclasses

import pytest
import torch

from inference_helpers import CONFIG, h264_from_frames


@pytest.fixture(scope="session")
def world(tiny_world):
    return str(tiny_world[0])


@pytest.fixture(scope="session")
def checkpoint(world, tmp_path_factory):
    """(path of last.pt, model, tokenizer): a random tiny model (tiny CNN + 2-layer BERT) in our layout."""
    from surgvlp_fast.config import save_config
    from surgvlp_fast.models import build_model, load_tokenizer
    from surgvlp_fast.training.config import load_config

    folder = tmp_path_factory.mktemp("run")
    cfg = load_config(CONFIG, [f"model.text.tokenizer={world}/tokenizer"])
    save_config(cfg, str(folder / "config.yaml"))
    tokenizer = load_tokenizer(f"{world}/tokenizer")
    torch.manual_seed(0)
    model = build_model(dataclasses.replace(cfg.model, vision=dataclasses.replace(cfg.model.vision, weights="random")),
                        tokenizer).eval()
    torch.save({"model": model.state_dict(), "step": 1}, folder / "last.pt")
    return str(folder / "last.pt"), model, tokenizer


@pytest.fixture(scope="session")
def held_out(world, tiny_world, tmp_path_factory):
    """{number: path of the mp4} of the world's Cholec80 test videos (49, 50)."""
    folder = tmp_path_factory.mktemp("cases")
    durations = {d["video"]: d["duration"] for d in tiny_world[1]["downstream"] if d["dataset"] == "cholec80"}
    return {n: h264_from_frames(f"{world}/downstream_datasets/cholec80/frames/video{n:02d}_%d.png",
                                str(folder / f"video{n:02d}.mp4"), durations[n])
            for n in sorted(durations) if n >= 49}
