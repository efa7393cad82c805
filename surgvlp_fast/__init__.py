"""surgvlp-fast: surgical video-language pretraining (SurgVLP, HecVL, PeskaVLP), fast and right.

    import surgvlp_fast
    model, tokenizer, preprocess = surgvlp_fast.load("PeskaVLP.zip", text_model="models/Bio_ClinicalBERT")
"""

__version__ = "0.1.0"

# torch and transformers load on first use, so `import surgvlp_fast` (and the CLI) stays cheap
_LAZY = {"load": "surgvlp_fast.hub", "available_models": "surgvlp_fast.hub", "RELEASED": "surgvlp_fast.hub",
         "export_checkpoint": "surgvlp_fast.export", "official_preprocess": "surgvlp_fast.models.preprocess",
         "OfficialPreprocess": "surgvlp_fast.models.preprocess",
         "predict": "surgvlp_fast.inference.predict", "Index": "surgvlp_fast.inference.index"}
__all__ = ["__version__", *_LAZY]


def __getattr__(name):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'surgvlp_fast' has no attribute {name!r}")
