"""Generated GPT-2 token ids -> caption text, shared by the GPT-2 captioners (ClipCap,
ViT-GPT2); :class:`tfcaption.serving.graph_detokenizer.GraphDetokenizer` is the same in
graph ops."""

import tensorflow as tf


def gpt2_caption_text(tokenizer, token_ids, strip_token_ids) -> str:
    """One generated sequence (list of ids) -> its text: trailing ``strip_token_ids`` (e.g.
    ``<|endoftext|>``) dropped, the bytes decoded, surrounding spaces stripped."""
    token_ids = list(token_ids)
    while token_ids and token_ids[-1] in strip_token_ids:
        token_ids = token_ids[:-1]
    if not token_ids:
        return ""
    text = tokenizer.detokenize(tf.constant(token_ids, tf.int32))
    return text.numpy().decode("utf-8").strip()
