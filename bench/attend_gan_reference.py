"""The ATTEND-GAN adversarial generator update in PyTorch, written as the reference
re-implementation (github.com/Dragonyong-siu/ATTEND-GAN-image-caption-using-gan-Pytorch,
``ATTEND_GAN_Generator.py``, ``Caption_Discriminator.py``, ``ATTEND_GAN_Loss.py``
``get_reward`` / ``generator_L1`` / ``generator_L2`` and ``ATTEND_GAN_Advertrain.py``
``advertrain_generator``) writes it, with its bugs fixed, for ``attend_gan.py`` (see its
docstring).

Its design, kept: the attention projection ``Wa_linear(features)`` recomputed at every
step; one caption sampled per image, step by step; the Monte-Carlo rewards as
``for i in range(mc_num): for j in range(1, T)``: each prefix's completion starts again
from the initial state (no state is saved) and the discriminator scores each completed
batch, then the whole sampled caption (once per ``i``); rewards averaged over ``mc_num``;
``L = lambda * L1 + L2``; AdamW.

Its bugs, fixed (so the step computes what ours computes): the generator is
parameterised as tfcaption's :class:`AttentionLstmGenerator` (a ``torch.nn.LSTMCell`` on
``[wte(y), gated context]``, attention from the previous ``h``, logits
``Pa_linear(context) + Ph_linear(new h)``) so the same weights run on both sides; a
completion re-runs the generator over its prefix (teacher-forced, state only: no output
layer) before sampling (the release restarts from the initial state with only the
prefix's last word); sampling is ``torch.multinomial`` of the softmax (the release picks
among the top 5 above 0.2 with ``random.choice``); captions stop at ``<end>`` through
masks (the discriminator reads each caption through its first ``<end>`` with packed
sequences, as ours masks); ``Wh_linear(h)`` is broadcast over the regions (the release
copies ``h`` into a ``[B, 49, 1024]`` buffer from numpy every step and projects each copy);
the discriminator scores in ``eval`` mode under ``no_grad``; ``L1`` uses the log-probs of
the sampled caption (teacher-forced over the sample) with its per-step rewards (the
release multiplies the real captions' cross-entropy vector by the reward vector); ``L2``
is the masked cross-entropy plus the doubly stochastic attention term (target 1, as ours);
the sample and the rollouts run under ``no_grad``.
"""

import numpy as np


