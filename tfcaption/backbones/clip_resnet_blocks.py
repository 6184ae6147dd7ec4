"""One stage (``layer1`` .. ``layer4``) of CLIP's ModifiedResNet: a run of Bottleneck blocks.

Sub-layer names and attributes mirror the OpenAI module names so that the checkpoint
converter is mechanical: ``layerS.I.conv1`` is ``stage.blocks[I].conv1``,
``layerS.I.downsample.0`` (the 1x1 conv) is ``stage.blocks[I].downsample[0]`` and
``layerS.I.downsample.1`` (its BatchNorm) is ``stage.blocks[I].downsample[1]``. In the
OpenAI code the anti-aliasing average pool of the shortcut is the ``"-1"`` entry of the
``downsample`` Sequential and has no weights; here it is ``block.downsample_pool``.
"""

import keras
from keras import layers

EXPANSION = 4
BN_EPSILON = 1e-5
BN_MOMENTUM = 0.9  # PyTorch's momentum=0.1 (only used when fine-tuning in training mode)


def conv(filters, kernel_size, name, dtype=None):
    """A bias-free "same"-padded stride-1 ``Conv2D`` (PyTorch ``Conv2d(bias=False)``)."""
    return layers.Conv2D(filters, kernel_size, padding="same", use_bias=False, dtype=dtype,
                         name=name)


def batch_norm(name, dtype=None):
    """``BatchNormalization`` with PyTorch ``BatchNorm2d`` defaults."""
    return layers.BatchNormalization(axis=-1, epsilon=BN_EPSILON, momentum=BN_MOMENTUM,
                                     dtype=dtype, name=name)


def _pooled(shape, stride):
    batch, height, width, channels = shape
    return (batch, None if height is None else height // stride,
            None if width is None else width // stride, channels)


@keras.saving.register_keras_serializable(package="tfcaption", name="ClipResNetBottleneck")
class _Bottleneck(layers.Layer):
    """conv1 1x1 -> bn1 -> relu -> conv2 3x3 -> bn2 -> relu -> avgpool(stride) -> conv3 1x1
    -> bn3, plus the (avgpool -> conv -> bn) shortcut when the shape changes; add, relu."""

    def __init__(self, inplanes, planes, stride=1, **kwargs):
        super().__init__(**kwargs)
        self.inplanes = int(inplanes)
        self.planes = int(planes)
        self.stride = int(stride)
        policy = self.dtype_policy
        self.conv1 = conv(self.planes, 1, "conv1", policy)
        self.bn1 = batch_norm("bn1", policy)
        self.conv2 = conv(self.planes, 3, "conv2", policy)
        self.bn2 = batch_norm("bn2", policy)
        self.avgpool = (layers.AveragePooling2D(self.stride, dtype=policy, name="avgpool")
                        if self.stride > 1 else None)
        self.conv3 = conv(self.planes * EXPANSION, 1, "conv3", policy)
        self.bn3 = batch_norm("bn3", policy)
        self.downsample_pool = None
        self.downsample = None
        if self.stride > 1 or self.inplanes != self.planes * EXPANSION:
            self.downsample_pool = layers.AveragePooling2D(self.stride, dtype=policy,
                                                           name="downsample_pool")
            self.downsample = [conv(self.planes * EXPANSION, 1, "downsample.0", policy),
                               batch_norm("downsample.1", policy)]

    def build(self, input_shape):
        shape = tuple(input_shape)
        if shape[-1] != self.inplanes:
            raise ValueError(f"{self.name}: expected {self.inplanes} input channels, "
                             f"got shape {shape}")
        inner = shape[:3] + (self.planes,)
        self.conv1.build(shape)
        self.bn1.build(inner)
        self.conv2.build(inner)
        self.bn2.build(inner)
        if self.avgpool is not None:
            self.avgpool.build(inner)
        pooled = _pooled(inner, self.stride)
        self.conv3.build(pooled)
        self.bn3.build(pooled[:3] + (self.planes * EXPANSION,))
        if self.downsample is not None:
            self.downsample_pool.build(shape)
            self.downsample[0].build(_pooled(shape, self.stride))
            self.downsample[1].build(pooled[:3] + (self.planes * EXPANSION,))

    def call(self, inputs, training=None):
        out = keras.ops.relu(self.bn1(self.conv1(inputs), training=training))
        out = keras.ops.relu(self.bn2(self.conv2(out), training=training))
        if self.avgpool is not None:
            out = self.avgpool(out)
        out = self.bn3(self.conv3(out), training=training)
        identity = inputs
        if self.downsample is not None:
            identity = self.downsample[1](self.downsample[0](self.downsample_pool(inputs)),
                                          training=training)
        return keras.ops.relu(out + identity)

    def compute_output_shape(self, input_shape):
        return _pooled(tuple(input_shape), self.stride)[:3] + (self.planes * EXPANSION,)

    def get_config(self):
        config = super().get_config()
        config.update(inplanes=self.inplanes, planes=self.planes, stride=self.stride)
        return config


@keras.saving.register_keras_serializable(package="tfcaption")
class ClipResNetBlocks(layers.Layer):
    """``blocks`` Bottleneck blocks; the first maps ``inplanes`` -> ``planes * 4`` channels
    and downsamples by ``stride`` (with an average pool, never a strided conv).

    Args:
      inplanes: input channels.
      planes: bottleneck width; the output has ``planes * 4`` channels.
      blocks: number of Bottleneck blocks (>= 1).
      stride: spatial reduction of the first block (1 or 2 in CLIP).
    """

    def __init__(self, inplanes, planes, blocks, stride=1, **kwargs):
        super().__init__(**kwargs)
        self.inplanes = int(inplanes)
        self.planes = int(planes)
        self.num_blocks = int(blocks)
        self.stride = int(stride)
        if self.num_blocks < 1:
            raise ValueError(f"a ClipResNetBlocks stage needs >= 1 block, got {blocks}")
        if self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        policy = self.dtype_policy
        self.blocks = [_Bottleneck(self.inplanes, self.planes, self.stride, dtype=policy,
                                   name="0")]
        self.blocks += [_Bottleneck(self.planes * EXPANSION, self.planes, 1, dtype=policy,
                                    name=str(i)) for i in range(1, self.num_blocks)]

    def build(self, input_shape):
        shape = tuple(input_shape)
        for block in self.blocks:
            block.build(shape)
            shape = block.compute_output_shape(shape)

    def call(self, inputs, training=None):
        x = inputs
        for block in self.blocks:
            x = block(x, training=training)
        return x

    def compute_output_shape(self, input_shape):
        return _pooled(tuple(input_shape), self.stride)[:3] + (self.planes * EXPANSION,)

    def get_config(self):
        config = super().get_config()
        config.update(inplanes=self.inplanes, planes=self.planes, blocks=self.num_blocks,
                      stride=self.stride)
        return config
