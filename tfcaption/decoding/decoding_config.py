"""Configuration of one decoding run: the method and its knobs."""

import dataclasses
import math

METHODS = ("greedy", "beam", "sample")
# String shortcuts accepted by ``DecodingConfig.parse``: alias -> field defaults.
ALIASES = {
    "top_p": {"method": "sample", "top_p": 0.9},
    "top_k": {"method": "sample", "top_k": 50},
}
_INT32_MIN, _INT32_MAX = -2 ** 31, 2 ** 31 - 1


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


@dataclasses.dataclass(frozen=True)
class DecodingConfig:
    """How to turn next-token logits into token sequences.

    Attributes:
      method: ``"greedy"``, ``"beam"`` or ``"sample"``.
      max_length: the most new tokens generated per sequence (stop token included).
      beam_size: beams per input row (``"beam"`` only).
      length_penalty: beam ranking uses ``score_sum / length ** length_penalty``; 1.0 is the
        official ClipCap behaviour, 0.0 ranks by the raw sum of log-probabilities.
      temperature: logits are divided by it (``"sample"`` and ``"beam"``; greedy ignores it).
      top_k: sampling keeps the ``top_k`` most probable tokens; 0 disables the filter.
      top_p: sampling keeps the smallest set of most probable tokens whose probability
        reaches ``top_p`` (nucleus sampling); 1.0 disables the filter.
      num_return_sequences: sequences returned per input row (best beams, or independent
        samples); must be 1 for greedy.
      stop_token_ids: ids that end a sequence (the stop token is kept and counted in its
        length); empty means sequences always run to ``max_length``.
      seed: default seed of the stateless sampler (a ``seed`` tensor given to ``decode``
        overrides it).
    """

    method: str
    max_length: int = 67
    beam_size: int = 5
    length_penalty: float = 1.0
    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 1.0
    num_return_sequences: int = 1
    stop_token_ids: tuple = ()
    seed: int = 0

    def __post_init__(self):
        self._check_types()
        for name in ("length_penalty", "temperature", "top_p"):
            object.__setattr__(self, name, float(getattr(self, name)))
        object.__setattr__(self, "stop_token_ids", tuple(int(i) for i in self.stop_token_ids))
        self._check_values()

    def _check_types(self):
        if not isinstance(self.method, str):
            raise ValueError(f"DecodingConfig.method must be a string, got {self.method!r}")
        for name in ("max_length", "beam_size", "top_k", "num_return_sequences", "seed"):
            if not _is_int(getattr(self, name)):
                raise ValueError(f"DecodingConfig.{name} must be an int, "
                                 f"got {getattr(self, name)!r}")
        for name in ("length_penalty", "temperature", "top_p"):
            value = getattr(self, name)
            if not _is_number(value) or not math.isfinite(value):
                raise ValueError(f"DecodingConfig.{name} must be a finite number, got {value!r}")
        ids = self.stop_token_ids
        if isinstance(ids, (str, bytes)) or not hasattr(ids, "__iter__") or not all(
                _is_int(i) and i >= 0 for i in ids):
            raise ValueError("DecodingConfig.stop_token_ids must be a sequence of "
                             f"non-negative ints, got {ids!r}")

    def _check_values(self):
        if self.method not in METHODS:
            raise ValueError(f"DecodingConfig.method must be one of {', '.join(map(repr, METHODS))}"
                             f" (DecodingConfig.parse also takes {', '.join(map(repr, ALIASES))}),"
                             f" got {self.method!r}")
        for name in ("max_length", "beam_size", "num_return_sequences"):
            if getattr(self, name) < 1:
                raise ValueError(f"DecodingConfig.{name} must be >= 1, got {getattr(self, name)}")
        if self.temperature <= 0:
            raise ValueError(f"DecodingConfig.temperature must be > 0, got {self.temperature}")
        if not 0.0 < self.top_p <= 1.0:
            raise ValueError(f"DecodingConfig.top_p must be in (0, 1], got {self.top_p}")
        if self.top_k < 0:
            raise ValueError(f"DecodingConfig.top_k must be >= 0 (0 = off), got {self.top_k}")
        if not _INT32_MIN <= self.seed <= _INT32_MAX:
            raise ValueError(f"DecodingConfig.seed must fit in int32, got {self.seed}")
        if self.method == "greedy" and self.num_return_sequences != 1:
            raise ValueError("DecodingConfig.num_return_sequences must be 1 for method "
                             f"'greedy', got {self.num_return_sequences}")
        if self.method == "beam" and self.num_return_sequences > self.beam_size:
            raise ValueError(f"DecodingConfig.num_return_sequences ({self.num_return_sequences})"
                             f" must be <= beam_size ({self.beam_size}) for method 'beam'")

    def to_dict(self) -> dict:
        """A JSON-ready dict of every field (``stop_token_ids`` as a list)."""
        out = dataclasses.asdict(self)
        out["stop_token_ids"] = list(self.stop_token_ids)
        return out

    @classmethod
    def from_dict(cls, values: dict) -> "DecodingConfig":
        """Inverse of :meth:`to_dict`; unknown keys raise ``ValueError`` naming them."""
        known = [field.name for field in dataclasses.fields(cls)]
        unknown = sorted(set(values) - set(known))
        if unknown:
            raise ValueError(f"DecodingConfig got unknown keys {unknown}; known keys: {known}")
        if "method" not in values:
            raise ValueError("DecodingConfig.method is required")
        return cls(**values)

    @classmethod
    def parse(cls, value, **overrides) -> "DecodingConfig":
        """A config from a ``DecodingConfig``, a dict, or a method name, with overrides.

        Method names may be the aliases ``"top_p"`` (sampling with ``top_p=0.9``) and
        ``"top_k"`` (sampling with ``top_k=50``); fields given explicitly (in the dict or
        as overrides) win over an alias's defaults.
        """
        if isinstance(value, cls):
            base, explicit = value.to_dict(), dict(overrides)
        elif isinstance(value, dict):
            base, explicit = {}, {**value, **overrides}
        elif isinstance(value, str):
            base, explicit = {}, {"method": value, **overrides}
        else:
            raise TypeError("DecodingConfig.parse takes a DecodingConfig, a dict or a method "
                            f"name, got {type(value).__name__}")
        method = explicit.get("method", base.get("method"))
        if method in ALIASES:
            base = {**base, **ALIASES[method]}
            explicit["method"] = ALIASES[method]["method"]
        return cls.from_dict({**base, **explicit})


def names_max_length(decoding, overrides) -> bool:
    """True when a decoding setting given as ``(decoding, **overrides)`` to
    :meth:`DecodingConfig.parse` names ``max_length`` itself (a ``DecodingConfig``
    always does), so a captioner must not replace it with its own default."""
    return ("max_length" in overrides or isinstance(decoding, DecodingConfig)
            or (isinstance(decoding, dict) and "max_length" in decoding))