def build_torch_modules():
    import torch
    from torch import nn

    class Generator(nn.Module):
        """tfcaption's ``AttentionLstmGenerator`` in PyTorch, step by step, recomputing
        ``Wa_linear(features)`` at every step as the reference's ``soft_attention``."""

        def __init__(self, vocabulary_size, feature_dim, num_regions, embedding_dim,
                     hidden_dim, attention_dim):
            super().__init__()
            self.feature_dim, self.num_regions = feature_dim, num_regions
            self.wte = nn.Embedding(vocabulary_size, embedding_dim)
            self.Wa_linear = nn.Linear(feature_dim, attention_dim)
            self.Wh_linear = nn.Linear(hidden_dim, attention_dim)
            self.We_linear = nn.Linear(attention_dim, 1)
            self.f_beta = nn.Linear(hidden_dim, feature_dim)
            self.hidden_linear = nn.Linear(feature_dim, hidden_dim)
            self.cell_linear = nn.Linear(feature_dim, hidden_dim)
            self.lstm = nn.LSTMCell(embedding_dim + feature_dim, hidden_dim)
            self.Pa_linear = nn.Linear(feature_dim, vocabulary_size)
            self.Ph_linear = nn.Linear(hidden_dim, vocabulary_size)

        def regions(self, features):
            return features.reshape(features.shape[0], -1, self.feature_dim)

        def initial_state(self, regions):
            mean = regions.mean(dim=1)
            return self.hidden_linear(mean), self.cell_linear(mean)

        def soft_attention(self, regions, hidden):
            energy = self.We_linear(torch.tanh(self.Wa_linear(regions)
                                               + self.Wh_linear(hidden).unsqueeze(1)))
            alpha = torch.softmax(energy, dim=1)  # [B, R, 1]
            context = (alpha * regions).sum(dim=1)
            return torch.sigmoid(self.f_beta(hidden)) * context, alpha.squeeze(-1)

        def state_step(self, regions, token, hidden, cell):
            context, alpha = self.soft_attention(regions, hidden)
            hidden, cell = self.lstm(torch.cat([self.wte(token), context], dim=-1),
                                     (hidden, cell))
            return context, alpha, hidden, cell

        def step(self, regions, token, hidden, cell):
            context, alpha, hidden, cell = self.state_step(regions, token, hidden, cell)
            return self.Pa_linear(context) + self.Ph_linear(hidden), alpha, hidden, cell

        def forward(self, features, input_ids):
            """Teacher-forced: (logits ``[B, T, V]``, attention ``[B, T, R]``)."""
            regions = self.regions(features)
            hidden, cell = self.initial_state(regions)
            logits, atts = [], []
            for t in range(input_ids.shape[1]):
                logit, alpha, hidden, cell = self.step(regions, input_ids[:, t], hidden, cell)
                logits.append(logit)
                atts.append(alpha)
            return torch.stack(logits, dim=1), torch.stack(atts, dim=1)

        def caption_sampler(self, features, prefix, length, start_id):
            """``length`` tokens per image: ``prefix`` ``[B, t]`` (or None) kept, the rest
            drawn with ``torch.multinomial``. The generator re-runs over ``<start>,
            prefix[:, :-1]`` from the initial state first (state only)."""
            regions = self.regions(features)
            hidden, cell = self.initial_state(regions)
            token = torch.full((regions.shape[0],), start_id, dtype=torch.long,
                               device=regions.device)
            sample_ids = []
            if prefix is not None:
                for k in range(prefix.shape[1]):
                    _, _, hidden, cell = self.state_step(regions, token, hidden, cell)
                    token = prefix[:, k]
                    sample_ids.append(token)
            for _ in range(length - len(sample_ids)):
                logit, _, hidden, cell = self.step(regions, token, hidden, cell)
                token = torch.multinomial(torch.softmax(logit, dim=-1), 1).squeeze(1)
                sample_ids.append(token)
            return torch.stack(sample_ids, dim=1)

    class Discriminator(nn.Module):
        """The reference's ``Caption_Discriminator`` (wte, 2-layer bidirectional GRU, the
        final state of every layer and direction, ``linear_gru2logit`` ReLU, dropout,
        ``linear_logit2score``), reading each caption up to its length (packed) and
        returning logits (the sigmoid is applied by the caller)."""

        def __init__(self, vocabulary_size, embedding_dim, hidden_dim, num_layers, dropout):
            super().__init__()
            self.num_layers, self.hidden_dim = num_layers, hidden_dim
            self.wte = nn.Embedding(vocabulary_size, embedding_dim)
            self.gru = nn.GRU(embedding_dim, hidden_dim, num_layers=num_layers,
                              bidirectional=True, dropout=dropout, batch_first=True)
            self.linear_gru2logit = nn.Linear(num_layers * 2 * hidden_dim, hidden_dim)
            self.linear_logit2score = nn.Linear(hidden_dim, 1)
            self.relu = nn.ReLU(inplace=True)
            self.dropout = nn.Dropout(dropout)

        def forward(self, caption, mask):
            lengths = mask.sum(dim=1).cpu()
            packed = nn.utils.rnn.pack_padded_sequence(self.wte(caption), lengths,
                                                       batch_first=True, enforce_sorted=False)
            _, hidden = self.gru(packed)  # [layers * 2, N, H]
            hidden = hidden.permute(1, 0, 2).reshape(caption.shape[0], -1)
            logit = self.dropout(self.relu(self.linear_gru2logit(hidden)))
            return self.linear_logit2score(logit).squeeze(-1)

    return Generator, Discriminator


# --- weights: Keras -> PyTorch ---------------------------------------------------------------

def _copy(param, array):
    import torch

    with torch.no_grad():
        param.copy_(torch.from_numpy(np.ascontiguousarray(array)))


def _dense(linear, dense):
    kernel, bias = (np.asarray(w) for w in (dense.kernel, dense.bias))
    _copy(linear.weight, kernel.T)
    _copy(linear.bias, bias)


