"""The phases of the synthetic surgical world: what each one looks like and how surgeons talk about it.

Two procedures share one renderer: laparoscopic cholecystectomy (the 7 Cholec80 phases) and
hysterectomy (the 7 AutoLaparo phases). A phase's visual signature is a background tint, an
instrument shape and colour, and a motion pattern; its narration vocabulary deliberately shares
words with other phases (grasper, hook, gallbladder, ...) so that single words are ambiguous.
"""
from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    name: str               # spoken phase name ("calot triangle dissection")
    title: str              # keystep title, the `step` column
    explanations: tuple     # LLM-style augmented keystep texts, the `text` column
    proportion: float       # mean share of the lecture
    tint: tuple             # background colour the tissue is shifted towards (RGB, 0..1)
    colour: tuple           # instrument colour the metal grey is shifted towards
    shape: str              # ring | line | cross | triangle | rectangle | circle | diamond
    motion: str             # jitter | horizontal | vertical | circle | drift | walk | pulse
    instruments: tuple      # narration words for what is on screen
    actions: tuple          # verbs, base form
    anatomy: tuple
    sentences: tuple        # phase-specific narrations, whisper form (lower case)
    triplet: int = -1       # CholecT50 triplet id of the visible instrument (cholecystectomy only)


CHOLECYSTECTOMY = (
    Phase("preparation", "Trocar placement and exposure",
          ("The trocars are inserted into the abdominal cavity under vision and the grasper lifts the liver to expose the gallbladder.",
           "Pneumoperitoneum is created, ports are placed and the operative field around the gallbladder is explored with a grasper."),
          0.08, (0.95, 0.80, 0.35), (0.95, 0.85, 0.20), "ring", "jitter",
          ("grasper", "trocar"), ("insert", "place", "explore", "grasp"), ("abdominal wall", "omentum", "liver"),
          ("we insert the trocars into the abdominal cavity", "the grasper holds the omentum away",
           "we place the first trocar at the umbilicus", "in the preparation phase we insert trocars into the abdomen cavity"), triplet=10),
    Phase("calot triangle dissection", "Dissection of Calot's triangle",
          ("The hook dissects the peritoneum of the hepatocystic triangle to expose the cystic duct and the cystic artery while the grasper retracts the gallbladder.",
           "Using electrocautery, the fatty tissue in Calot's triangle is cleared until only two structures enter the gallbladder."),
          0.26, (0.35, 0.85, 0.45), (0.20, 0.95, 0.35), "line", "horizontal",
          ("hook", "grasper"), ("dissect", "expose", "retract"), ("cystic duct", "cystic artery", "calot triangle"),
          ("the hook dissects calot's triangle", "we expose the critical view of safety",
           "the grasper retracts the gallbladder to open the triangle",
           "we use the grasper to hold the gallbladder and the hook to expose the hepatic triangle"), triplet=58),
    Phase("clipping and cutting", "Clipping and division of the cystic duct and artery",
          ("Titanium clips are applied on the cystic duct and the cystic artery, which are then divided with scissors between the clips.",
           "The clip applier secures the cystic structures before the scissors cut them."),
          0.09, (0.30, 0.45, 0.95), (0.25, 0.40, 1.00), "cross", "vertical",
          ("clipper", "scissors"), ("clip", "cut", "divide"), ("cystic duct", "cystic artery"),
          ("the clipper clips the cystic duct", "we cut the cystic artery with the scissors",
           "two clips are placed on the cystic duct", "in the clip and cut phase we clip the cystic duct and artery then cut them"), triplet=79),
    Phase("gallbladder dissection", "Dissection of the gallbladder from the liver bed",
          ("The gallbladder is separated from the liver bed along the cystic plate with the hook, with the grasper giving traction.",
           "Electrocautery dissection detaches the gallbladder from the liver while staying on the correct plane."),
          0.24, (0.85, 0.35, 0.85), (0.90, 0.25, 0.90), "triangle", "circle",
          ("hook", "grasper", "bipolar"), ("dissect", "detach", "coagulate"), ("gallbladder", "liver bed", "cystic plate"),
          ("the hook dissects the gallbladder from the liver bed", "we detach the gallbladder along the plane",
           "the grasper pulls the gallbladder up", "the hook dissects the connective tissue between gallbladder and liver"), triplet=36),
    Phase("gallbladder packaging", "Placement of the gallbladder in a retrieval bag",
          ("The freed gallbladder is put into a specimen retrieval bag, which is closed to avoid spillage.",
           "The specimen is packed into an endoscopic bag held open by the grasper."),
          0.09, (0.95, 0.55, 0.20), (1.00, 0.50, 0.10), "rectangle", "drift",
          ("grasper", "bag"), ("pack", "place", "put"), ("gallbladder", "specimen bag"),
          ("now we pack the gallbladder with the retrieval bag", "the gallbladder goes into the bag",
           "we close the specimen bag", "in the packaging phase we put the gallbladder into the specimen bag"), triplet=13),
    Phase("cleaning and coagulation", "Haemostasis and irrigation of the liver bed",
          ("The liver bed is irrigated and aspirated, and bleeding points are coagulated to obtain haemostasis.",
           "Suction and irrigation clear the operative field and the bipolar forceps coagulate small vessels."),
          0.14, (0.30, 0.85, 0.90), (0.15, 0.90, 0.95), "circle", "walk",
          ("irrigator", "suction", "bipolar"), ("irrigate", "aspirate", "coagulate", "clean"), ("liver bed", "blood vessel", "fluid"),
          ("we irrigate and aspirate the liver bed", "the bipolar coagulates a small bleeding vessel",
           "suction clears the blood", "suction and irrigation clear the surgical field and we coagulate bleeding vessels"), triplet=82),
    Phase("gallbladder retraction", "Extraction of the specimen",
          ("The specimen bag is grasped and extracted through the umbilical trocar site, and the trocars are removed.",
           "The retrieval bag containing the gallbladder is pulled out of the abdomen through a port."),
          0.10, (0.60, 0.60, 0.20), (0.70, 0.70, 0.05), "diamond", "pulse",
          ("grasper", "bag", "trocar"), ("grasp", "remove", "extract"), ("specimen bag", "trocar", "abdominal wall"),
          ("we grasp the bag and remove it through the trocar", "the specimen is extracted",
           "the trocars are removed under vision", "in the retraction phase we grasp the specimen bag and remove it from the trocar"), triplet=12),
)

