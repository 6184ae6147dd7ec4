"""CLIP (ViT or ResNet image tower + causal text tower + projections + logit scale)."""

import keras
import numpy as np
from keras import ops
from keras_hub.models import CLIPTextEncoder, CLIPVisionEncoder

from tfcaption.backbones.clip_resnet import ClipResNet
from tfcaption.backbones.clip_text_pooler import ClipTextPooler

ACTIVATIONS = ("quick_gelu", "gelu")
VISION_TYPES = ("vit", "resnet")


def l2_normalize(x):
    """As Hugging Face / OpenAI: ``x / ||x||`` over the last axis (no epsilon)."""
    return x / ops.sqrt(ops.sum(ops.square(x), axis=-1, keepdims=True))


def class_token_block(block, x, training=None):
    """A keras-hub ``CLIPEncoderLayer`` computed for the class token only: the class
    token's query attends to every token's key and value, then the MLP runs on the class
    token alone. The image embedding reads nothing else from the last block, so this is
    its exact result for 1/50 of the queries and MLP rows (about 7% of ViT-B/32's work).
    ``x`` ``[B, N, D]`` -> ``[B, 1, D]``."""
    normed = block.layer_norm_1(x)
    x = x[:, :1] + block.attention(normed[:, :1], normed, normed, training=training)
    return x + block.dense_2(block.activation(block.dense_1(block.layer_norm_2(x))))


def similarity_logits(image_embeds, text_embeds, logit_scale):
    """``exp(logit_scale) * cos(image_i, text_j)`` -> ``[num_images, num_texts]``."""
    scale = ops.exp(ops.cast(logit_scale, image_embeds.dtype))
    return ops.matmul(l2_normalize(image_embeds), ops.transpose(l2_normalize(text_embeds))) * scale


