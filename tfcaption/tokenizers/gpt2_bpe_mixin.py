"""GPT-2's byte-level BPE as one TensorFlow path, for keras-hub tokenizer subclasses."""

import tensorflow as tf

from tfcaption.tokenizers.bpe_files import write_bpe_files
from tfcaption.tokenizers.bpe_ids import words_to_ids
from tfcaption.tokenizers.gpt2_words import split_gpt2_words


class GPT2BpeMixin:
    """Tokenize / detokenize with GPT-2's exact word splitting, eagerly and in graphs.

    Listed before a keras-hub ``BytePairTokenizer`` subclass that uses GPT-2's byte-level
    BPE (``GPT2Tokenizer``, ``RobertaTokenizer``), it replaces that class's ``call``,
    ``tokenize`` and ``detokenize``: every call, eager or in ``tf.data``, runs
    :func:`~tfcaption.tokenizers.gpt2_words.split_gpt2_words`, then keras-hub's BPE merge
    loop, cache and vocabulary tables, and returns ``tf`` tensors (keras-hub 0.32 runs
    eager calls on a pure-Python path whose pre-tokenizer is Llama-3's, not GPT-2's, and
    returns Python lists). Outputs are never padded, so ``sequence_length`` must stay None.
    """

    def __init__(self, vocabulary=None, merges=None, **kwargs):
        if kwargs.get("sequence_length") is not None:
            raise ValueError(f"{type(self).__name__} does not pad: sequence_length must be "
                             f"None; pad in the pipeline and pass a padding mask")
        kwargs["_allow_python_workflow"] = False  # one TF path, eager and in graphs
        super().__init__(vocabulary=vocabulary, merges=merges, **kwargs)

    def call(self, inputs, *args, training=None, **kwargs):
        return self.tokenize(inputs)

    def save_to_directory(self, directory: str) -> None:
        """Writes ``vocab.json`` + ``merges.txt`` (with GPT-2's header) into ``directory``."""
        self._check_vocabulary()
        write_bpe_files(directory, self.vocabulary, self.merges)

    @tf.autograph.experimental.do_not_convert
    def tokenize(self, inputs):
        """Strings -> int32 ids: 1-D for a scalar, ``RaggedTensor`` for a 1-D batch."""
        self._check_vocabulary()
        self._maybe_initialized_tf()
        with tf.device("/cpu:0"):
            text = tf.convert_to_tensor(inputs, tf.string)
            if text.shape.rank is None or text.shape.rank > 1:
                raise ValueError(f"tokenize() takes a string or a 1-D batch of strings, "
                                 f"got shape {text.shape}")
            words = split_gpt2_words(tf.reshape(text, [-1]), self.unsplittable_tokens,
                                     self.add_prefix_space)
            out = words_to_ids(self, words)
            return out[0] if text.shape.rank == 0 else out

    @tf.autograph.experimental.do_not_convert
    def detokenize(self, inputs, padding_mask=None):
        """Ids -> strings. ``inputs``: 1-D ids (-> scalar) or ``[batch, len]`` dense or
        ragged (-> 1-D). ``padding_mask`` (same shape, True = real token) drops padding.
        Invalid UTF-8 (e.g. a cut multi-byte character) becomes U+FFFD, as in HF."""
        self._check_vocabulary()
        self._maybe_initialized_tf()
        with tf.device("/cpu:0"):
            if isinstance(inputs, (list, tuple)):
                inputs = tf.ragged.constant(inputs)
            ids = inputs if isinstance(inputs, tf.RaggedTensor) else tf.convert_to_tensor(inputs)
            if ids.shape.rank not in (1, 2):
                raise ValueError(f"detokenize() takes 1-D or 2-D ids, got shape {ids.shape}")
            if padding_mask is not None and not isinstance(padding_mask, tf.RaggedTensor):
                padding_mask = tf.convert_to_tensor(padding_mask, tf.bool)
            single = ids.shape.rank == 1
            if single:
                ids = ids[None]
                padding_mask = None if padding_mask is None else padding_mask[None]
            if not isinstance(ids, tf.RaggedTensor):
                ids = tf.RaggedTensor.from_tensor(ids)
            if padding_mask is not None:
                ids = tf.ragged.boolean_mask(ids, padding_mask)
            tokens = self.id_to_token_map.lookup(tf.cast(ids, tf.int32))
            checks = [tf.debugging.assert_equal(
                tf.reduce_any(tf.equal(tokens.flat_values, "")), False,
                message="detokenize(): ids not in the GPT-2 vocabulary")]
            with tf.control_dependencies(checks):
                symbols = tf.strings.unicode_split(tf.strings.reduce_join(tokens, axis=-1),
                                                   "UTF-8")
            raw = tf.strings.reduce_join(self.unicode2byte.lookup(symbols), axis=-1)
            text = tf.strings.unicode_transcode(raw, "UTF-8", "UTF-8", errors="replace",
                                                replacement_char=0xFFFD,
                                                replace_control_characters=False)
            return text[0] if single else text