HYSTERECTOMY = (
    Phase("preparation", "Exploration of the pelvis",
          ("The grasper explores the pelvic cavity and exposes the uterus and adnexa before dissection starts.",),
          0.10, (0.95, 0.75, 0.55), (0.80, 0.80, 0.30), "ring", "walk",
          ("grasper", "uterine manipulator"), ("grasp", "explore"), ("uterus", "pelvis", "field"),
          ("we use the grasper to grasp and explore the field", "the uterus is exposed")),
    Phase("dividing ligament and peritoneum", "Division of the round ligament and peritoneum",
          ("The round ligament and the peritoneum are divided with the sealing device to open the broad ligament.",),
          0.20, (0.55, 0.95, 0.30), (0.55, 0.95, 0.15), "cross", "horizontal",
          ("sealer", "grasper"), ("divide", "open"), ("ligament", "peritoneum"),
          ("we divide the ligament and the peritoneum", "the round ligament is divided")),
    Phase("dividing uterine vessels and ligament", "Division of the uterine vessels",
          ("The uterine vessels and the cardinal ligament are sealed and divided on both sides.",),
          0.20, (0.75, 0.25, 0.35), (0.95, 0.10, 0.30), "rectangle", "vertical",
          ("sealer", "bipolar"), ("divide", "seal", "coagulate"), ("uterine vessels", "ligament"),
          ("we divide the uterine vessels and ligament", "the bipolar seals the uterine artery")),
    Phase("transecting the vagina", "Colpotomy",
          ("The vagina is transected circumferentially with the dissecting hook along the colpotomy cup.",),
          0.15, (0.40, 0.40, 0.95), (0.30, 0.30, 0.95), "line", "circle",
          ("hook",), ("transect", "cut"), ("vagina", "vaginal cuff"),
          ("we use the dissecting hook to transect the vagina", "the colpotomy is completed")),
    Phase("specimen removal", "Removal of the uterus",
          ("The uterus is placed in a specimen bag and removed through the vagina.",),
          0.10, (0.95, 0.55, 0.85), (0.95, 0.45, 0.80), "diamond", "drift",
          ("grasper", "bag"), ("remove", "extract"), ("uterus", "specimen bag"),
          ("we remove the specimen bag and uterus", "the uterus is extracted")),
    Phase("suturing", "Closure of the vaginal cuff",
          ("The vaginal cuff is closed with a running barbed suture using the needle holder.",),
          0.17, (0.25, 0.75, 0.65), (0.10, 0.75, 0.60), "triangle", "pulse",
          ("needle holder", "suture"), ("suture", "close"), ("vaginal cuff", "tissue"),
          ("we suture the tissue", "the needle holder closes the vaginal cuff")),
    Phase("washing", "Irrigation of the pelvis",
          ("The pelvis is washed with saline and aspirated, and haemostasis is checked.",),
          0.08, (0.85, 0.85, 0.85), (0.20, 0.95, 0.95), "circle", "jitter",
          ("irrigator", "suction"), ("wash", "irrigate", "aspirate"), ("pelvis", "fluid"),
          ("washing the pelvis with saline", "we aspirate the fluid")),
)

PROCEDURES = {
    "cholecystectomy": {
        "phases": CHOLECYSTECTOMY, "tag": "laparoscopic cholecystectomy",
        "indications": ("symptomatic gallstones", "acute cholecystitis", "biliary colic", "gallbladder polyp"),
    },
    "hysterectomy": {
        "phases": HYSTERECTOMY, "tag": "laparoscopic hysterectomy",
        "indications": ("uterine fibroids", "adenomyosis", "endometrial hyperplasia", "abnormal uterine bleeding"),
    },
}

OFF_TOPIC = (
    "the patient is a fifty year old woman", "this video was recorded in our university hospital",
    "thank you for your attention", "the operating room set up is standard", "let me remind you of the anatomy",
    "the patient was discharged on day two", "we published this technique last year", "the light is a bit low",
)
FILLERS = ("okay", "so", "now", "as you can see", "alright", "here", "you see")
