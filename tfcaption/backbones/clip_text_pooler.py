"""CLIP text pooling at the first end-of-text token."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="tfcaption")
class ClipTextPooler(keras.layers.Layer):
    """Takes each sequence's hidden state at the FIRST position whose id is ``eos_token_id``.

    This is what Hugging Face ``CLIPTextModel`` does when ``eos_token_id != 2``; keras-hub's
    ``CLIPTextPooler`` instead pools at ``argmax(token_ids)``, which is only the same
    when the end token has the largest id in the batch (true for OpenAI's vocabulary,
    false once tokens are added). Padding after the end token (Hugging Face pads CLIP
    with the end token itself) does not move the pooled position.

    A row without ``eos_token_id`` (hand-made ids, never produced by
    ``ClipTokenizer.pack``) is pooled at its last position, which under the causal
    mask has seen the whole row. (Hugging Face would take position 0 there.)

    Args:
      eos_token_id: id of ``<|endoftext|>`` (49407 in OpenAI's vocabulary).

    Call args:
      sequence_output: ``[B, L, D]`` final text hidden states.
      token_ids: ``[B, L]`` int ids.
    """

    def __init__(self, eos_token_id, **kwargs):
        super().__init__(**kwargs)
        self.eos_token_id = int(eos_token_id)

    def call(self, sequence_output, token_ids):
        token_ids = ops.cast(token_ids, "int32")
        length = ops.shape(token_ids)[1]
        positions = ops.expand_dims(ops.arange(length, dtype="int32"), 0)
        is_eos = ops.equal(token_ids, self.eos_token_id)
        first = ops.min(ops.where(is_eos, positions, length), axis=1)
        index = ops.where(ops.equal(first, length), length - 1, first)
        index = ops.expand_dims(ops.expand_dims(index, -1), -1)
        pooled = ops.take_along_axis(sequence_output, index, axis=1)
        return ops.squeeze(pooled, axis=1)

    def compute_output_shape(self, sequence_shape, token_ids_shape=None):
        return (sequence_shape[0], sequence_shape[-1])

    def get_config(self):
        config = super().get_config()
        config["eos_token_id"] = self.eos_token_id
        return config
