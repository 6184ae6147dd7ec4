"""Caption cleaning for word-level (LSTM/GRU) models, as TensorFlow string ops.

``clean_captions`` uses only ``tf.strings`` ops (no ``py_function``), so it runs eagerly
and inside ``tf.data.Dataset.map``, on a scalar or a tensor of any shape (e.g.
``[batch, captions_per_image]``) or a ``tf.RaggedTensor``.

The defaults follow the Flickr8k/COCO captioning tutorials that the Show-and-Tell style
models come from (Brownlee's "photo caption generator", the DenseNet201 Flickr8k
notebook, the Keras/TF examples):

1. lower-case (UTF-8 aware: "ÉCOLE" -> "école");
2. delete punctuation and symbols, i.e. Unicode ``\\p{P}`` and ``\\p{S}``, which
   include all of ``string.punctuation``. Characters are deleted, not replaced by a
   space, as the tutorials do: "it's" -> "its", "t-shirt" -> "tshirt";
3. drop every word that contains a digit (Unicode ``\\p{N}``), as the tutorials'
   ``word.isalpha()`` filter does, so "2nd" leaves no "nd" behind;
4. drop one-character words. The tutorials drop *all* of them, "a" included ("remove
   all words that are one character or less in length (e.g. 'a')"); pass
   ``keep_single_chars="a"`` (or ``"ai"``, ...) to keep some;
5. collapse whitespace (any Unicode whitespace) to single spaces and strip;
6. optionally wrap in start/end tags: ``"<start> a cat <end>"`` (``"<start> <end>"``
   for a caption that cleaned to nothing).

Words are whitespace-separated, so ``WordVocabulary`` splits cleaned text on spaces.

GPT-2 based models (ClipCap, CgT-GAN, ViT-GPT2) take the raw caption text untouched:
byte-level BPE needs no cleaning, and the pretrained model expects natural casing and
punctuation. Do not apply this op to their captions.
"""

import tensorflow as tf

# Unicode whitespace (RE2's \s is ASCII only) and controls that act as separators.
_SPACES = r"[\s\x{0b}\p{Z}\x{85}\x{1c}-\x{1f}]+"
_PUNCTUATION = r"[\p{P}\p{S}]"
_HAS_DIGIT = r".*\p{N}.*"


def _clean_flat(text, lowercase, strip_punctuation, strip_digits, drop_single_chars,
                keep_single_chars, add_tags, start_tag, end_tag):
    if lowercase:
        text = tf.strings.lower(text, encoding="utf-8")
    if strip_punctuation:
        text = tf.strings.regex_replace(text, _PUNCTUATION, "")
    text = tf.strings.regex_replace(text, _SPACES, " ")
    words = tf.strings.split(tf.strings.strip(text), sep=" ")  # [n, (words)]
    keep = tf.not_equal(words, "")
    if strip_digits:
        keep = keep & ~tf.strings.regex_full_match(words, _HAS_DIGIT)
    if drop_single_chars:
        long_enough = tf.strings.length(words, unit="UTF8_CHAR") > 1
        if keep_single_chars:
            for char in keep_single_chars:
                long_enough = long_enough | tf.equal(words, char)
        keep = keep & long_enough
    text = tf.strings.reduce_join(tf.ragged.boolean_mask(words, keep), axis=-1,
                                  separator=" ")
    if add_tags:
        tagged = tf.strings.join([start_tag, text, end_tag], separator=" ")
        text = tf.where(tf.equal(text, ""), f"{start_tag} {end_tag}", tagged)
    return text


@tf.autograph.experimental.do_not_convert
def clean_captions(text, lowercase: bool = True, strip_punctuation: bool = True,
                   strip_digits: bool = True, drop_single_chars: bool = True,
                   add_tags: bool = False, start_tag: str = "<start>",
                   end_tag: str = "<end>", keep_single_chars: str = ""):
    """Cleans caption text for word-level models (see the module docstring).

    Args:
      text: string tensor of any shape (or ``tf.RaggedTensor``, or Python str/list).
      lowercase: lower-case, UTF-8 aware.
      strip_punctuation: delete Unicode punctuation and symbol characters.
      strip_digits: drop words that contain a digit.
      drop_single_chars: drop one-character words, except ``keep_single_chars``.
      add_tags: wrap each caption as ``"<start_tag> ... <end_tag>"``.
      start_tag, end_tag: tag words (non-empty, no whitespace); added after cleaning,
        so punctuation in them survives.
      keep_single_chars: characters whose one-character words are kept when
        ``drop_single_chars`` is on (compared after lower-casing), e.g. ``"a"``.

    Returns:
      A string tensor of the same shape (ragged in, ragged out).
    """
    for name, tag in (("start_tag", start_tag), ("end_tag", end_tag)):
        if not isinstance(tag, str) or not tag or tag != "".join(tag.split()):
            raise ValueError(f"{name}={tag!r}: must be a non-empty string without whitespace")
    if not isinstance(keep_single_chars, str):
        raise TypeError(f"keep_single_chars must be a str of characters, got "
                        f"{type(keep_single_chars).__name__}")
    options = dict(lowercase=lowercase, strip_punctuation=strip_punctuation,
                   strip_digits=strip_digits, drop_single_chars=drop_single_chars,
                   keep_single_chars=keep_single_chars, add_tags=add_tags,
                   start_tag=start_tag, end_tag=end_tag)
    if isinstance(text, tf.RaggedTensor):
        if text.dtype != tf.string:
            raise TypeError(f"clean_captions() takes strings, got {text.dtype.name}")
        return tf.ragged.map_flat_values(lambda t: _clean_flat(t, **options), text)
    text = tf.convert_to_tensor(text)
    if text.dtype != tf.string:
        raise TypeError(f"clean_captions() takes strings, got {text.dtype.name}")
    flat = _clean_flat(tf.reshape(text, [-1]), **options)
    return tf.reshape(flat, tf.shape(text))
