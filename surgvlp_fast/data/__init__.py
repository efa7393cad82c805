"""The data layer (docs/data.md): text sources, the three level datasets and their sampler,
augmentation, tokenisation and collate, downstream sets, the synthetic world, the data tools.

Modules are imported where used (`surgvlp_fast.data.level_datasets`, `.transforms`, ...), so that
importing the package stays cheap.
"""
