"""Reads and writes a gated GRU captioner model dir (the WGAN-GP captioner's generator).

Layout::

    config.json          tfcaption_model_type "wgan_gru", the serialised GatedGruGenerator,
                         the image preprocessing, and {"max_length", "vocabulary",
                         "image_encoder"}
    model.weights.h5     the generator's weights
    vocab.txt            the WordVocabulary (one token per line)
    image_encoder/       optional: the image encoder, itself a model dir (``cnn``,
                         ``clip`` or ``clip_resnet``)
"""

import os

from tfcaption.backbones.image_encoder_dir import load_image_encoder, save_image_encoder
from tfcaption.backbones.model_dir import CONFIG_FILE, load_model_dir, save_model_dir
from tfcaption.models.wgan.gated_gru_generator import GatedGruGenerator
from tfcaption.models.wgan.gru_captioner import GruCaptioner
from tfcaption.tokenizers.word_vocabulary import WordVocabulary

MODEL_TYPE = "wgan_gru"
VOCABULARY_FILE = "vocab.txt"
ENCODER_DIR = "image_encoder"


def save_gru_captioner(captioner: GruCaptioner, out_dir, extra_config=None) -> str:
    """Writes ``captioner`` as a model dir (atomically); returns its path."""
    encoder = captioner.image_encoder
    config = {"max_length": captioner.max_length, "vocabulary": VOCABULARY_FILE,
              "image_encoder": ENCODER_DIR if encoder is not None else None,
              **(extra_config or {})}

    def write_extra(directory):
        captioner.vocabulary.save(os.path.join(directory, VOCABULARY_FILE))
        if encoder is not None:
            save_image_encoder(encoder, os.path.join(directory, ENCODER_DIR))

    return save_model_dir(out_dir, MODEL_TYPE, captioner.generator,
                          preprocessor=captioner.preprocessor, config=config,
                          write_extra=write_extra)


def load_gru_captioner(path, jit_compile=True, weights_dtype=None) -> GruCaptioner:
    """A ``wgan_gru`` model dir -> :class:`GruCaptioner` (``weights_dtype`` is a ClipCap
    option: anything but None is refused)."""
    path = os.fspath(path)
    if weights_dtype is not None:
        raise ValueError(f"{path} is a wgan_gru model: weights_dtype={weights_dtype!r} "
                         f"applies to ClipCap models only")
    if not os.path.isfile(os.path.join(path, CONFIG_FILE)):
        raise FileNotFoundError(f"not a GRU captioner model dir: missing "
                                f"{os.path.join(path, CONFIG_FILE)}")
    generator, _, _, config = load_model_dir(path, {MODEL_TYPE}, GatedGruGenerator)
    vocabulary = WordVocabulary.load(os.path.join(path, config.get("vocabulary",
                                                                   VOCABULARY_FILE)))
    encoder = None
    if config.get("image_encoder"):
        encoder_dir = os.path.join(path, config["image_encoder"])
        if not os.path.isdir(encoder_dir):
            raise FileNotFoundError(f"{path}/{CONFIG_FILE} names image encoder "
                                    f"{config['image_encoder']!r} but {encoder_dir} is missing")
        encoder = load_image_encoder(encoder_dir)
    return GruCaptioner(generator, vocabulary, image_encoder=encoder,
                        max_length=config.get("max_length", 20), jit_compile=jit_compile)
