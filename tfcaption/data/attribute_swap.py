"""Hard-negative captions: one attribute word swapped for another of its group.

With in-batch negatives alone, a contrastive model can match images to captions by
the easiest attribute (on ``shapes``: the set of colours) and ignore the rest. A
caption with exactly one attribute word replaced ("a red circle" -> "a red star") is
a negative that only the swapped attribute tells apart, so training against it makes
the image embedding carry that attribute.

The swap runs in TensorFlow ops on a batch of strings, so it works inside
``tf.data.Dataset.map``. Words match whole whitespace-separated tokens, ignoring
trailing punctuation ("circle," matches "circle"); the article before a swapped word
follows the new word ("a red" <-> "an orange").
"""

from typing import Sequence

import tensorflow as tf

VOWELS = "aeiou"


class AttributeSwap:
    """Replaces one random attribute word per caption with another word of its group.

    Args:
      groups: word groups, e.g. ``[["red", "green", ...], ["circle", "square", ...]]``;
        a word is replaced only by another word of its own group. Each group needs at
        least two words and a word may belong to one group only.
      seed: optional op seed for the random choices.

    Calling it on a ``[B]`` string tensor returns ``(negatives, swapped)``: the
    captions with one word swapped, and a ``[B]`` bool that is False where a caption
    has no attribute word (its "negative" is the caption itself and must be ignored).
    """

    def __init__(self, groups: Sequence[Sequence[str]], seed=None):
        groups = [[str(w).lower() for w in g] for g in groups]
        if not groups:
            raise ValueError("AttributeSwap needs at least one word group")
        seen = {}
        for i, group in enumerate(groups):
            if len(set(group)) < 2:
                raise ValueError(f"word group {i} {group} needs at least two distinct words")
            for word in group:
                if not word.isalpha():
                    raise ValueError(f"word group {i}: {word!r} is not a single word of letters")
                if word in seen and seen[word] != i:
                    raise ValueError(f"word {word!r} is in groups {seen[word]} and {i}")
                seen[word] = i
        groups = [list(dict.fromkeys(g)) for g in groups]
        self.groups = groups
        self.seed = seed
        words = [w for g in groups for w in g]
        offsets, sizes = [], []
        for g in groups:
            offsets.extend([sum(sizes)] * len(g))
            sizes.append(len(g))
        self._words = tf.constant(words)
        self._offset = tf.constant(offsets, tf.int64)  # per word: start of its group
        self._size = tf.constant([len(g) for g in groups for _ in g], tf.int64)
        self._table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(tf.constant(words),
                                                tf.range(len(words), dtype=tf.int64)),
            default_value=-1)

    def __call__(self, captions):
        captions = tf.convert_to_tensor(captions, tf.string)
        tokens = tf.strings.split(captions)                      # ragged [B, (T)]
        core = tf.strings.regex_replace(tf.strings.lower(tokens), r"[^a-z]+$", "")
        tail = tf.strings.regex_replace(tokens, r"^.*?([^A-Za-z]*)$", r"\1")
        index = tf.ragged.map_flat_values(self._table.lookup, core)
        is_word = index >= 0
        # One random attribute position per caption: argmax of noise over attribute words.
        noise = tf.ragged.map_flat_values(
            lambda v: tf.random.uniform(tf.shape(v), 1.0, 2.0, seed=self.seed), core)
        score = tf.where(is_word, noise, tf.zeros_like(noise)).to_tensor(0.0)
        chosen = tf.argmax(score, axis=-1)
        swapped = tf.reduce_max(score, axis=-1) > 0.0
        dense_index = index.to_tensor(-1)
        old = tf.maximum(tf.gather(dense_index, chosen, batch_dims=1), 0)
        size = tf.gather(self._size, old)
        shift = tf.random.uniform(tf.shape(old), 1, 1 << 30, dtype=tf.int64,
                                  seed=self.seed) % (size - 1) + 1
        new = tf.gather(self._offset, old) + (old - tf.gather(self._offset, old) + shift) % size
        new_word = tf.gather(self._words, new)
        article = tf.where(tf.strings.substr(new_word, 0, 1) == "a", "an", "a")
        for vowel in VOWELS[1:]:
            article = tf.where(tf.strings.substr(new_word, 0, 1) == vowel, "an", article)
        positions = tf.ragged.range(tokens.row_lengths())
        at_word = tf.equal(positions, tf.expand_dims(chosen, 1)) & tf.expand_dims(swapped, 1)
        before = tf.equal(positions + 1, tf.expand_dims(chosen, 1)) & tf.expand_dims(swapped, 1)
        before &= tf.ragged.map_flat_values(lambda c: (c == "a") | (c == "an"), core)
        per_token = lambda values: tf.gather(values, tokens.value_rowids())  # noqa: E731
        out = tf.ragged.map_flat_values(
            lambda t, w, b, tl: tf.where(w, tf.strings.join([per_token(new_word), tl]),
                                         tf.where(b, tf.strings.join([per_token(article), tl]),
                                                  t)),
            tokens, at_word, before, tail)
        return tf.strings.reduce_join(out, axis=-1, separator=" "), swapped
