"""Dataset importers: one module per public dataset, each turning a user's own copy of that
dataset into the data folder the trainer reads.

The contract every importer follows:
- it reads a copy of a public dataset the user already has (it downloads nothing, and the
  dataset's files are never shipped with this package);
- it writes the on-disk layout of docs/data.md, the one `surgvlp-fast validate-data` checks
  (videos, text CSVs, splits), and the folder it writes passes `validate-data`;
- it is shardable: `--shard I/N` does the I-th of N disjoint parts of the work, so N processes
  or machines can share one import;
- it is idempotent: a rerun (or a rerun of one shard) writes the same files, skips what is
  already complete, and resumes where a killed run stopped.
"""