def torch_generator(keras_generator):
    """The PyTorch generator holding ``keras_generator``'s weights (Dense kernels
    transposed; the LSTM's gates are i, f, c, o on both sides, Keras' one bias as
    ``bias_ih`` and ``bias_hh`` 0)."""
    Generator, _ = build_torch_modules()
    g = keras_generator
    model = Generator(g.vocabulary_size, g.feature_dim, g.num_regions, g.embedding_dim,
                      g.hidden_dim, g.attention_dim)
    _copy(model.wte.weight, np.asarray(g.wte.embeddings))
    for name in ("Wa_linear", "Wh_linear", "We_linear", "f_beta", "hidden_linear",
                 "cell_linear", "Pa_linear", "Ph_linear"):
        _dense(getattr(model, name), getattr(g, name))
    _copy(model.lstm.weight_ih, np.asarray(g.lstm.kernel).T)
    _copy(model.lstm.weight_hh, np.asarray(g.lstm.recurrent_kernel).T)
    _copy(model.lstm.bias_ih, np.asarray(g.lstm.bias))
    _copy(model.lstm.bias_hh, np.zeros(4 * g.hidden_dim, np.float32))
    return model


def _gru_gates(array, hidden):
    """Keras' gate blocks z, r, h (last axis) -> PyTorch's r, z, n, transposed to
    ``[3H, in]`` for kernels (1-D for biases)."""
    z, r, h = (array[..., i * hidden:(i + 1) * hidden] for i in range(3))
    out = np.concatenate([r, z, h], axis=-1)
    return out.T if out.ndim == 2 else out


def torch_discriminator(keras_discriminator):
    """The PyTorch discriminator holding ``keras_discriminator``'s weights (GRUs with
    ``reset_after``: Keras' input / recurrent biases as ``bias_ih`` / ``bias_hh``)."""
    _, Discriminator = build_torch_modules()
    d = keras_discriminator
    if d.image_conditioned:
        raise ValueError("the reference discriminator reads the caption only")
    model = Discriminator(d.vocabulary_size, d.embedding_dim, d.hidden_dim, d.num_layers,
                          d.dropout)
    _copy(model.wte.weight, np.asarray(d.wte.embeddings))
    for k, bidirectional in enumerate(d.gru):
        for suffix, layer in (("", bidirectional.forward_layer),
                              ("_reverse", bidirectional.backward_layer)):
            cell = layer.cell
            if not cell.reset_after:
                raise ValueError("the conversion needs GRUs with reset_after=True")
            bias = np.asarray(cell.bias)
            _copy(getattr(model.gru, f"weight_ih_l{k}{suffix}"),
                  _gru_gates(np.asarray(cell.kernel), d.hidden_dim))
            _copy(getattr(model.gru, f"weight_hh_l{k}{suffix}"),
                  _gru_gates(np.asarray(cell.recurrent_kernel), d.hidden_dim))
            _copy(getattr(model.gru, f"bias_ih_l{k}{suffix}"), _gru_gates(bias[0], d.hidden_dim))
            _copy(getattr(model.gru, f"bias_hh_l{k}{suffix}"), _gru_gates(bias[1], d.hidden_dim))
    _dense(model.linear_gru2logit, d.linear_gru2logit)
    _dense(model.linear_logit2score, d.linear_logit2score)
    return model


# --- the step ---------------------------------------------------------------------------------

def mask_through_end(token_ids, end_id):
    """bool ``[N, T]``: True up to and including each row's first ``end_id``."""
    is_end = token_ids.eq(end_id).long()
    return (is_end.cumsum(dim=1) - is_end).eq(0)


