"""The batching loop every captioner's ``generate`` shares: compiled decoding per batch, ids
cut at their lengths, text from the captioner's detokenizer."""

import numpy as np
import tensorflow as tf


def batched_captions(function, inputs, num_return_sequences, detokenize, return_ids=False,
                     return_scores=False, batch_size=64, seed=0, start_index=0):
    """Runs ``function(inputs[batch], seed [2]) -> DecodeResult`` over ``inputs`` in batches.

    Sampling is seeded per batch by ``(seed, start_index + index of the batch's first
    row)``, so captioning a long list in chunks, each with ``start_index`` set to the
    chunk's offset, gives the same captions as one call.

    Returns a list of strings, or of lists of strings when ``num_return_sequences > 1``;
    with ``return_ids`` / ``return_scores`` a dict ``{"captions", "token_ids", "scores"}``
    (ids cut at each caption's length).
    """
    ids, scores = [], []
    for start in range(0, int(inputs.shape[0]), batch_size):
        step_seed = tf.constant([int(seed), int(start_index) + start], tf.int32)
        result = function(inputs[start:start + batch_size], step_seed)
        for row, row_lengths in zip(result.token_ids.numpy(), result.lengths.numpy()):
            ids.append([row[r, :n].tolist() for r, n in enumerate(row_lengths)])
        scores.extend(result.scores.numpy().tolist())
    captions = [[detokenize(seq) for seq in row] for row in ids]
    if num_return_sequences == 1:
        captions = [row[0] for row in captions]
    if not (return_ids or return_scores):
        return captions
    out = {"captions": captions}
    if return_ids:
        out["token_ids"] = ids
    if return_scores:
        out["scores"] = np.asarray(scores, np.float32)
    return out
