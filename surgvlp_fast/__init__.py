"""surgvlp-fast: surgical video-language pretraining (SurgVLP, HecVL, PeskaVLP), fast and right."""

__version__ = "0.1.0"
