"""One CgT-GAN training step at the real size: tfcaption's :class:`CgtGanModel` train step
(called through the train function ``fit`` uses) vs the official CgT-GAN step in PyTorch.

    python bench/cgtgan_step.py [--runs=5] [--smoke] [--reference=official,teacher_forced]

The step, for a batch of ``BATCH`` images: a greedy caption and ``NUM_SAMPLES`` sampled
captions (multinomial, temperature 1) of at most ``MAX_GEN_LENGTH`` GPT-2 tokens per image,
stopping at ``"."``; the captions decoded to text and re-tokenized for CLIP and RoBERTa; the
CLIP-agg reward (CLIP text embedding vs the image's target text embedding, cos_w 0.5,
clip_w 0); the discriminator's logit; the discriminator update (BCE, ``BATCH *
NUM_SAMPLES`` real corpus sentences labelled 1, the samples 0); the generator update
(``rw * reward_loss + (1 - rw) * fd_loss``, self-critical policy gradient with the greedy
baseline on length-normalised log-probabilities); AdamW (lr 1e-5, eps 1e-8, weight decay
0.05, gradient-norm clip 1.0) for both.

Models, all at their real sizes with random weights, the same weights on both sides:

- generator: ClipCap, GPT-2 124M (vocabulary 50257) + MLP mapper, prefix 10 from 512-d CLIP
  embeddings (:func:`clipcap_pair.clipcap_pair`);
- reward model: CLIP ViT-B/32 (a Hugging Face ``CLIPModel`` saved as a Hugging Face
  directory and read with ``load_clip``; only its text tower runs);
- discriminator: roberta-base's size (12 layers, 768 wide, vocabulary 50265, 514
  positions), a Hugging Face ``RobertaModel`` saved as a Hugging Face directory and read
  with ``load_roberta``, with CgT-GAN's 768 -> 384 -> 1 head, built as
  ``cgtgan_training.build_discriminator_from`` builds it for ``model.discriminator.path``.

``--smoke`` builds the three models tiny instead (``sizes.py``; the same vocabularies and
tokenizer files).

Tokenizers (nothing can be downloaded): a synthetic GPT-2 byte-level BPE of GPT-2's size
(256 byte symbols, 50000 merges of ASCII letters, mostly space-prefixed 3-letter "words",
``<|endoftext|>`` = 50256) in the real ``vocab.json`` + ``merges.txt`` format; RoBERTa's
derived from it (``write_roberta_from_gpt2``, roberta-base's layout); CLIP's real-size
49,408-token vocabulary as in the CLIP parity test. The reference reads the same files with
Hugging Face's ``GPT2Tokenizer``, ``RobertaTokenizer`` and ``CLIPTokenizer``.

The reference (``--reference=official``, the default) follows the released code,
github.com/Lihr747/CgtGAN: ``cgtgan.py`` ``train`` (the step) and
``generate_with_baseline``, ``models.py`` ``ClipCaptionModel.generate_cap`` / ``generate``
(its own decoding loop with GPT-2's key/value cache: greedy in ``eval`` mode under
``no_grad``; the samples drawn in ``train`` mode with autograd on, so the log-probabilities
of the sampled tokens, length-normalised over the unfinished positions, come from the
sampling pass itself and the generator's backward runs through it),
``ScstRewardCLIPCriterion`` / ``ClipDiscriminator`` (the reward) and
``RobertaDiscriminator`` (``pad_and_token``, the BCE forward in ``train`` mode, ``PG_loss``
with an ``eval``-mode ``no_grad`` forward). The discriminator's optimizer is stepped (as in
the repository's later ``cgtgan.py``; its last commit omits ``optimizer_D.step()``; ours
updates it, ``train.update_discriminator`` true). ``transformers.AdamW`` is gone from
transformers 5: ``torch.optim.AdamW`` is the same algorithm (bias-corrected, decoupled
decay), with the reference's parameter groups (no decay for ``bias`` and
``LayerNorm.weight``). LR schedulers are constant (no warmup) on both sides.

``--reference=teacher_forced`` adds a row against a second PyTorch step that computes what
ours computes: Hugging Face ``generate`` (key/value cache, ``do_sample=True``,
``num_return_sequences``, no gradient, ``eval`` mode) for the samples and the greedy
captions, then one teacher-forced pass with gradient in ``eval`` mode for the samples'
log-probabilities; the rest as the official step.

With ``bench/run.py --device=gpu`` both sides run on the GPU in bfloat16 mixed precision
(the global Keras policy; ``torch.autocast`` around the reference's forward passes; string
and tokenizer work stays on the CPU on both sides). ``flops`` (for the MFU column) is
:func:`step_flops`, an estimate of our step's model FLOPs.

Checks (all before any update, on the same inputs): the greedy captions' token ids (ours
vs the official loop; random weights can have near-ties, so a fraction), the RoBERTa ids of
the real sentences (ours vs ``RobertaTokenizer``), the discriminator's logits on the real
sentences, and, for the reference's greedy captions, the decoded texts, the CLIP-agg reward
and the discriminator's logit.
"""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
from cgtgan_reference import Reference  # noqa: E402
from cgtgan_setup import (BATCH, END_OF_TEXT_ID, MAX_GEN_LENGTH, NUM_SAMPLES,  # noqa: E402
                          REFERENCES, STOP_TOKEN_ID, TARGET, Parts, recipe)