@keras.saving.register_keras_serializable(package="tfcaption")
class ClipModel(keras.Model):
    """CLIP with Hugging Face ``CLIPModel`` numerics, built from plain config values.

    Reuses keras-hub's ``CLIPVisionEncoder`` and ``CLIPTextEncoder`` and adds what
    they lack or get wrong for converted / trained checkpoints:

    - every LayerNorm epsilon comes from the config (keras-hub hard-codes 1e-5 in the
      vision tower and blocks and 1e-6 for the final text LayerNorm; HF uses
      ``layer_norm_eps``, 1e-5 by default);
    - the vision position ids (a zero-initialised int variable in keras-hub, filled
      only by its presets) are set to ``arange``; text positions are ``arange`` slices;
    - text pooling at the first ``eos_token_id`` (:class:`ClipTextPooler`), not
      ``argmax(token_ids)``;
    - ``visual_projection`` / ``text_projection`` (no bias) and a trainable
      ``logit_scale`` kept in log space (logits use ``exp(logit_scale)``), as HF/OpenAI.

    ``vision_type="resnet"`` replaces the ViT with OpenAI's ModifiedResNet image tower
    (:class:`ClipResNet`: conv stem, bottleneck stages, attention pool), whose attention
    pool outputs the ``projection_dim`` embedding itself, as in OpenAI's RN50 CLIPs (there
    is no ``visual_projection`` then). Its convolutions see small shapes far better than
    patches do when a CLIP is trained from scratch on little data.

    Defaults are OpenAI ViT-B/32. Built on construction, so ``from_config`` +
    ``load_weights`` work directly.

    Args (vision): ``vision_patch_size``, ``vision_hidden_dim``, ``vision_num_layers``,
      ``vision_num_heads``, ``vision_intermediate_dim``, ``vision_image_size`` (square
      input side), ``vision_intermediate_activation`` ("quick_gelu" for OpenAI
      checkpoints, or "gelu" = exact erf GELU), ``vision_layer_norm_epsilon``;
      ``vision_type`` ("vit" or "resnet"); for "resnet" only ``vision_image_size`` (a
      multiple of 32), ``vision_stage_blocks`` (4 block counts), ``vision_width`` and
      ``vision_heads`` (attention-pool heads; ``None`` = ``width * 32 // 64``) apply.
    Args (text): ``text_vocabulary_size``, ``text_embedding_dim`` (must equal
      ``text_hidden_dim``, as in CLIP), ``text_hidden_dim``, ``text_num_layers``,
      ``text_num_heads``, ``text_intermediate_dim``, ``text_max_sequence_length``,
      ``text_intermediate_activation``, ``text_layer_norm_epsilon``.
    Args (joint): ``projection_dim``; ``eos_token_id`` (pooling id, 49407 for OpenAI's
      vocabulary); ``logit_scale_init`` (log of the initial temperature inverse,
      HF ``logit_scale_init_value`` = 2.6592 = log(1/0.07)).

    Inputs are CLIP-preprocessed float images ``[B, H, W, 3]`` (channels last) and int
    token ids ``[B, L]`` (L <= ``text_max_sequence_length``) holding an end token.
    """

    def __init__(self,
                 vision_patch_size=32, vision_hidden_dim=768, vision_num_layers=12,
                 vision_num_heads=12, vision_intermediate_dim=3072, vision_image_size=224,
                 vision_intermediate_activation="quick_gelu", vision_layer_norm_epsilon=1e-5,
                 text_vocabulary_size=49408, text_embedding_dim=512, text_hidden_dim=512,
                 text_num_layers=12, text_num_heads=8, text_intermediate_dim=2048,
                 text_max_sequence_length=77, text_intermediate_activation="quick_gelu",
                 text_layer_norm_epsilon=1e-5, projection_dim=512, eos_token_id=49407,
                 logit_scale_init=2.6592, vision_type="vit", vision_stage_blocks=(3, 4, 6, 3),
                 vision_width=64, vision_heads=None, **kwargs):
        super().__init__(**kwargs)
        if vision_type not in VISION_TYPES:
            raise ValueError(f"vision_type {vision_type!r} is not one of {VISION_TYPES}")
        for which, act in (("vision", vision_intermediate_activation),
                           ("text", text_intermediate_activation)):
            if act not in ACTIVATIONS:
                raise ValueError(f"{which}_intermediate_activation {act!r} is not one of "
                                 f"{ACTIVATIONS}")
        if int(text_embedding_dim) != int(text_hidden_dim):
            raise ValueError(f"text_embedding_dim ({text_embedding_dim}) must equal "
                             f"text_hidden_dim ({text_hidden_dim}): CLIP's residual "
                             f"stream has one width")
        if vision_type == "vit" and int(vision_image_size) % int(vision_patch_size):
            raise ValueError(f"vision_image_size {vision_image_size} is not a multiple of "
                             f"vision_patch_size {vision_patch_size}")
        self.vision_patch_size = int(vision_patch_size)
        self.vision_hidden_dim = int(vision_hidden_dim)
        self.vision_num_layers = int(vision_num_layers)
        self.vision_num_heads = int(vision_num_heads)
        self.vision_intermediate_dim = int(vision_intermediate_dim)
        self.vision_image_size = int(vision_image_size)
        self.vision_intermediate_activation = vision_intermediate_activation
        self.vision_layer_norm_epsilon = float(vision_layer_norm_epsilon)
        self.text_vocabulary_size = int(text_vocabulary_size)
        self.text_embedding_dim = int(text_embedding_dim)
        self.text_hidden_dim = int(text_hidden_dim)
        self.text_num_layers = int(text_num_layers)
        self.text_num_heads = int(text_num_heads)
        self.text_intermediate_dim = int(text_intermediate_dim)
        self.text_max_sequence_length = int(text_max_sequence_length)
        self.text_intermediate_activation = text_intermediate_activation
        self.text_layer_norm_epsilon = float(text_layer_norm_epsilon)
        self.projection_dim = int(projection_dim)
        self.eos_token_id = int(eos_token_id)
        self.logit_scale_init = float(logit_scale_init)
        self.vision_type = vision_type
        self.vision_stage_blocks = tuple(int(n) for n in vision_stage_blocks)
        self.vision_width = int(vision_width)
        self.vision_heads = None if vision_heads is None else int(vision_heads)

        dtype = self.dtype_policy
        if vision_type == "resnet":
            self.vision_encoder = ClipResNet(
                stage_blocks=self.vision_stage_blocks, width=self.vision_width,
                output_dim=self.projection_dim, heads=self.vision_heads,
                image_resolution=self.vision_image_size, dtype=dtype, name="vision_encoder")
        else:
            self._build_vit(dtype)
        self.text_encoder = CLIPTextEncoder(
            vocabulary_size=self.text_vocabulary_size,
            embedding_dim=self.text_embedding_dim, hidden_dim=self.text_hidden_dim,
            num_layers=self.text_num_layers, num_heads=self.text_num_heads,
            intermediate_dim=self.text_intermediate_dim,
            intermediate_activation=text_intermediate_activation,
            max_sequence_length=self.text_max_sequence_length, dtype=dtype,
            name="text_encoder")
        for norm in self.text_layer_norms():
            norm.epsilon = self.text_layer_norm_epsilon

        self.text_pooler = ClipTextPooler(self.eos_token_id, dtype=dtype, name="text_pooler")
        self.text_projection = keras.layers.Dense(
            self.projection_dim, use_bias=False, dtype=dtype, name="text_projection")
        self.text_projection.build((None, self.text_hidden_dim))
        self.logit_scale = self.add_weight(
            shape=(), initializer=keras.initializers.Constant(self.logit_scale_init),
            trainable=True, name="logit_scale")
        self.built = True

    def _build_vit(self, dtype):
        size = self.vision_image_size
        self.vision_encoder = CLIPVisionEncoder(
            patch_size=self.vision_patch_size, hidden_dim=self.vision_hidden_dim,
            num_layers=self.vision_num_layers, num_heads=self.vision_num_heads,
            intermediate_dim=self.vision_intermediate_dim,
            intermediate_activation=self.vision_intermediate_activation,
            image_shape=(size, size, 3), data_format="channels_last", dtype=dtype,
            name="vision_encoder")
        for norm in self.vision_layer_norms():
            norm.epsilon = self.vision_layer_norm_epsilon
        embedding = self.vision_encoder.embedding
        embedding.position_ids.assign(
            np.arange(embedding.num_positions, dtype="int64")[None, :])
        self.visual_projection = keras.layers.Dense(
            self.projection_dim, use_bias=False, dtype=dtype, name="visual_projection")
        self.visual_projection.build((None, self.vision_hidden_dim))

    # --- structure -------------------------------------------------------------------

    def vision_layer_norms(self):
        """Every LayerNorm of the ViT image tower (pre, 2 per block, post)."""
        if self.vision_type != "vit":
            raise ValueError(f"vision_layer_norms(): the image tower is a {self.vision_type}, "
                             f"which has batch norms, not layer norms")
        enc = self.vision_encoder
        norms = [enc.pre_layer_norm]
        for block in enc.encoder_layers:
            norms += [block.layer_norm_1, block.layer_norm_2]
        return norms + [enc.layer_norm]

    def text_layer_norms(self):
        """Every LayerNorm of the text tower (2 per block, final)."""
        norms = []
        for block in self.text_encoder.encoder_layers:
            norms += [block.layer_norm_1, block.layer_norm_2]
        return norms + [self.text_encoder.layer_norm]

    def count_parameters(self):
        """Number of parameters as PyTorch counts them: the trainable weights (the int
        ``position_ids`` variable keras-hub keeps in the image tower is a buffer, not a
        parameter, so it is excluded; ``count_params()`` includes it)."""
        return int(sum(np.prod(w.shape) for w in self.trainable_weights))

    # --- forward ---------------------------------------------------------------------

    def encode_image(self, images, training=None):
        """CLIP-preprocessed ``[B, H, W, 3]`` float images -> ``[B, projection_dim]``
        (not normalised)."""
        images = ops.cast(images, self.compute_dtype)
        if self.vision_type == "resnet":
            return self.vision_encoder(images, training=training)
        encoder = self.vision_encoder
        x = encoder.pre_layer_norm(encoder.embedding(images))
        for block in encoder.encoder_layers[:-1]:
            x = block(x, training=training)
        x = class_token_block(encoder.encoder_layers[-1], x, training)
        return self.visual_projection(encoder.layer_norm(x)[:, 0, :])

    def encode_text(self, token_ids, training=None):
        """``[B, L]`` int ids (with an end token; anything may follow it) ->
        ``[B, projection_dim]`` (not normalised)."""
        token_ids = ops.cast(token_ids, "int32")
        sequence = self.text_encoder({"token_ids": token_ids}, training=training)
        return self.text_projection(self.text_pooler(sequence, token_ids))

    def call(self, inputs, training=None):
        """``{"images", "token_ids"}`` -> ``{"image_embeds", "text_embeds",
        "logits_per_image"}``; embeddings unnormalised, ``logits_per_image[i, j] =
        exp(logit_scale) * cos(image_i, text_j)`` (``[B_images, B_texts]``)."""
        image_embeds = self.encode_image(inputs["images"], training=training)
        text_embeds = self.encode_text(inputs["token_ids"], training=training)
        logits = similarity_logits(image_embeds, text_embeds, self.logit_scale)
        return {"image_embeds": image_embeds, "text_embeds": text_embeds,
                "logits_per_image": logits}

    # --- serialisation ---------------------------------------------------------------

    def get_config(self):
        """The constructor arguments; only the image tower's own settings are written."""
        config = super().get_config()
        if self.vision_type == "resnet":
            config.update({
                "vision_type": self.vision_type,
                "vision_stage_blocks": list(self.vision_stage_blocks),
                "vision_width": self.vision_width,
                "vision_heads": self.vision_heads,
            })
        else:
            config.update({
                "vision_patch_size": self.vision_patch_size,
                "vision_hidden_dim": self.vision_hidden_dim,
                "vision_num_layers": self.vision_num_layers,
                "vision_num_heads": self.vision_num_heads,
                "vision_intermediate_dim": self.vision_intermediate_dim,
                "vision_intermediate_activation": self.vision_intermediate_activation,
                "vision_layer_norm_epsilon": self.vision_layer_norm_epsilon,
            })
        config.update({
            "vision_image_size": self.vision_image_size,
            "text_vocabulary_size": self.text_vocabulary_size,
            "text_embedding_dim": self.text_embedding_dim,
            "text_hidden_dim": self.text_hidden_dim,
            "text_num_layers": self.text_num_layers,
            "text_num_heads": self.text_num_heads,
            "text_intermediate_dim": self.text_intermediate_dim,
            "text_max_sequence_length": self.text_max_sequence_length,
            "text_intermediate_activation": self.text_intermediate_activation,
            "text_layer_norm_epsilon": self.text_layer_norm_epsilon,
            "projection_dim": self.projection_dim,
            "eos_token_id": self.eos_token_id,
            "logit_scale_init": self.logit_scale_init,
        })
        return config

    @classmethod
    def from_config(cls, config):
        return cls(**config)
