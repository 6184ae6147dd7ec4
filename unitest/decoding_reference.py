"""Plain numpy/python reference decoders for the decoding tests: one row at a time, logits
recomputed from the full history every step (no cache)."""

import numpy as np


def log_softmax(logits):
    x = np.asarray(logits, np.float64)
    shifted = x - x.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def greedy_reference(model, prefix, max_length, stop_token_ids=()):
    """``(tokens, score)`` of greedy decoding for one row."""
    tokens, score = [], 0.0
    for _ in range(max_length):
        logits = model.logits_of(prefix, tokens)
        token = int(np.argmax(logits))
        score += log_softmax(logits)[token]
        tokens.append(token)
        if token in stop_token_ids:
            break
    return tokens, score


def beam_reference(model, prefix, beam_size, max_length, stop_token_ids=(), length_penalty=1.0,
                   temperature=1.0):
    """The official ClipCap ``generate_beam`` loop for one image, with ``lengths ** alpha``
    in place of ``lengths``. Returns ``[(tokens, length, score)]`` best first."""
    vocab = model.vocab_size
    stops = np.asarray(stop_token_ids, np.int64)
    tokens = scores = None
    lengths = np.ones(beam_size)
    stopped = np.zeros(beam_size, bool)
    for _ in range(max_length):
        if tokens is None:
            log_probs = log_softmax(model.logits_of(prefix, []) / temperature)
            top = np.argsort(-log_probs, kind="stable")[:beam_size]
            scores, tokens = log_probs[top], top[:, None]
        else:
            log_probs = np.stack([log_softmax(model.logits_of(prefix, row) / temperature)
                                  for row in tokens])
            log_probs[stopped] = -np.inf
            log_probs[stopped, 0] = 0.0
            sums = scores[:, None] + log_probs
            lengths[~stopped] += 1
            average = (sums / (lengths[:, None] ** length_penalty)).reshape(-1)
            top = np.argsort(-average, kind="stable")[:beam_size]
            source, new = top // vocab, top % vocab
            lengths = lengths[source]
            tokens = np.concatenate([tokens[source], new[:, None]], axis=1)
            scores = average[top] * lengths ** length_penalty
            stopped = stopped[source]
        stopped = stopped | np.isin(tokens[:, -1], stops)
        if stopped.all():
            break
    final = scores / lengths ** length_penalty
    order = np.argsort(-final, kind="stable")
    return [(tokens[k, :int(lengths[k])].tolist(), int(lengths[k]), final[k]) for k in order]


def filter_reference(logits, temperature=1.0, top_k=0, top_p=1.0):
    """float64 logits after temperature, top-k and top-p, ``-inf`` where removed, for one
    row: top-k keeps values >= the k-th largest; top-p keeps the smallest set of most
    probable tokens (ties: lower id first) whose probability sum reaches ``top_p``."""
    x = np.asarray(logits, np.float64) / temperature
    if 0 < top_k < x.size:
        x = np.where(x < np.sort(x)[::-1][top_k - 1], -np.inf, x)
    if top_p < 1.0:
        order = np.argsort(-x, kind="stable")
        cumulative = np.cumsum(np.exp(log_softmax(x[order])))
        count = int(np.argmax(cumulative >= top_p)) + 1
        keep = np.zeros(x.size, bool)
        keep[order[:count]] = True
        x = np.where(keep, x, -np.inf)
    return x