# --- ours ----------------------------------------------------------------------------------

class Ours:
    """:class:`CgtGanModel` built and compiled as ``cgtgan_training`` builds it, its train
    function fed from a ``tf.data`` iterator as ``fit`` feeds it."""

    def __init__(self, parts):
        import tensorflow as tf

        from tfcaption.models.clipcap.cgtgan.cgtgan_model import CgtGanModel
        from tfcaption.training.adamw import build_adamw

        model_settings, train = recipe()
        gan = CgtGanModel(
            parts.keras_generator, parts.keras_discriminator, parts.clip.model,
            parts.gpt2_tokenizer, parts.clip.tokenizer, parts.roberta_tokenizer,
            stop_token_ids=model_settings["stop_token_ids"],
            strip_token_ids=(END_OF_TEXT_ID,), num_samples=NUM_SAMPLES,
            max_gen_length=MAX_GEN_LENGTH, baseline=model_settings["baseline"],
            cos_weight=model_settings["cos_weight"], clip_weight=model_settings["clip_weight"],
            gan_training_steps=train["gan_training_steps"],
            gan_warm_steps=train["gan_warm_steps"], reward_weight=train["reward_weight"],
            update_discriminator=train["update_discriminator"],
            jit_compile=train.get("jit_compile", True), seed=train["seed"])
        total = 100_000
        gan.compile(g_optimizer=build_adamw(train, total, prefix="g_"),
                    d_optimizer=build_adamw(train, total, prefix="d_"))
        gan.build_optimizers()
        self.gan = gan
        # the real sentences, tokenized once as cgtgan_training.gan_dataset does
        real = gan.retokenizer.roberta_inputs(tf.constant(parts.sentences))
        self.inputs = {"prefix": tf.constant(parts.prefix), "target": tf.constant(parts.target),
                       "real_token_ids": real["token_ids"],
                       "real_padding_mask": real["padding_mask"]}
        gan.make_train_function()
        dataset = tf.data.Dataset.from_tensors(self.inputs).repeat()
        self.iterator = iter(gan.distribute_strategy.experimental_distribute_dataset(dataset))
        self.first_logs = None

    def step(self):
        logs = self.gan.train_function(self.iterator)
        if self.first_logs is None:
            self.first_logs = {k: float(v) for k, v in logs.items()}
        return logs

    # checks (eager, before any update, so no compiled function is traced early)
    def greedy_ids(self):
        """``[B, T]`` greedy ids and ``[B]`` lengths (eager decoding)."""
        gan = self.gan
        result = gan.generator.generate_ids(self.inputs["prefix"], gan.greedy_config)
        return result.token_ids.numpy()[:, 0], result.lengths.numpy()[:, 0]

    def real_logits(self):
        return self.gan.discriminator({"token_ids": self.inputs["real_token_ids"],
                                       "padding_mask": self.inputs["real_padding_mask"]},
                                      training=False).numpy()

    def score(self, token_ids, lengths):
        """(texts, CLIP-agg rewards, discriminator logits) of ``[B, T]`` captions of the
        batch's images, through the train step's own retokenizer and scoring code."""
        import tensorflow as tf

        gan = self.gan
        texts = gan.retokenizer.texts(tf.constant(token_ids, tf.int32),
                                      tf.constant(lengths, tf.int32))
        d_inputs = gan.retokenizer.roberta_inputs(texts)
        score, logits = gan._score_captions(
            gan.retokenizer.clip_token_ids(texts), d_inputs["token_ids"],
            d_inputs["padding_mask"], self.inputs["target"], self.inputs["prefix"])
        return ([t.decode("utf-8") for t in texts.numpy()], np.asarray(score),
                np.asarray(logits))

    def traces(self):
        """Traces of every ``tf.function`` the step runs: the train function's, the two
        decoding loops, scoring, the D and G gradients (1 each when nothing retraced)."""
        import tensorflow as tf

        gan = self.gan
        counts = {}
        for cell in gan.train_function.__closure__ or ():
            for fn in (cell.cell_contents, getattr(cell.cell_contents, "__wrapped__", None)):
                if isinstance(fn, tf.types.experimental.PolymorphicFunction):
                    counts.setdefault("train_function", []).append(
                        fn.experimental_get_tracing_count())
        for key, fn in gan.generator._generate_functions.items():
            counts[f"generate_{key[0].method}"] = [fn.experimental_get_tracing_count()]
        for name in ("_scores", "_d_gradients", "_g_gradients"):
            counts[name.strip("_")] = [getattr(gan, name).experimental_get_tracing_count()]
        return " ".join(f"{k} {'/'.join(map(str, v))}" for k, v in counts.items())


