"""The model-dir part every captioner family shares: the model, its config and its image encoder.

Layout (a family adds its tokenizer files through ``write_extra``)::

    config.json          tfcaption_model_type, the serialised model, the image
                         preprocessing, and the family's config with "image_encoder"
    model.weights.h5     the model's weights
    image_encoder/       optional: the image encoder, itself a model dir (``cnn``,
                         ``clip`` or ``clip_resnet``)
"""

import os

from tfcaption.backbones.image_encoder_dir import load_image_encoder, save_image_encoder
from tfcaption.backbones.model_dir import CONFIG_FILE, load_model_dir, save_model_dir

ENCODER_DIR = "image_encoder"


def save_captioner_dir(captioner, out_dir, model, config, write_extra=None) -> str:
    """Writes ``model`` (with ``captioner.image_encoder`` and its preprocessing) as a
    model dir of type ``captioner.model_type``, atomically; ``write_extra(tmp_dir)``
    adds the family's files. Returns the dir's path."""
    encoder = captioner.image_encoder
    config = {**config, "image_encoder": ENCODER_DIR if encoder is not None else None}

    def write(directory):
        if write_extra is not None:
            write_extra(directory)
        if encoder is not None:
            save_image_encoder(encoder, os.path.join(directory, ENCODER_DIR))

    return save_model_dir(out_dir, captioner.model_type, model,
                          preprocessor=captioner.preprocessor, config=config,
                          write_extra=write)


def load_captioner_dir(path, model_type, model_class):
    """A model dir of ``model_type`` -> ``(model, config, image encoder or None)``.

    Raises ``FileNotFoundError`` naming the missing ``config.json``, weights or image
    encoder dir, and ``ValueError`` naming the file for another model type or class, a
    malformed ``config.json`` and weights that are corrupt or differ from the checksum
    recorded at save time (see :func:`~tfcaption.backbones.model_dir.load_model_dir`)."""
    path = os.fspath(path)
    if not os.path.isfile(os.path.join(path, CONFIG_FILE)):
        raise FileNotFoundError(f"not a {model_type} model dir: missing "
                                f"{os.path.join(path, CONFIG_FILE)}")
    model, _, _, config = load_model_dir(path, {model_type}, model_class)
    encoder = None
    if not isinstance(config.get("image_encoder"), (str, type(None))):
        raise ValueError(f"{os.path.join(path, CONFIG_FILE)}: config.image_encoder must be "
                         f"the name of the image encoder dir or null, got "
                         f"{config['image_encoder']!r}")
    if config.get("image_encoder"):
        encoder_dir = os.path.join(path, config["image_encoder"])
        if not os.path.isdir(encoder_dir):
            raise FileNotFoundError(f"{path}/{CONFIG_FILE} names image encoder "
                                    f"{config['image_encoder']!r} but {encoder_dir} is missing")
        encoder = load_image_encoder(encoder_dir)
    return model, config, encoder
