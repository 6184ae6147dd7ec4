"""The flags ``caption``, ``evaluate`` and ``export`` share: the model, the batch size
and decoding.

Importing this module defines them on ``absl.flags.FLAGS``; :func:`decoding_overrides`
turns their values into the ``(method, overrides)`` a captioner's ``generate`` takes.
Unset knobs keep the method's defaults (``DecodingConfig``): ``top_p`` and ``top_k``
are sampling with ``top_p=0.9`` / ``top_k=50`` unless ``--top_p`` / ``--top_k`` say
otherwise.
"""

from absl import app, flags

from tfcaption.decoding.decoding_config import ALIASES, METHODS, DecodingConfig

FLAGS = flags.FLAGS
DECODING_CHOICES = METHODS + tuple(ALIASES)

flags.DEFINE_string("model", None, "Captioner model dir (from training or conversion).")
flags.DEFINE_integer("batch_size", 32, "Images per batch.")
flags.DEFINE_enum("decoding", "greedy", DECODING_CHOICES,
                  "Decoding method: greedy, beam, sample, top_p (sample with top_p 0.9) "
                  "or top_k (sample with top_k 50).")
flags.DEFINE_integer("beam_size", None, "Beams per image (beam; default 5).")
flags.DEFINE_float("length_penalty", None, "Beam ranking: summed log-probability / "
                   "length ** length_penalty (default 1.0).")
flags.DEFINE_float("temperature", None, "Logits are divided by it (sample, beam; default 1).")
flags.DEFINE_float("top_p", None, "Nucleus sampling threshold in (0, 1].")
flags.DEFINE_integer("top_k", None, "Sample from the k most probable tokens (0: off).")
flags.DEFINE_integer("max_length", None, "Most generated tokens per caption "
                     "(default 67).")
flags.DEFINE_integer("seed", 0, "Sampling seed (same files, seed and batch size: same "
                     "captions).")

_KNOBS = ("beam_size", "length_penalty", "temperature", "top_p", "top_k", "max_length")


def decoding_overrides(values=FLAGS, num_return_sequences=None):
    """``(method, overrides)`` from the flag values, checked.

    Raises ``app.UsageError`` with ``DecodingConfig``'s message for an invalid setting
    (e.g. ``--top_p=2``), before any model is loaded.
    """
    overrides = {k: getattr(values, k) for k in _KNOBS if getattr(values, k) is not None}
    if num_return_sequences is not None:
        overrides["num_return_sequences"] = int(num_return_sequences)
    try:
        DecodingConfig.parse(values.decoding, **overrides)
    except ValueError as error:
        raise app.UsageError(str(error)) from None
    if values.batch_size < 1:
        raise app.UsageError(f"--batch_size must be >= 1, got {values.batch_size}")
    return values.decoding, overrides