# --- reference -----------------------------------------------------------------------------

# --- FLOPs --------------------------------------------------------------------------------

def transformer_flops(tokens, context, hidden, layers):
    """2 x multiply-adds of ``tokens`` positions through ``layers`` blocks (12 h^2 per
    position: q/k/v/out and a 4h MLP) attending to ``context`` positions each."""
    return 2 * tokens * layers * (12 * hidden * hidden + 2 * hidden * context)


def step_flops(parts, length=MAX_GEN_LENGTH, samples=NUM_SAMPLES):
    """About the FLOPs of our step on ``parts``' models (sizes read from the PyTorch side;
    backward = 2 x forward; LayerNorms, softmaxes, the optimizers and the string ops left
    out):

    - decoding ``batch * (samples + 1)`` captions of ``length`` tokens (GPT-2 blocks at
      about ``prefix + length / 2`` positions of context, the LM head per token) after
      two prefills of ``batch`` prefixes;
    - the teacher-forced pass over ``batch * samples`` sequences of ``prefix + length``
      positions (LM head at ``length``; the mapper per sequence), forward and backward;
    - CLIP's text tower (causal) over its ``max_position_embeddings`` (77) positions and
      the discriminator over ``length + 2`` positions for every caption, without gradient;
      the discriminator forward and backward over as many real sentences and samples.
    """
    batch, generator = parts.batch, parts.torch_generator
    gpt, prefix = generator.gpt.config, generator.prefix_length
    text, projection = parts.torch_clip.config.text_config, parts.torch_clip.config.projection_dim
    roberta = parts.torch_roberta.config
    samples_n, captions = batch * samples, batch * (samples + 1)
    lm_head = 2 * gpt.n_embd * gpt.vocab_size
    mapper = 2 * sum(p.numel() for p in generator.clip_project.parameters() if p.dim() == 2)

    def gpt_blocks(tokens, context):
        return transformer_flops(tokens, context, gpt.n_embd, gpt.n_layer)

    decode = captions * length * (gpt_blocks(1, prefix + length // 2) + lm_head)
    decode += 2 * batch * (gpt_blocks(prefix, prefix // 2) + lm_head + mapper)
    teacher_forced = 3 * samples_n * (gpt_blocks(prefix + length, (prefix + length) // 2)
                                      + length * lm_head + mapper)
    clip_length = text.max_position_embeddings
    clip_text = captions * (transformer_flops(clip_length, clip_length // 2, text.hidden_size,
                                              text.num_hidden_layers)
                            + 2 * text.hidden_size * projection)
    d_tokens = length + 2
    discriminator = (captions + 3 * 2 * samples_n) * transformer_flops(
        d_tokens, d_tokens, roberta.hidden_size, roberta.num_hidden_layers)
    return decode + teacher_forced + clip_text + discriminator


# --- checks and rows -----------------------------------------------------------------------

def official_lengths(token_ids):
    """Lengths of official-format ids (up to and including the first stop token)."""
    lengths = []
    for row in token_ids:
        stops = np.flatnonzero(row == STOP_TOKEN_ID)
        lengths.append(int(stops[0]) + 1 if len(stops) else len(row))
    return np.array(lengths, np.int32)


def greedy_agreement(ours_ids, ours_lengths, ref_ids):
    """Fraction of the ``B x T`` positions where the two greedy captions agree (positions
    after a caption's stop token count as equal when both captions have ended)."""
    ref_lengths = official_lengths(ref_ids)
    positions = np.arange(ours_ids.shape[1])[None]
    ours = np.where(positions < ours_lengths[:, None], ours_ids, -1)
    ref = np.where(positions < ref_lengths[:, None], ref_ids, -1)
    return round(float(np.mean(ours == ref)), 3)


def checks_before_update(ours, reference):
    ours_greedy, ours_lengths = ours.greedy_ids()
    ref_greedy = reference.greedy_ids()
    ours_real, ref_real = ours.real_logits(), reference.real_logits()
    same_ids = np.array_equal(ours.inputs["real_token_ids"].numpy(),
                              reference.real_tokens.cpu().numpy())
    ours_texts, ours_reward, ours_fd = ours.score(ref_greedy, official_lengths(ref_greedy))
    ref_texts, ref_reward, ref_fd = reference.score(ref_greedy)
    return {
        "greedy token agreement": greedy_agreement(ours_greedy, ours_lengths, ref_greedy),
        "real-sentence RoBERTa ids equal": bool(same_ids),
        "D logits (real) max abs diff": f"{np.abs(ours_real - ref_real).max():.1e} "
                                        f"(max |logit| {np.abs(ref_real).max():.2g})",
        "greedy texts equal": f"{sum(a == b for a, b in zip(ours_texts, ref_texts))}"
                              f"/{len(ref_texts)}",
        "reward max abs diff": f"{np.abs(ours_reward - ref_reward).max():.1e} "
                               f"(max |reward| {np.abs(ref_reward).max():.1f})",
        "D logits (greedy) max abs diff": f"{np.abs(ours_fd - ref_fd).max():.1e} "
                                          f"(max |logit| {np.abs(ref_fd).max():.2g})",
    }


def run(ctx, references=("official",)):
    """The rows; the references are timed first, then their PyTorch modules and optimizer
    states are freed before ours is timed, so that one side's training state and
    activations are held at a time (this process peaks near 12 GB; 17.5 GB with both)."""
    import gc

    import torch

    sizes = ctx.sizes
    batch = BATCH
    parts = Parts(ctx, batch)
    flops = step_flops(parts)
    ours = Ours(parts)
    # the references share the PyTorch modules: a second one starts from the weights the
    # first one's timed steps left (timings are unaffected; the checks use the first)
    refs = [Reference(ctx, parts, variant) for variant in references]
    checks = checks_before_update(ours, refs[0])
    timed = []
    for reference in refs:
        torch.manual_seed(0)
        ref_timing, _ = ctx.time(reference.step)
        timed.append((reference.variant, reference.first_losses["d_loss"], ref_timing))
    del refs, reference
    parts.drop_torch()
    gc.collect()

    ours_timing, _ = ctx.time(ours.step, sync=lambda logs: logs["g_loss"].numpy())
    checks["first-step D loss ours"] = f"{ours.first_logs['d_loss']:.4f}"
    checks["traces"] = ours.traces()
    rows = []
    work = (f"CgT-GAN step, {batch} images × {NUM_SAMPLES} samples, ≤{MAX_GEN_LENGTH} tokens, "
            f"greedy baseline, D ({sizes.roberta_label}) + G (ClipCap {sizes.gpt2_label}, MLP) "
            f"updates, {sizes.clip_label} text reward, AdamW")
    for i, (variant, first_d_loss, ref_timing) in enumerate(timed):
        row_checks = dict(checks)
        key = "first-step D loss ref" + ("" if i == 0 else
                                         " (after the previous reference's steps)")
        row_checks[key] = f"{first_d_loss:.4f}"
        if variant == "official":
            name, vs = f"cgtgan_step_b{batch}", "vs the official CgT-GAN step (PyTorch)"
            notes = ("Reference: the released CgT-GAN code (Lihr747/CgtGAN cgtgan.py train / "
                     "generate_with_baseline, models.py ClipCaptionModel.generate, "
                     "RobertaDiscriminator, ScstRewardCLIPCriterion): its own KV-cached "
                     "decoding loop, greedy in eval/no_grad, samples in train mode with "
                     "autograd on (log-probs from the sampling pass, backward through it); "
                     "D optimizer stepped. Ours samples without gradient and recomputes the "
                     "log-probs in one teacher-forced pass in inference mode.")
        else:
            name = f"cgtgan_step_b{batch}_teacher_forced"
            vs = "vs PyTorch with HF generate (cache) + a teacher-forced pass"
            notes = ("Reference: HF generate (KV cache, do_sample, num_return_sequences, "
                     "no_grad, eval) for samples and greedy, then a teacher-forced pass with "
                     "gradient in eval mode (what ours computes); the rest as the official "
                     "step.")
        rows.append(harness.row(name, f"{work}, {ctx.precision}, {vs}", ours_timing,
                                ref_timing, target=TARGET, items=batch, unit="images",
                                checks=row_checks, notes=notes, flops=flops))
    return rows


def reference_option(parser):
    parser.add_argument("--reference", default="official",
                        help=f"comma-separated, from {','.join(REFERENCES)}")
    return lambda args: {"references": tuple(args.reference.split(","))}


if __name__ == "__main__":
    harness.standalone(run, reference_option)
