"""The settings of one ``POST /api/caption``: models and decoding, from text fields."""

import dataclasses

from tfcaption.decoding.decoding_config import ALIASES, METHODS, DecodingConfig

DECODING_METHODS = METHODS + tuple(ALIASES)
INT_FIELDS = ("beam_size", "top_k", "max_length", "num_captions", "seed")
FLOAT_FIELDS = ("length_penalty", "temperature", "top_p")
FIELDS = ("model", "decoding") + INT_FIELDS + FLOAT_FIELDS


@dataclasses.dataclass(frozen=True)
class CaptionSettings:
    """Which models caption, and how.

    Attributes:
      models: the model names, in the order given (all loaded models by default).
      method: a decoding method or alias (``greedy``, ``beam``, ``sample``, ``top_p``,
        ``top_k``).
      overrides: ``DecodingConfig`` fields (``beam_size``, ``num_return_sequences``, ...).
      seed: the sampling seed.
    """

    models: tuple
    method: str = "greedy"
    overrides: dict = dataclasses.field(default_factory=dict)
    seed: int = 0

    def fields(self):
        """The decoding setting in the API's field names (``decoding``,
        ``num_captions``, ...), as given."""
        named = {("num_captions" if k == "num_return_sequences" else k): v
                 for k, v in self.overrides.items()}
        return {"decoding": self.method, **named, "seed": self.seed}


def _number(name, text, kind):
    try:
        return kind(text)
    except ValueError:
        noun = "an integer" if kind is int else "a number"
        raise ValueError(f"{name} must be {noun}, got {text!r}") from None


def parse_caption_settings(fields, model_names):
    """``fields``: name -> list of strings (form fields and query parameters together);
    ``model_names``: the loaded models.

    Empty values count as absent. ``model`` may be repeated or comma-separated. Raises
    ``ValueError`` naming the field and value for an unknown field or model, a value
    that is not a number, or a setting ``DecodingConfig`` rejects (``top_p=2``,
    ``decoding=fast``, ``num_captions=2`` with greedy, ...).
    """
    unknown = sorted(set(fields) - set(FIELDS))
    if unknown:
        raise ValueError(f"unknown field {unknown[0]!r}; fields: {', '.join(FIELDS)}")
    values = {}
    for name, given in fields.items():
        given = [v.strip() for v in given if v.strip()]
        if name != "model" and len(given) > 1:
            raise ValueError(f"{name} given {len(given)} times: {given}")
        if given:
            values[name] = given if name == "model" else given[0]
    models = [m.strip() for v in values.get("model", []) for m in v.split(",") if m.strip()]
    for name in models:
        if name not in model_names:
            raise ValueError(f"unknown model {name!r}; loaded models: "
                             f"{', '.join(model_names)}")
    method = values.get("decoding", "greedy")
    if method not in DECODING_METHODS:
        raise ValueError(f"decoding must be one of {', '.join(DECODING_METHODS)}, "
                         f"got {method!r}")
    overrides = {}
    for name in INT_FIELDS + FLOAT_FIELDS:
        if name in values and name != "seed":
            key = "num_return_sequences" if name == "num_captions" else name
            overrides[key] = _number(name, values[name], int if name in INT_FIELDS else float)
    seed = _number("seed", values["seed"], int) if "seed" in values else 0
    try:
        DecodingConfig.parse(method, seed=seed, **overrides)
    except ValueError as error:
        raise ValueError(str(error).replace("DecodingConfig.", "")
                         .replace("num_return_sequences", "num_captions")) from None
    return CaptionSettings(tuple(dict.fromkeys(models)) or tuple(model_names), method,
                           overrides, seed)
