"""ImageNet CNN feature extractors for the LSTM/GRU captioners, via ``keras.applications``.

===================  ===============================  ==============  =============
name                 output                           application     preprocessing
===================  ===============================  ==============  =============
resnet152_res5c      ``[B, 7, 7, 2048]`` grid (224px)  ResNet152       caffe
resnet50_pooled      ``[B, 2048]`` global average      ResNet50        caffe
densenet201_pooled   ``[B, 1920]`` global average      DenseNet201     torch
===================  ===============================  ==============  =============

``weights`` passes straight to ``keras.applications``: ``None`` (random), ``"imagenet"``
(downloaded by Keras, needs internet) or a path to a local weights file.

``preprocessing`` overrides the application's scaling with another
:data:`~tfcaption.data.image_ops.IMAGENET_MODES` value, e.g. ``"unit"`` (x / 255, no mean
or std) for weights trained on features extracted that way. The choice is part of the
encoder's preprocessor, so a model dir written with it keeps it.
"""

import os

import keras

from tfcaption.backbones.loaded_backbone import LoadedBackbone
from tfcaption.data.image_ops import IMAGENET_MODES
from tfcaption.data.image_preprocessor import ImagePreprocessor

ENCODERS = {
    "resnet152_res5c": ("ResNet152", None, "caffe", "conv5_block3_out"),
    "resnet50_pooled": ("ResNet50", "avg", "caffe", None),
    "densenet201_pooled": ("DenseNet201", "avg", "torch", None),
}


def load_cnn_encoder(name, weights=None, image_size=224, preprocessing=None) -> LoadedBackbone:
    """Builds the named encoder -> :class:`LoadedBackbone` (model_type ``"cnn"``);
    ``preprocessing`` None is the application's own mode (the table above)."""
    if name not in ENCODERS:
        raise ValueError(f"unknown CNN encoder {name!r}; choose one of {sorted(ENCODERS)}")
    if preprocessing is not None and preprocessing not in IMAGENET_MODES:
        raise ValueError(f"CNN encoder preprocessing {preprocessing!r} is not one of "
                         f"{IMAGENET_MODES}")
    if isinstance(weights, (str, os.PathLike)) and weights != "imagenet":
        weights = os.fspath(weights)
        if not os.path.isfile(weights):
            raise FileNotFoundError(f"CNN weights file not found: {weights}")
    application, pooling, mode, output_layer = ENCODERS[name]
    base = getattr(keras.applications, application)(
        include_top=False, weights=weights, pooling=pooling,
        input_shape=(image_size, image_size, 3))
    if output_layer is not None and base.output.name != base.get_layer(output_layer).output.name:
        base = keras.Model(base.input, base.get_layer(output_layer).output)
    model = keras.Model(base.input, base.output, name=name)
    preprocessor = ImagePreprocessor("imagenet", image_size,
                                     imagenet_mode=preprocessing or mode)
    config = {"name": name, "image_size": int(image_size),
              "weights": weights if weights is None or isinstance(weights, str) else None,
              "output_shape": list(model.output.shape[1:])}
    return LoadedBackbone(model=model, model_type="cnn", preprocessor=preprocessor,
                          config=config)