class Reference:
    """One adversarial generator update (``advertrain_generator``'s loop body), fixed."""

    def __init__(self, generator, discriminator, features, token_ids, padding_mask, start_id,
                 end_id, mc_num, pg_weight, attention_weight, attention_target, learning_rate,
                 weight_decay, epsilon, device="cpu", autocast=None):
        import contextlib

        import torch

        self.torch = torch
        self.device = device
        self.autocast = autocast or contextlib.nullcontext
        self.generator = generator.to(device)
        self.discriminator = discriminator.to(device)
        self.features = torch.from_numpy(features).to(device)
        ids = torch.from_numpy(token_ids.astype(np.int64)).to(device)
        self.inputs, self.targets = ids[:, :-1], ids[:, 1:]
        self.mask = torch.from_numpy(np.asarray(padding_mask)[:, 1:].copy()).to(device)
        self.start_id, self.end_id, self.mc_num = start_id, end_id, mc_num
        self.pg_weight, self.attention_weight = pg_weight, attention_weight
        self.attention_target = attention_target
        self.optimizer = torch.optim.AdamW(generator.parameters(), lr=learning_rate,
                                           weight_decay=weight_decay, eps=epsilon)
        self.first_losses = None

    def score(self, caption):
        """``sigmoid(D(caption))`` through the first ``<end>`` (eval mode, no gradient)."""
        self.discriminator.eval()
        with self.torch.no_grad():
            return self.torch.sigmoid(self.discriminator(caption, mask_through_end(
                caption, self.end_id)))

    def get_reward(self, samples):
        """``ATTEND_GAN_Loss.get_reward``: ``[B, T]`` rewards, ``R_j`` the mean score of the
        ``mc_num`` completions of the ``j``-token prefix, ``R_T`` the sample's score."""
        torch = self.torch
        steps = samples.shape[1]
        rewards = [None] * steps
        with torch.no_grad():
            for i in range(self.mc_num):
                for j in range(1, steps):
                    completed = self.generator.caption_sampler(self.features, samples[:, :j],
                                                               steps, self.start_id)
                    reward = self.score(completed)
                    rewards[j - 1] = reward if i == 0 else rewards[j - 1] + reward
                reward = self.score(samples)
                rewards[-1] = reward if i == 0 else rewards[-1] + reward
        return torch.stack(rewards, dim=1) / self.mc_num

    def l2_loss(self, logits, atts):
        """``generator_L2``: masked cross-entropy + ``attention_weight *`` the doubly
        stochastic attention term."""
        torch = self.torch
        weights = self.mask.float()
        token_ce = torch.nn.functional.cross_entropy(logits.reshape(-1, logits.shape[-1]),
                                                     self.targets.reshape(-1),
                                                     reduction="none").view_as(weights)
        cross_entropy = (token_ce * weights).sum() / weights.sum()
        total = (atts * weights.unsqueeze(-1)).sum(dim=1)  # [B, R]
        regularizer = ((self.attention_target - total) ** 2).sum(dim=1).mean()
        return cross_entropy + self.attention_weight * regularizer, cross_entropy, regularizer

    def step(self):
        torch = self.torch
        generator = self.generator
        generator.train()
        with self.autocast():  # the forward passes (bfloat16 on GPU, nothing on CPU)
            logits, atts = generator(self.features, self.inputs)
            l2, _, _ = self.l2_loss(logits.float(), atts.float())
            steps = self.targets.shape[1]
            with torch.no_grad():
                samples = generator.caption_sampler(self.features, None, steps, self.start_id)
            rewards = self.get_reward(samples)
            start = torch.full((samples.shape[0], 1), self.start_id, dtype=torch.long,
                               device=self.device)
            sample_logits, _ = generator(self.features,
                                         torch.cat([start, samples[:, :-1]], 1))
            log_probs = torch.log_softmax(sample_logits.float(), dim=-1).gather(
                -1, samples.unsqueeze(-1)).squeeze(-1)
            weights = mask_through_end(samples, self.end_id).float()
            l1 = (-(log_probs * rewards.float() * weights).sum(dim=1)).mean()
            loss = self.pg_weight * l1 + l2
        loss.backward()
        self.optimizer.step()
        self.optimizer.zero_grad()
        losses = {"g_loss": loss.item(), "pg_loss": l1.item(), "l2_loss": l2.item(),
                  "reward": rewards[:, -1].mean().item()}
        if self.first_losses is None:
            self.first_losses = losses
        return losses

    # checks (no gradient, before any update)
    def teacher_forced(self):
        with self.torch.no_grad(), self.autocast():
            logits, atts = self.generator(self.features, self.inputs)
            logits, atts = logits.float(), atts.float()
            l2, ce, reg = self.l2_loss(logits, atts)
        return logits.cpu().numpy(), atts.cpu().numpy(), float(l2), float(ce), float(reg)

    def d_logits(self, token_ids, mask):
        torch = self.torch
        self.discriminator.eval()
        with torch.no_grad(), self.autocast():
            logits = self.discriminator(torch.from_numpy(token_ids.astype(np.int64)).to(
                self.device), torch.from_numpy(mask).to(self.device))
        return logits.float().cpu().numpy()
