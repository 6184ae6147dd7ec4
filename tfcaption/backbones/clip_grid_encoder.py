"""A CLIP ResNet image tower cut before its attention pool: a grid of region features."""

import keras

from tfcaption.backbones.clip_resnet import ClipResNet
from tfcaption.backbones.loaded_backbone import LoadedBackbone

GRID_LAYER = "layer4"


def clip_grid_encoder(loaded: LoadedBackbone) -> LoadedBackbone:
    """A CLIP with a ResNet image tower (``clip`` or ``clip_resnet``, from
    :func:`~tfcaption.backbones.clip_image_encoder.load_clip_image_encoder`) -> an
    encoder of its last stage's grid, ``[B, R/32, R/32, width * 32]`` (e.g. 7x7x2048
    for RN50 at 224 px), with the same preprocessing. It is a plain Keras model
    (model type ``"cnn"``), saved and loaded as one."""
    tower = loaded.model if isinstance(loaded.model, ClipResNet) else \
        getattr(loaded.model, "vision_encoder", None)
    if not isinstance(tower, ClipResNet):
        raise ValueError(f"a grid of region features needs a CLIP ResNet image tower; this "
                         f"{loaded.model_type} has a {type(tower).__name__} (use a CNN "
                         f"encoder such as resnet152_res5c)")
    model = keras.Model(tower.inputs, tower.get_layer(GRID_LAYER).output,
                        name="clip_resnet_grid")
    config = {"name": "clip_resnet_grid", "image_size": int(tower.image_resolution),
              "output_shape": list(model.output.shape[1:])}
    return LoadedBackbone(model=model, model_type="cnn", preprocessor=loaded.preprocessor,
                          config=config)
