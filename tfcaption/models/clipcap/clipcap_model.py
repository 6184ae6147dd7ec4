"""The ClipCap captioner: mapping network + GPT-2, with a key/value-cached decoding step."""

import keras
import tensorflow as tf
from keras import ops

from tfcaption.backbones import gpt2_decoding
from tfcaption.backbones.gpt2_backbone import DEFAULT_LAYER_NORM_EPSILON, lm_logits
from tfcaption.decoding.decode import decode
from tfcaption.decoding.decoding_config import DecodingConfig
# registers the mapper classes, so a stored ClipCapModel deserialises wherever it is loaded
from tfcaption.models.clipcap import mlp_mapper, transformer_mapper  # noqa: F401


@keras.saving.register_keras_serializable(package="tfcaption")
class ClipCapModel(keras.Model):
    """Prefix embeddings from ``mapper`` concatenated with GPT-2 token embeddings, through
    GPT-2's blocks (keras-hub layers) and its tied LM head.

    Args:
      mapper: an :class:`MlpMapper` or :class:`TransformerMapper` (``prefix_dim`` ->
        ``[prefix_length, hidden_dim]``).
      gpt2: a keras-hub GPT-2 backbone (our :class:`GPT2Backbone`).
      normalize_prefix: L2-normalise the CLIP embedding before the mapper.
      only_prefix: train only the mapper; GPT-2 is frozen and runs in inference mode
        (no dropout), as the official ``ClipCaptionPrefix``.

    ``call({"prefix", "token_ids", "padding_mask"})`` returns float32 logits
    ``[B, L, V]`` where ``logits[:, t]`` predicts ``token_ids[:, t]`` (the first from the
    last prefix position). Decoding uses :meth:`prefill` and :meth:`step`, which follow
    the step interface of :mod:`tfcaption.decoding` (a cache of one
    ``[B, 2, heads, S, head_dim]`` tensor per block), on the lean cached forward of
    :mod:`tfcaption.backbones.gpt2_decoding`.
    """

    def __init__(self, mapper, gpt2, normalize_prefix=False, only_prefix=False, **kwargs):
        super().__init__(**kwargs)
        self.mapper = mapper
        self.gpt2 = gpt2
        self.normalize_prefix = bool(normalize_prefix)
        self.only_prefix = bool(only_prefix)
        if self.only_prefix:
            self.gpt2.trainable = False
        if mapper.embed_dim != gpt2.hidden_dim:
            raise ValueError(f"mapper output width {mapper.embed_dim} != GPT-2 hidden_dim "
                             f"{gpt2.hidden_dim}")
        self._generate_functions = {}
        self.build()  # every weight exists from construction (loading, optimizers)

    # --- properties --------------------------------------------------------------------
    @property
    def prefix_length(self):
        return self.mapper.prefix_length

    @property
    def prefix_dim(self):
        return self.mapper.prefix_dim

    @property
    def vocabulary_size(self):
        return self.gpt2.vocabulary_size

    def build(self, input_shape=None):
        if not self.mapper.built:
            self.mapper.build((None, self.prefix_dim))
        self.built = True

    # --- forward -----------------------------------------------------------------------
    def _gpt_training(self, training):
        return False if self.only_prefix else training

    def prefix_embeddings(self, prefix, training=None):
        """``[B, prefix_dim]`` CLIP embeddings -> ``[B, prefix_length, hidden]``."""
        prefix = ops.cast(prefix, "float32")
        if self.normalize_prefix:
            prefix = prefix / ops.maximum(ops.norm(prefix, axis=-1, keepdims=True), 1e-12)
        return self.mapper(prefix, training=training)

    def embed_tokens(self, token_ids):
        return self.gpt2.token_embedding(ops.cast(token_ids, "int32"))

    def hidden_states(self, embeddings, padding_mask=None, training=None):
        """GPT-2 over input embeddings ``[B, T, D]`` (positions from 0) -> final hidden."""
        gpt = self.gpt2
        training = self._gpt_training(training)
        x = gpt.embeddings_add((embeddings, gpt.position_embedding(embeddings)))
        x = gpt.embeddings_dropout(x, training=training)
        for layer in gpt.transformer_layers:
            x = layer(x, decoder_padding_mask=padding_mask, training=training)
        return gpt.layer_norm(x)

    def call(self, inputs, training=None):
        prefix = self.prefix_embeddings(inputs["prefix"], training=training)
        tokens = self.embed_tokens(inputs["token_ids"])
        embeddings = ops.concatenate([ops.cast(prefix, tokens.dtype), tokens], axis=1)
        mask = inputs.get("padding_mask")
        if mask is not None:
            mask = ops.concatenate(
                [ops.ones((ops.shape(mask)[0], self.prefix_length), "bool"),
                 ops.cast(mask, "bool")], axis=1)
        hidden = self.hidden_states(embeddings, mask, training=training)
        hidden = hidden[:, self.prefix_length - 1:-1]
        return ops.cast(lm_logits(self.gpt2, hidden), "float32")

    # --- cached decoding ---------------------------------------------------------------
    def decoding_weights(self, dtype=None):
        """GPT-2's weights gathered for :func:`gpt2_decoding.cached_forward` (fused
        query-key-value matrices; ``dtype`` "bfloat16" or "int8" stores them in half or a
        quarter of the bytes read per token)."""
        return gpt2_decoding.decoding_weights(self.gpt2, dtype)

    def init_cache(self, batch_size, length):
        """Zero key/value cache: a tuple with one ``[B, 2, heads, length, head_dim]``
        tensor per GPT-2 block."""
        return gpt2_decoding.init_cache(self.gpt2, batch_size, length,
                                        self.gpt2.compute_dtype)

    def call_with_cache(self, embeddings, cache, index, weights=None):
        """Input embeddings ``[B, T, D]`` written at cache positions ``index..index+T-1``
        -> (float32 logits ``[B, T, V]``, updated cache). ``weights`` from
        :meth:`decoding_weights` (gathered here when None)."""
        gpt = self.gpt2
        weights = self.decoding_weights() if weights is None else weights
        epsilon = getattr(gpt, "layer_norm_epsilon", DEFAULT_LAYER_NORM_EPSILON)
        return gpt2_decoding.cached_forward(weights, embeddings, cache, index, gpt.num_heads,
                                            epsilon, gpt.compute_dtype)

    def prefill(self, prefix, max_length, weights=None):
        """Runs the prefix: -> (next-token logits ``[B, V]``, cache with room for
        ``max_length`` generated tokens, index of the first generated token)."""
        embeddings = self.prefix_embeddings(prefix)
        cache = self.init_cache(ops.shape(embeddings)[0], self.prefix_length + max_length)
        logits, cache = self.call_with_cache(embeddings, cache, 0, weights)
        return logits[:, -1], cache, self.prefix_length

    def step(self, token_ids, cache, index, weights=None):
        """One generated token per row ``[N]`` at position ``index`` -> (logits, cache)."""
        logits, cache = self.call_with_cache(self.embed_tokens(token_ids[:, None]), cache,
                                             index, weights)
        return logits[:, 0], cache

    def generate_ids(self, prefix, decoding, seed=None, weights=None):
        """Decodes from CLIP embeddings ``[B, prefix_dim]`` -> a ``DecodeResult``
        (``token_ids [B, R, T]``, ``lengths [B, R]``, ``scores [B, R]``). Traceable:
        usable inside a compiled train step (e.g. sampling for a GAN).
        ``weights``: a copy of :meth:`decoding_weights` (e.g. bfloat16 or int8) to decode
        with; None reads the model's own variables."""
        config = DecodingConfig.parse(decoding)
        weights = self.decoding_weights() if weights is None else weights
        first_logits, cache, start = self.prefill(prefix, config.max_length, weights)

        def step(token_ids, cache, index):
            return self.step(token_ids, cache, index, weights)
        return decode(step, first_logits, cache, start, config, seed=seed)

    def generate_function(self, decoding, jit_compile=True, weights=None):
        """A ``tf.function(prefix [B, prefix_dim], seed [2]) -> DecodeResult`` compiled
        once per decoding setting (XLA when ``jit_compile``), reused across calls and
        batch sizes. ``weights`` (see :meth:`generate_ids`) are read by reference: a
        nest of variables can be updated in place without recompiling."""
        config = DecodingConfig.parse(decoding)
        key = (config, bool(jit_compile), None if weights is None else id(weights))
        if key not in self._generate_functions:
            @tf.function(jit_compile=bool(jit_compile), reduce_retracing=True,
                         input_signature=[tf.TensorSpec([None, self.prefix_dim], tf.float32),
                                          tf.TensorSpec([2], tf.int32)])
            def generate(prefix, seed):
                return self.generate_ids(prefix, config, seed=seed, weights=weights)
            self._generate_functions[key] = generate
        return self._generate_functions[key]

    # --- serialisation -----------------------------------------------------------------
    def get_config(self):
        config = super().get_config()
        config.update(mapper=keras.saving.serialize_keras_object(self.mapper),
                      gpt2=keras.saving.serialize_keras_object(self.gpt2),
                      normalize_prefix=self.normalize_prefix, only_prefix=self.only_prefix)
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["mapper"] = keras.saving.deserialize_keras_object(config["mapper"])
        config["gpt2"] = keras.saving.deserialize_keras_object(config["gpt2"])
        return cls(**config)
