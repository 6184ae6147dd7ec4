"""A T5-style SentencePiece tokenizer (``spiece.model``) in the graph, with tensorflow-text:
the ids of Hugging Face's ``T5Tokenizer`` (eos appended) and its
``decode(..., skip_special_tokens=True)`` text (stripped), usable in ``tf.data`` and in a
SavedModel."""

import os

import tensorflow as tf
import tensorflow_text as tf_text

MODEL_FILE = "spiece.model"
SPECIAL_PIECES = ("<pad>", "</s>", "<unk>")


class SentencePieceTokenizer:
    """Args:
      model: the serialized SentencePiece model (the bytes of ``spiece.model``).
      source: where it was read from, for error messages.
    """

    def __init__(self, model: bytes, source="spiece.model"):
        self.model = bytes(model)
        self.source = str(source)
        self._sentencepiece = tf_text.SentencepieceTokenizer(model=self.model, add_eos=True)
        self._without_eos = tf_text.SentencepieceTokenizer(model=self.model)
        ids = self._sentencepiece.string_to_id(list(SPECIAL_PIECES)).numpy().tolist()
        self.pad_id, self.eos_id, self.unk_id = (int(i) for i in ids)
        if self.eos_id == self.unk_id:
            raise ValueError(f"{self.source}: the SentencePiece model has no '</s>' piece")
        self.special_ids = tuple(sorted({self.pad_id, self.eos_id, self.unk_id}))

    @classmethod
    def load(cls, directory):
        """Reads ``directory/spiece.model``; a missing file is named in the error."""
        path = os.path.join(os.fspath(directory), MODEL_FILE)
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{directory}: missing {MODEL_FILE} (the SentencePiece "
                                    f"model; tokenizer.json alone cannot run in the graph)")
        with open(path, "rb") as f:
            return cls(f.read(), source=path)

    @property
    def vocabulary_size(self) -> int:
        return int(self._sentencepiece.vocab_size())

    def tokenize(self, texts, add_eos=True):
        """Strings ``[B]`` (or one string) -> int32 ids, ending with eos unless ``add_eos``
        is False (ragged ``[B, None]`` for a batch, ``[None]`` for one string)."""
        if add_eos:
            return tf.cast(self._sentencepiece.tokenize(texts), tf.int32)
        return tf.cast(self._without_eos.tokenize(texts), tf.int32)

    def pieces(self):
        """Every id's piece (``"▁a"``, ``"</s>"``, ...), as a list of str."""
        ids = tf.range(self.vocabulary_size)
        return [p.decode("utf-8") for p in self._sentencepiece.id_to_string(ids).numpy()]

    def detokenize(self, token_ids):
        """Ids ``[B, T]`` (dense or ragged) -> strings ``[B]`` without the special tokens
        and without surrounding whitespace (Hugging Face's ``decode(...,
        skip_special_tokens=True).strip()``)."""
        ids = token_ids if isinstance(token_ids, tf.RaggedTensor) else \
            tf.RaggedTensor.from_tensor(tf.convert_to_tensor(token_ids, tf.int32))
        ids = tf.cast(ids, tf.int32)
        keep = tf.reduce_all(tf.not_equal(ids[..., None], list(self.special_ids)), axis=-1)
        return tf.strings.strip(self._sentencepiece.detokenize(tf.ragged.boolean_mask(ids, keep)))

    def save_to_directory(self, directory):
        """Writes ``spiece.model`` into ``directory``."""
        with open(os.path.join(os.fspath(directory), MODEL_FILE), "wb") as f:
            f.write(self.model)
