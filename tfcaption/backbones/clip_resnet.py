"""The OpenAI CLIP ResNet image tower ("ModifiedResNet": RN50, RN101, RN50x4, RN50x16, RN50x64).

Differences from a torchvision ResNet, all reproduced here: a stem of three 3x3 convs
(stride 2, 1, 1) with an average pool instead of a max pool; strided blocks downsample with
an average pool after the 3x3 conv (and before the shortcut's 1x1 conv) instead of a strided
conv; and the head is :class:`AttentionPool2d` instead of global average pooling.

Layer names mirror the OpenAI module names (``conv1``, ``bn1``, ``layer1`` .. ``layer4``,
``attnpool``) so that :mod:`tfcaption.backbones.clip_resnet_loader` maps checkpoint keys
mechanically. Images are channels-last ``[B, H, W, 3]``, CLIP-preprocessed
(``ImagePreprocessor("clip", image_resolution)``).
"""

import keras
from keras import layers

from tfcaption.backbones.attention_pool_2d import AttentionPool2d
from tfcaption.backbones.clip_resnet_blocks import EXPANSION, ClipResNetBlocks, batch_norm, \
    conv

# Architectures of the OpenAI releases (what ``clip.model.build_model`` infers from them).
CLIP_RESNET_VARIANTS = {
    "RN50": dict(stage_blocks=(3, 4, 6, 3), width=64, output_dim=1024, image_resolution=224),
    "RN101": dict(stage_blocks=(3, 4, 23, 3), width=64, output_dim=512, image_resolution=224),
    "RN50x4": dict(stage_blocks=(4, 6, 10, 6), width=80, output_dim=640, image_resolution=288),
    "RN50x16": dict(stage_blocks=(6, 8, 18, 8), width=96, output_dim=768,
                    image_resolution=384),
    "RN50x64": dict(stage_blocks=(3, 15, 36, 10), width=128, output_dim=1024,
                    image_resolution=448),
}


def default_heads(width):
    """OpenAI's rule: ``width * 32 // 64`` heads over the ``width * 32`` channel grid."""
    return int(width) * 32 // 64


@keras.saving.register_keras_serializable(package="tfcaption")
class ClipResNet(keras.Model):
    """CLIP ModifiedResNet image encoder: ``[B, R, R, 3]`` float images -> ``[B, output_dim]``.

    Args:
      stage_blocks: Bottleneck blocks in ``layer1`` .. ``layer4`` (OpenAI's ``layers``).
      width: stem / ``layer1`` width (64 for RN50); the grid before pooling has
        ``width * 32`` channels.
      output_dim: embedding size (``attnpool.c_proj`` outputs).
      heads: attention-pool heads; ``None`` means ``width * 32 // 64`` as in OpenAI's code.
      image_resolution: input side ``R``; must be a multiple of 32.
      dtype: dtype policy of every layer (a name such as ``"mixed_bfloat16"``, a
        ``keras.DTypePolicy`` or its config); ``None`` is Keras' global policy.
    """

    def __init__(self, stage_blocks=(3, 4, 6, 3), width=64, output_dim=1024, heads=None,
                 image_resolution=224, dtype=None, **kwargs):
        stage_blocks = tuple(int(n) for n in stage_blocks)
        width, output_dim, image_resolution = int(width), int(output_dim), int(image_resolution)
        if len(stage_blocks) != 4 or min(stage_blocks) < 1:
            raise ValueError(f"stage_blocks must be 4 positive counts, got {stage_blocks}")
        if width < 2 or width % 2:
            raise ValueError(f"width must be a positive even number, got {width}")
        if image_resolution < 32 or image_resolution % 32:
            raise ValueError(f"image_resolution must be a positive multiple of 32, "
                             f"got {image_resolution}")
        num_heads = default_heads(width) if heads is None else int(heads)
        policy = keras.dtype_policies.get(dtype)

        images = keras.Input((image_resolution, image_resolution, 3), name="images")
        x = layers.ZeroPadding2D(1, dtype=policy, name="pad1")(images)  # PyTorch padding=1
        x = layers.Conv2D(width // 2, 3, strides=2, use_bias=False, dtype=policy,
                          name="conv1")(x)
        x = layers.ReLU(dtype=policy, name="relu1")(batch_norm("bn1", policy)(x))
        x = conv(width // 2, 3, "conv2", policy)(x)
        x = layers.ReLU(dtype=policy, name="relu2")(batch_norm("bn2", policy)(x))
        x = conv(width, 3, "conv3", policy)(x)
        x = layers.ReLU(dtype=policy, name="relu3")(batch_norm("bn3", policy)(x))
        x = layers.AveragePooling2D(2, dtype=policy, name="avgpool")(x)
        inplanes = width
        for index, blocks in enumerate(stage_blocks):
            planes = width * 2 ** index
            x = ClipResNetBlocks(inplanes, planes, blocks, stride=1 if index == 0 else 2,
                                 dtype=policy, name=f"layer{index + 1}")(x)
            inplanes = planes * EXPANSION
        features = AttentionPool2d(image_resolution // 32, width * 32, num_heads, output_dim,
                                   dtype=policy, name="attnpool")(x)
        super().__init__(inputs=images, outputs=features, **kwargs)

        self.stage_blocks = stage_blocks
        self.width = width
        self.output_dim = output_dim
        self.heads = None if heads is None else num_heads
        self.num_heads = num_heads
        self.image_resolution = image_resolution
        self.layer_dtype_policy = policy

    @classmethod
    def from_variant(cls, variant, **kwargs):
        """A randomly initialised ``"RN50"``, ``"RN101"``, ``"RN50x4"``, ... tower."""
        if variant not in CLIP_RESNET_VARIANTS:
            raise ValueError(f"unknown CLIP ResNet variant {variant!r}; choose one of "
                             f"{sorted(CLIP_RESNET_VARIANTS)}")
        return cls(**CLIP_RESNET_VARIANTS[variant], **kwargs)

    @property
    def embed_dim(self):
        """Channels of the grid fed to the attention pool (``width * 32``)."""
        return self.width * 32

    def encode_image(self, images, training=False):
        """CLIP-preprocessed ``[B, R, R, 3]`` images -> ``[B, output_dim]`` (inference mode
        unless ``training``, as ``ClipModel.encode_image`` takes it)."""
        return self(images, training=bool(training))

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "stage_blocks": list(self.stage_blocks),
            "width": self.width,
            "output_dim": self.output_dim,
            "heads": self.heads,
            "image_resolution": self.image_resolution,
            "dtype": keras.dtype_policies.serialize(self.layer_dtype_policy),
        }

    @classmethod
    def from_config(cls, config):
        return cls(**config)
