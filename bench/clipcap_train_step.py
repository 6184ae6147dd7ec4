"""One ClipCap training step at the real size (GPT-2 124M + MLP mapper, prefix 10 + 20
tokens, batch 16, AdamW lr 2e-5, weight decay 0.01): tfcaption's compiled Keras train step
(:class:`CaptionLmTrainer` compiled as ``clipcap_training.run`` compiles it, called through
the train function ``fit`` uses) vs the official ClipCap ``train.py`` step in PyTorch.

    python bench/clipcap_train_step.py [--runs=5] [--smoke]

Both sides start from the same weights (the PyTorch model converted as a released checkpoint
is) and train on the same batch: random CLIP prefixes, random caption ids in [1, 50257)
(not 0: the official loss ignores id 0, which is its padding id) and captions of varied
lengths padded with id 0. Dropout is on (GPT-2's 0.1) on both sides while timing. The check
is the loss of that batch on both sides before any update, in a separate forward pass with
dropout off (eval mode), and the largest logit difference over the caption tokens; the
losses of the first (timed, dropout on) steps are shown too. With ``bench/run.py
--device=gpu`` both run on the GPU in bfloat16 mixed precision (the global Keras policy;
``torch.autocast`` around the reference's forward and loss). ``--smoke`` trains a tiny GPT-2
(``sizes.py``) instead.
"""

import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import clipcap_pair  # noqa: E402
import harness  # noqa: E402

BATCH = 16
CAPTION_LENGTH = 20
VOCAB = 50257
TARGET = 0.6
HPARAMS = os.path.join(clipcap_pair.ROOT, "hparams", "clipcap_mlp_coco.json")


def train_step_flops(block_params, embedding_params, mapper_params, prefix_length,
                     batch=BATCH, caption_length=CAPTION_LENGTH):
    """About 6 x parameters x tokens (forward 2, backward 4 FLOPs per parameter and token)
    for one step, counting each parameter at the positions it is applied to: GPT-2's blocks
    (and final LayerNorm) at all ``prefix_length + caption_length`` positions, the tied
    token embedding as LM head at the ``caption_length`` positions the loss reads, the
    mapper once per caption. Attention scores and the optimizer update are left out."""
    per_caption = (block_params * (prefix_length + caption_length)
                   + embedding_params * caption_length + mapper_params)
    return 6 * batch * per_caption


def batch_arrays(prefix_dim, seed=0, batch=BATCH, length=CAPTION_LENGTH):
    """``(prefix [B, prefix_dim] float32, token_ids [B, T] int32 with 0 after each caption,
    padding_mask [B, T] bool)``; lengths vary from 5 to ``length`` (the first is full)."""
    rng = np.random.default_rng(seed)
    prefix = rng.normal(size=(batch, prefix_dim)).astype(np.float32)
    lengths = rng.integers(5, length + 1, size=batch)
    lengths[0] = length
    mask = np.arange(length)[None, :] < lengths[:, None]
    tokens = rng.integers(1, VOCAB, size=(batch, length)).astype(np.int32)
    tokens[~mask] = 0
    return prefix, tokens, mask


def train_settings():
    """The ``train`` section of the ClipCap COCO recipe (AdamW lr 2e-5, weight decay 0.01,
    no decay exclusions, no clipping), warmup off (its rate would be 0 at step 0)."""
    with open(HPARAMS) as f:
        settings = json.load(f)["train"]
    return dict(settings, warmup_steps=0)


class Ours:
    """:class:`CaptionLmTrainer` built and compiled as ``clipcap_training.run`` does, and
    its train function fed from a ``tf.data`` iterator as ``fit`` feeds it."""

    def __init__(self, model, prefix, tokens, mask, total_steps=100_000):
        import tensorflow as tf

        from tfcaption.training.caption_lm_trainer import CaptionLmTrainer
        from tfcaption.training.adamw import build_adamw

        settings = train_settings()
        self.model = model
        self.inputs = {"prefix": tf.constant(prefix), "token_ids": tf.constant(tokens),
                       "padding_mask": tf.constant(mask)}
        trainer = CaptionLmTrainer(model)
        trainer.compile(optimizer=build_adamw(settings, total_steps),
                        jit_compile=settings.get("jit_compile", True))
        trainer({"prefix": tf.zeros([2, model.prefix_dim]),
                 "token_ids": tf.zeros([2, tokens.shape[1]], tf.int32),
                 "padding_mask": tf.ones([2, tokens.shape[1]], tf.bool)})
        trainer.optimizer.build(model.trainable_variables)
        trainer.make_train_function()
        self.trainer = trainer
        dataset = tf.data.Dataset.from_tensors(self.inputs).repeat()
        self.iterator = iter(trainer.distribute_strategy.experimental_distribute_dataset(dataset))
        self.first_loss = None

    def eval_loss(self):
        from tfcaption.training.caption_loss import caption_loss

        logits = self.model(self.inputs, training=False)
        loss = caption_loss(logits, self.inputs["token_ids"], self.inputs["padding_mask"])[0]
        return float(loss), np.asarray(logits)

    def step(self):
        logs = self.trainer.train_function(self.iterator)
        if self.first_loss is None:
            self.first_loss = float(logs["loss"])
        return logs

    def traces(self):
        """Traces of the train function's ``tf.function`` s (the XLA-compiled one-step
        function and the iterator loop around it): 1 each when nothing retraced."""
        import tensorflow as tf

        counts = []
        for cell in self.trainer.train_function.__closure__ or ():
            for fn in (cell.cell_contents, getattr(cell.cell_contents, "__wrapped__", None)):
                if isinstance(fn, tf.types.experimental.PolymorphicFunction):
                    counts.append(fn.experimental_get_tracing_count())
        return "/".join(str(c) for c in counts)


