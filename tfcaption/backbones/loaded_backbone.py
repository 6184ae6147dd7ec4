"""What every backbone loader returns."""

import dataclasses
from typing import Any, Optional


@dataclasses.dataclass
class LoadedBackbone:
    """A ready Keras model with what a caller needs to feed it.

    Attributes:
      model: the Keras model (weights loaded).
      model_type: e.g. ``"gpt2"``, ``"roberta"``, ``"clip"``, ``"clip_resnet"``, ``"cnn"``.
      preprocessor: an :class:`~tfcaption.data.image_preprocessor.ImagePreprocessor` for
        image models, else ``None``.
      tokenizer: a keras-hub tokenizer for text models, else ``None``.
      config: the architecture settings read from the checkpoint (plain JSON types).
    """

    model: Any
    model_type: str
    preprocessor: Optional[Any] = None
    tokenizer: Optional[Any] = None
    config: dict = dataclasses.field(default_factory=dict)
