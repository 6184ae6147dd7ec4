"""ClipCap decoding at the real size (GPT-2 124M, prefix 10, 20 tokens): tfcaption's compiled
decoding vs Hugging Face ``generate(inputs_embeds=...)`` with its key/value cache, and vs the
official ClipCap loop (no cache, one image at a time).

    python bench/clipcap_decode.py [--runs=5] [--smoke] [--only=greedy_b1,beam5_b16,...]

Every caption runs the full 20 tokens on both sides (no stop token), so both do the same
work; the random-weight captions are compared token by token. ``--smoke`` decodes with a
tiny GPT-2 (``sizes.py``) instead.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipcap_pair  # noqa: E402
import harness  # noqa: E402

MAX_LENGTH = 20
GREEDY_BATCHES = (1, 16, 64)
BEAM_BATCHES = (1, 16)
BEAM_SIZE = 5
OFFICIAL_BATCH = 16
WEIGHT_MODES = ("bfloat16", "int8")
TARGETS = {"greedy": {1: 1.0, 16: 0.6, 64: None}, "beam": 0.7, "official": 1 / 20,
           "bfloat16": 0.6, "int8": 0.6}


def prefixes(batch, dim, seed=0):
    return np.random.default_rng(seed).normal(size=(batch, dim)).astype(np.float32)


def agreement(ours, reference):
    """Fraction of token positions where the two [N, T] id arrays agree."""
    ours, reference = np.asarray(ours), np.asarray(reference)
    return round(float(np.mean(ours == reference)), 3)


class Sides:
    """Both implementations, with the same weights, and their decoding calls."""

    def __init__(self, ctx):
        import tensorflow as tf
        import torch

        self.tf, self.torch = tf, torch
        self.reference, self.ours = clipcap_pair.clipcap_pair(ctx.sizes, seed=0)
        self.reference.to(ctx.torch_device)
        self.ctx = ctx
        self.prefix_dim = ctx.sizes.prefix_dim
        self.weights = {}  # weights dtype -> the copy a ClipCapCaptioner would make

    def copy(self, weights_dtype):
        if weights_dtype is None:
            return None
        if weights_dtype not in self.weights:
            self.weights[weights_dtype] = self.ours.decoding_weights(weights_dtype)
        return self.weights[weights_dtype]

    def config(self, method, **kwargs):
        return dict(method=method, max_length=MAX_LENGTH, stop_token_ids=[], **kwargs)

    def ours_fn(self, config, batch, weights_dtype=None):
        tf = self.tf
        function = self.ours.generate_function(config, jit_compile=True,
                                               weights=self.copy(weights_dtype))
        prefix = tf.constant(prefixes(batch, self.prefix_dim))
        seed = tf.constant([0, 0], tf.int32)

        def call():
            return function(prefix, seed).token_ids.numpy()[:, 0]
        return call

    def reference_fn(self, batch, **generate_kwargs):
        torch = self.torch
        model = self.reference

        device = self.ctx.torch_device

        def call():
            with torch.inference_mode(), self.ctx.autocast():
                embeds = model.prefix_embeddings(
                    torch.from_numpy(prefixes(batch, self.prefix_dim)).to(device))
                out = model.gpt.generate(
                    inputs_embeds=embeds, attention_mask=torch.ones(
                        embeds.shape[:2], dtype=torch.long, device=device),
                    max_new_tokens=MAX_LENGTH, min_new_tokens=MAX_LENGTH, eos_token_id=None,
                    pad_token_id=0, use_cache=True, **generate_kwargs)
            return out.cpu().numpy()
        return call

    def greedy_flops(self, batch):
        context = self.ctx.sizes.prefix_length + MAX_LENGTH // 2
        return batch * MAX_LENGTH * clipcap_pair.gpt2_flops_per_token(
            self.reference.gpt.config, context)

    def official_fn(self, batch):
        from torch_clipcap import official_generate_greedy
        torch = self.torch

        def call():
            rows = []
            with torch.inference_mode(), self.ctx.autocast():
                for x in prefixes(batch, self.prefix_dim):
                    embed = self.reference.prefix_embeddings(
                        torch.from_numpy(x[None]).to(self.ctx.torch_device))
                    rows.append(official_generate_greedy(self.reference, embed,
                                                         stop_token_id=-1,
                                                         max_length=MAX_LENGTH))
            return np.array(rows)
        return call


def run(ctx, only=None):
    sides = Sides(ctx)
    wanted = (lambda name: only is None or name in only)
    rows = []
    greedy_timings = {}
    for batch in GREEDY_BATCHES:
        name = f"greedy_b{batch}"
        if not (wanted(name) or (batch == OFFICIAL_BATCH and wanted("official_b16"))):
            continue
        ours, ours_ids = ctx.time(sides.ours_fn(sides.config("greedy"), batch))
        greedy_timings[batch] = ours
        if not wanted(name):
            continue
        ref, ref_ids = ctx.time(sides.reference_fn(batch, do_sample=False, num_beams=1))
        rows.append(harness.row(
            name, f"greedy, batch {batch}, vs HF generate (cache)", ours, ref,
            target=TARGETS["greedy"][batch], items=batch,
            checks={"token agreement": agreement(ours_ids, ref_ids)},
            flops=sides.greedy_flops(batch)))
    for batch in BEAM_BATCHES:
        name = f"beam5_b{batch}"
        if not wanted(name):
            continue
        ours, ours_ids = ctx.time(sides.ours_fn(sides.config("beam", beam_size=BEAM_SIZE),
                                                batch))
        ref, ref_ids = ctx.time(sides.reference_fn(batch, do_sample=False,
                                                   num_beams=BEAM_SIZE, length_penalty=1.0,
                                                   early_stopping=True))
        rows.append(harness.row(
            name, f"beam {BEAM_SIZE}, batch {batch}, vs HF generate (cache)", ours, ref,
            target=TARGETS["beam"], items=batch,
            checks={"token agreement": agreement(ours_ids, ref_ids)},
            flops=BEAM_SIZE * sides.greedy_flops(batch)))
    if wanted("official_b16"):
        ref, ref_ids = ctx.time(sides.official_fn(OFFICIAL_BATCH))
        ours_ids = sides.ours_fn(sides.config("greedy"), OFFICIAL_BATCH)()
        rows.append(harness.row(
            "official_b16", f"greedy, batch {OFFICIAL_BATCH}, vs the official ClipCap loop "
            "(no cache, one image at a time)", greedy_timings[OFFICIAL_BATCH], ref,
            target=TARGETS["official"], items=OFFICIAL_BATCH,
            checks={"token agreement": agreement(ours_ids, ref_ids)}))
    for mode in WEIGHT_MODES:
        name = f"greedy_b1_{mode}"
        if not wanted(name):
            continue
        rows.append(weight_mode_row(ctx, sides, mode, name))
    return rows


def weight_mode_row(ctx, sides, mode, name):
    ours, ours_ids = ctx.time(sides.ours_fn(sides.config("greedy"), 1, weights_dtype=mode))
    float_ids = sides.ours_fn(sides.config("greedy"), 1)()
    ref, _ = ctx.time(sides.reference_fn(1, do_sample=False, num_beams=1))
    many = 64
    quantised = sides.ours_fn(sides.config("greedy"), many, weights_dtype=mode)()
    full = sides.ours_fn(sides.config("greedy"), many)()
    return harness.row(
        name, f"greedy, batch 1, {mode} weights, vs HF generate (float32, cache)", ours, ref,
        target=TARGETS[mode], items=1,
        checks={"same ids as float32 (64 captions)": agreement(quantised, full),
                "batch 1": agreement(ours_ids, float_ids)})


def only_option(parser):
    parser.add_argument("--only", default=None, help="comma-separated row names")
    return lambda args: {"only": None if args.only is None else args.only.split(",")}


if __name__ == "__main__":
    harness.standalone(run, only_option)