class Reference:
    """The official ClipCap ``train.py`` step: ``model.train()``, forward
    ``ClipCaptionModel(tokens, prefix, mask)``, cross-entropy over the caption positions
    ignoring id 0, ``backward``, ``torch.optim.AdamW.step``, ``zero_grad``."""

    def __init__(self, ctx, model, prefix, tokens, mask):
        import torch

        settings = train_settings()
        self.torch = torch
        self.ctx = ctx
        self.device = ctx.torch_device
        self.model = model.to(self.device)
        self.prefix = torch.from_numpy(prefix)
        self.tokens = torch.from_numpy(tokens.astype(np.int64))
        self.mask = torch.cat([torch.ones(mask.shape[0], model.prefix_length),
                               torch.from_numpy(mask.astype(np.float32))], dim=1)
        self.optimizer = torch.optim.AdamW(model.parameters(), lr=settings["learning_rate"],
                                           weight_decay=settings["weight_decay"])
        self.first_loss = None

    def batch(self):
        """The batch on the device, moved there every step as ``train.py`` does."""
        return (self.tokens.to(self.device), self.prefix.to(self.device),
                self.mask.to(self.device))

    def eval_loss(self):
        from torch_clipcap import official_train_loss

        self.model.eval()
        with self.torch.no_grad(), self.ctx.autocast():
            loss = official_train_loss(self.model, *self.batch())
            logits = self.model(*self.batch())
        self.model.train()
        logits = logits[:, self.model.prefix_length - 1:-1].float().cpu().numpy()
        return float(loss), logits

    def step(self):
        from torch_clipcap import official_train_loss

        self.model.train()
        with self.ctx.autocast():
            loss = official_train_loss(self.model, *self.batch())
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        loss = loss.detach()
        if self.first_loss is None:
            self.first_loss = float(loss)
        return loss


def flops_of(reference):
    gpt = reference.gpt
    blocks = sum(p.numel() for p in gpt.transformer.h.parameters())
    blocks += sum(p.numel() for p in gpt.transformer.ln_f.parameters())
    embedding = gpt.transformer.wte.weight.numel()
    mapper = sum(p.numel() for p in reference.clip_project.parameters())
    return train_step_flops(blocks, embedding, mapper, reference.prefix_length)


def run(ctx):
    sizes = ctx.sizes
    reference_model, ours_model = clipcap_pair.clipcap_pair(sizes, seed=0)
    prefix, tokens, mask = batch_arrays(sizes.prefix_dim)
    reference = Reference(ctx, reference_model, prefix, tokens, mask)
    ours = Ours(ours_model, prefix, tokens, mask)
    # before any update, dropout off
    (ours_eval, ours_logits), (ref_eval, ref_logits) = ours.eval_loss(), reference.eval_loss()
    logit_diff = float(np.abs(ours_logits - ref_logits)[mask].max())
    logit_scale = float(np.abs(ref_logits[mask]).max())
    del ours_logits, ref_logits

    ours_timing, _ = ctx.time(ours.step, sync=lambda logs: logs["loss"].numpy())
    ref_timing, _ = ctx.time(reference.step, sync=lambda loss: loss.item())
    checks = {"loss ours (eval, step 0)": f"{ours_eval:.5f}",
              "loss ref (eval, step 0)": f"{ref_eval:.5f}",
              "abs diff": f"{abs(ours_eval - ref_eval):.1e}",
              "max abs logit diff (caption tokens)": f"{logit_diff:.1e} (of {logit_scale:.2f})",
              "first-step loss with dropout ours/ref": f"{ours.first_loss:.4f}/"
                                                        f"{reference.first_loss:.4f}",
              "traces": ours.traces()}
    return [harness.row(
        "clipcap_train_step_b16", f"ClipCap training step ({sizes.gpt2_label} + MLP mapper, "
        f"prefix {sizes.prefix_length} + {CAPTION_LENGTH} tokens, batch {BATCH}, AdamW, "
        f"{ctx.precision}), vs the official PyTorch step", ours_timing, ref_timing,
        target=TARGET, items=BATCH, unit="captions", checks=checks,
        notes="Ours: CaptionLmTrainer compiled as clipcap_training.run compiles it "
              "(build_adamw from hparams/clipcap_mlp_coco.json, warmup off; jit_compile), "
              "its train function fed from a tf.data iterator as fit feeds it. Reference: "
              "official ClipCap train.py step (train mode, ClipCaptionModel forward, "
              "cross-entropy ignoring id 0, backward, torch.optim.AdamW step, zero_grad).",
        flops=flops_of(reference_model))]


if __name__ == "__main__":
    harness.standalone(run)
