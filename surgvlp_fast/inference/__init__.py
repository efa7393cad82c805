"""Inference on a user's own videos (decisions.md §11): a video in, a phase timeline out (`predict`),
and a video library searchable by text (`Index`).

    import surgvlp_fast
    model, tokenizer, _ = surgvlp_fast.load("PeskaVLP.zip", text_model="models/Bio_ClinicalBERT")
    timeline = surgvlp_fast.predict(model, "case.mp4", "cholec80", tokenizer=tokenizer, smooth=5)
    print(timeline.segments())

Built on the zero-shot classifier (surgvlp_fast.zeroshot), the frame sampler (surgvlp_fast.video)
and the official evaluation preprocessing (surgvlp_fast.models.preprocess): a prediction equals
what the zero-shot protocol scores on the same frames.
"""
