"""The ATTEND-GAN generator with what it needs to caption, and its attention maps."""

import os

import numpy as np
import tensorflow as tf

from tfcaption.models.attend_gan.attention_lstm_generator import AttentionLstmGenerator
from tfcaption.models.word_captioner import WordCaptioner


class AttendGanCaptioner(WordCaptioner):
    """Captions images (or their region grids ``[B, *grid_shape, feature_dim]``) with an
    :class:`AttentionLstmGenerator` (arguments: :class:`WordCaptioner`), and shows where
    it looked: ``generate(..., return_attention=True)`` adds each caption's attention
    maps, and with ``attention_dir`` every image file captioned through
    :func:`~tfcaption.models.caption_files.caption_files` (``tfcaption.caption``) gets
    ``attention_dir/<file name>.png``, the image with each word's map overlaid
    (:func:`~tfcaption.evaluation.attention_figure.save_attention_figure`)."""

    model_type = "attend_gan"
    model_class = AttentionLstmGenerator
    feature_name = "region features"

    def __init__(self, model, vocabulary, image_encoder=None, max_length=16, jit_compile=True,
                 attention_dir=None):
        super().__init__(model, vocabulary, image_encoder, max_length, jit_compile)
        self.attention_dir = attention_dir
        self._attention_fn = None
        self._written = set()

    @property
    def feature_shape(self):
        return (*self.model.grid_shape, self.model.feature_dim)

    def attention(self, features, token_ids):
        """The attention maps ``[len, *grid_shape]`` (float32 numpy) behind each generated
        sequence: ``features`` ``[B, ...]``, ``token_ids`` a list of ``B`` id lists (as
        generated: each word's map is the one the generator used to choose it). The
        teacher-forced pass over ``<start>`` and the words is the decoding's own
        computation."""
        if self._attention_fn is None:
            model = self.model
            self._attention_fn = tf.function(
                lambda f, i: model.unroll(f, i)["attention"], reduce_retracing=True)
        longest = max([len(ids) for ids in token_ids] + [1])
        inputs = np.zeros([len(token_ids), longest], np.int32)
        inputs[:, 0] = self.vocabulary.start_id
        for row, ids in enumerate(token_ids):
            inputs[row, 1:len(ids)] = ids[:-1] if ids else []
        maps = self._attention_fn(tf.convert_to_tensor(features, tf.float32),
                                  tf.constant(inputs)).numpy()
        grid = tuple(self.model.grid_shape)
        return [maps[row, :len(ids)].reshape((len(ids),) + grid)
                for row, ids in enumerate(token_ids)]

    def generate(self, inputs, decoding="greedy", return_ids=False, return_scores=False,
                 return_attention=False, **kwargs):
        """:meth:`Captioner.generate`; ``return_attention`` adds ``"attention"``: per
        image, the maps ``[words, *grid_shape]`` of its caption (a list of them, one per
        caption, with ``num_return_sequences > 1``)."""
        if not return_attention:
            return super().generate(inputs, decoding, return_ids=return_ids,
                                    return_scores=return_scores, **kwargs)
        features = self.feature_inputs(inputs)
        out = super().generate(features, decoding, return_ids=True,
                               return_scores=return_scores, **kwargs)
        per_caption = [len(row) for row in out["token_ids"]]
        repeated = np.repeat(features.numpy(), per_caption, axis=0)
        maps = self.attention(repeated, [ids for row in out["token_ids"] for ids in row])
        grouped, start = [], 0
        for count in per_caption:
            grouped.append(maps[start] if count == 1 else maps[start:start + count])
            start += count
        out["attention"] = grouped
        if not return_ids:
            del out["token_ids"]
        return out

    def words(self, token_ids):
        """The vocabulary tokens of one sequence (``<end>`` included)."""
        return [self.vocabulary.id_to_token(int(i)) for i in token_ids]

    def after_caption_files(self, paths, images, result):
        """With ``attention_dir``: one attention figure per image file (its first
        caption)."""
        if not self.attention_dir or not paths:
            return
        from tfcaption.evaluation.attention_figure import save_attention_figure

        first = [row[0] for row in result["token_ids"]]
        maps = self.attention(self.encode_images(images), first)
        for path, ids, attention, caption in zip(paths, first, maps, result["captions"]):
            caption = caption if isinstance(caption, str) else caption[0]
            save_attention_figure(path, self.words(ids), attention, self.figure_path(path),
                                  title=caption)

    def figure_path(self, image_path):
        """``attention_dir/<image file name without extension>.png`` (``_2``, ``_3``, …
        added when two images of one run share a name)."""
        stem = os.path.splitext(os.path.basename(image_path))[0]
        name, count = stem, 1
        while name in self._written:
            count += 1
            name = f"{stem}_{count}"
        self._written.add(name)
        return os.path.join(self.attention_dir, name + ".png")
