"""The ``--json`` flag of the commands that print results (importing this defines it once)."""

from absl import flags

flags.DEFINE_bool("json", False, "Print JSON instead of the human-readable lines: caption "
                  "prints one {path, captions, scores} object per image; train prints the "
                  "full metrics (metrics.json) instead of the summary.")
