"""ClipCap's own flags of ``tfcaption.caption`` (importing this module defines them)."""

from absl import flags

FLAG_NAMES = ("weights_dtype",)

flags.DEFINE_enum("weights_dtype", None, ["float32", "bfloat16", "int8"],
                  "ClipCap models: decode with a bfloat16 or int8 (one scale per output "
                  "row) copy of GPT-2's matrices, read at a half or a quarter of the bytes "
                  "per token (faster at small batches; captions can differ where two "
                  "tokens are nearly tied). Default: the model's own weights.")


def load_options(values) -> dict:
    """The ``load_clipcap`` keyword arguments the flags ask for."""
    return {} if values.weights_dtype is None else {"weights_dtype": values.weights_dtype}
