"""The evaluation protocols by name: what `eval --protocol`, `eval.protocols` of a training config
and `evaluate(name, ...)` accept. A new protocol is one entry here (and a kind in protocols.py
when none fits)."""
from .protocols import FieldProtocol, PhaseProtocol, ProbeProtocol, Protocol, RetrievalProtocol, TripletProtocol

PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    PhaseProtocol("cholec80", "cholec80", 77, notes="zero-shot, videos 49-80, one prompt per phase (packaged, or -o prompts=FILE)"),
    PhaseProtocol("autolaparo", "autolaparo", 77, notes="zero-shot, videos 15-21, one prompt per phase (packaged, or -o prompts=FILE)"),
    TripletProtocol("cholect50", "cholect50", 35, notes="zero-shot i/v/t/iv/it/ivt video-wise mAP, 10 test videos"),
    ProbeProtocol("cholec80-probe", "cholec80", 0, 100.0, notes="linear probe, train+val 1-48, test 49-80"),
    ProbeProtocol("cholec80-probe-10", "cholec80", 0, 10.0, notes="few-shot: 10 % of the training videos"),
    ProbeProtocol("autolaparo-probe", "autolaparo", 0, 100.0, notes="linear probe, train+val 1-14, test 15-21"),
    ProbeProtocol("autolaparo-probe-10", "autolaparo", 0, 10.0, notes="few-shot: 10 % of the training videos"),
    RetrievalProtocol("retrieval", "", 77, notes="text<->video R@1/5/10 at clip, phase, video level, hold-out lectures"),
)}
# The field's zero-shot table (decisions.md §12): interchange files under <data_root>/field/, one per
# column of the table; get_protocol finds them too.
FIELD_PROTOCOLS: dict[str, Protocol] = {p.name: p for p in (
    *(FieldProtocol(f"field-{dataset}-{column}", dataset, 77, task=task, notes=f"zero-shot {column}, interchange format")
      for dataset, column, task in (
          ("cholec80", "phase", "phases"), ("cholec80", "tool", "tools"), ("autolaparo", "phase", "phases"),
          ("strasbypass70", "phase", "phases"), ("bernbypass70", "phase", "phases"), ("grasp", "phase", "phases"),
          ("grasp", "step", "steps"), ("grasp", "tool", "tools"), ("sarrarp50", "action", "actions"),
          ("heichole", "phase", "phases"), ("heichole", "tool", "tools"))),
    FieldProtocol("field-cholect50-triplet", "cholect50", 77, task="triplet", video_wise_ap=True,
                  notes="zero-shot ivt triplets, ivtmetrics video-wise mAP, interchange format"),
)}


def get_protocol(name: str) -> Protocol:
    try:
        return PROTOCOLS[name] if name in PROTOCOLS else FIELD_PROTOCOLS[name]
    except KeyError:
        raise ValueError(f"unknown protocol {name!r}; known: {', '.join([*PROTOCOLS, *FIELD_PROTOCOLS])}") from None
