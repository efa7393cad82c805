"""The dual encoder of SurgVLP / HecVL / PeskaVLP, its encoders and released-checkpoint loading."""
from surgvlp_fast.models.dual_encoder import DualEncoder
from surgvlp_fast.models.released import LoadReport, load_released, read_state_dict
from surgvlp_fast.models.text import TextEncoder, build_bert, load_tokenizer, pool_last_layers
from surgvlp_fast.models.vision import VisionEncoder

__all__ = ["DualEncoder", "LoadReport", "TextEncoder", "VisionEncoder", "build_bert", "build_model",
           "load_released", "load_tokenizer", "pool_last_layers", "read_state_dict"]


def build_model(model_cfg, tokenizer=None) -> DualEncoder:
    """A DualEncoder from a `models.config.ModelConfig`; `tokenizer` gives the vocabulary of a random-init BERT."""
    text_cfg = model_cfg.text
    bert = build_bert(
        text_cfg.path,
        vocab_size=len(tokenizer) if tokenizer is not None else None,
        hidden_size=text_cfg.hidden_size, num_layers=text_cfg.num_layers, num_heads=text_cfg.num_heads,
        intermediate_size=text_cfg.intermediate_size, max_positions=text_cfg.max_positions,
        dropout=text_cfg.dropout, pad_token_id=getattr(tokenizer, "pad_token_id", None) or 0)
    if model_cfg.gradient_checkpointing:
        bert.activation_checkpointing_enable({"use_reentrant": False})
    text = TextEncoder(bert, text_cfg.last_n_layers, model_cfg.embed_dim, text_cfg.projection)
    # an init checkpoint replaces every weight: the ImageNet file is not read (nor needed offline)
    weights = "random" if model_cfg.init_checkpoint else model_cfg.vision.weights
    vision = VisionEncoder(model_cfg.vision.backbone, model_cfg.embed_dim, weights,
                           model_cfg.vision.norm, model_cfg.gradient_checkpointing, model_cfg.vision.channels_last)
    model = DualEncoder(vision, text)
    if model_cfg.init_checkpoint:
        load_released(model, model_cfg.init_checkpoint, strict=True)
    return model
