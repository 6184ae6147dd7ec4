"""Generated GPT-2 ids -> caption text -> CLIP and RoBERTa inputs, inside TensorFlow graphs.

CgT-GAN scores each sampled caption with two models that have their own tokenizers, so
the generator's ids are detokenized to text and tokenized again, as the reference does
with Python tokenizers. Every method here is a TensorFlow op (no Python per caption), so a
compiled train step and ``tf.data`` can call it.
"""

import tensorflow as tf

from tfcaption.data.caption_tokens import pad_token_batch


def strip_final_period(texts):
    """Strips surrounding whitespace and then one trailing ``"."`` (what CLIP reads)."""
    texts = tf.strings.strip(tf.convert_to_tensor(texts, tf.string))
    return tf.strings.regex_replace(texts, r"\.$", "")


class CaptionRetokenizer:
    """Converts generated captions between the generator's, CLIP's and RoBERTa's ids.

    Args:
      gpt2_tokenizer: the generator's tokenizer (``detokenize(ids, padding_mask)``).
      clip_tokenizer: a :class:`ClipTokenizer` (``pack``).
      roberta_tokenizer: a :class:`RobertaTokenizer` (``tokenize``, ``<s>``/``</s>``/``<pad>``).
      clip_length: CLIP's text context (77 for OpenAI's CLIPs).
      roberta_length: the discriminator's sequence length, ``<s>`` and ``</s>`` included
        (``max_gen_length + 2`` in CgT-GAN).
      strip_token_ids: generator ids left out of the text (its stop tokens that are not
        words, e.g. ``<|endoftext|>``).
    """

    def __init__(self, gpt2_tokenizer, clip_tokenizer, roberta_tokenizer, clip_length,
                 roberta_length, strip_token_ids=()):
        self.gpt2_tokenizer = gpt2_tokenizer
        self.clip_tokenizer = clip_tokenizer
        self.roberta_tokenizer = roberta_tokenizer
        self.clip_length = int(clip_length)
        self.roberta_length = int(roberta_length)
        self.strip_token_ids = tuple(int(i) for i in strip_token_ids)

    def texts(self, token_ids, lengths):
        """``[N, T]`` generated ids and ``[N]`` lengths -> ``[N]`` caption strings."""
        token_ids = tf.cast(token_ids, tf.int32)
        mask = tf.sequence_mask(lengths, tf.shape(token_ids)[-1])
        for token in self.strip_token_ids:
            mask = tf.logical_and(mask, tf.not_equal(token_ids, token))
        return self.gpt2_tokenizer.detokenize(token_ids, padding_mask=mask)

    def clip_token_ids(self, texts):
        """Captions -> ``[N, clip_length]`` CLIP ids of the text without its final period."""
        return self.clip_tokenizer.pack(strip_final_period(texts), self.clip_length)

    def roberta_inputs(self, texts):
        """Captions -> int32 ``{"token_ids", "padding_mask"}`` ``[N, roberta_length]``:
        ``<s>`` caption ``</s>`` (long captions truncated before ``</s>``), ``<pad>``;
        the mask is 1 on real tokens (int, as keras-hub's RoBERTa takes it, and as
        ``tf.distribute`` can reduce it)."""
        tok = self.roberta_tokenizer
        with tf.device("/cpu:0"):
            ids = tok.tokenize(tf.reshape(tf.convert_to_tensor(texts, tf.string), [-1]))
            token_ids, mask = pad_token_batch(ids, self.roberta_length, tok.pad_token_id,
                                              tok.start_token_id, tok.end_token_id)
        return {"token_ids": token_ids, "padding_mask": tf.cast(mask, tf.int32)}
