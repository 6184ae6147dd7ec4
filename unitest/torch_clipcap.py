"""A PyTorch re-expression of the reference ClipCap model, for parity tests.

The module and attribute names follow the released ClipCap code, so ``state_dict()`` keys
are the ones found in the published ``coco_weights.pt`` / ``transformer_weights.pt`` files:
``clip_project.*`` for the mapping network and ``gpt.*`` for the GPT-2 language model.

Also provided:

* :func:`save_official_checkpoint` writes a state dict laid out like the released files,
  including the per-layer GPT-2 attention buffers (``attn.bias`` / ``attn.masked_bias``) that
  the transformers 4.x releases stored and that transformers 5 no longer has;
* :func:`official_generate_greedy` and :func:`official_generate_beam`, the reference decoding
  loops (one image at a time, whole sequence recomputed from ``inputs_embeds`` at every step,
  no key/value cache), returning token ids instead of decoded text;
* :func:`official_train_loss`, the loss of the reference training loop;
* :func:`randomize_` and :func:`tiny_gpt_config` for small, fast, non-degenerate test models.

GPT-2 always runs with the eager attention implementation here (transformers 5 defaults to
SDPA), so results are deterministic and follow the plain softmax(QK^T/sqrt(d) + mask) V path.
"""

import copy
import math
from typing import List, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GPT2Config, GPT2LMHeadModel

__all__ = [
    "MLP",
    "MlpTransformer",
    "MultiHeadAttention",
    "TransformerLayer",
    "Transformer",
    "TransformerMapper",
    "ClipCaptionModel",
    "tiny_gpt_config",
    "randomize_",
    "official_state_dict",
    "save_official_checkpoint",
    "attention_buffer_keys",
    "official_generate_greedy",
    "official_generate_beam",
    "official_train_loss",
]


# --------------------------------------------------------------------------- mapping networks

class MLP(nn.Module):
    """Linear layers with Tanh in between (none after the last), held in ``self.model``."""

    def __init__(self, sizes: Sequence[int], bias: bool = True, act=nn.Tanh):
        super().__init__()
        layers: List[nn.Module] = []
        n_linear = len(sizes) - 1
        for i in range(n_linear):
            layers.append(nn.Linear(sizes[i], sizes[i + 1], bias=bias))
            if i != n_linear - 1:
                layers.append(act())
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)


class MlpTransformer(nn.Module):
    """Feed-forward block of the mapper: fc1 -> ReLU -> dropout -> fc2 -> dropout."""

    def __init__(self, in_dim: int, h_dim: int, out_d: Optional[int] = None, act=F.relu,
                 dropout: float = 0.0):
        super().__init__()
        self.fc1 = nn.Linear(in_dim, h_dim)
        self.act = act
        self.fc2 = nn.Linear(h_dim, in_dim if out_d is None else out_d)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.dropout(self.act(self.fc1(x)))
        return self.dropout(self.fc2(h))


class MultiHeadAttention(nn.Module):
    """Mapper attention with a fused key/value projection.

    The key/value projection output is laid out as ``[..., 2, heads, head_dim]`` (keys first),
    and the softmax runs over the key axis.
    """

    def __init__(self, dim_self: int, dim_ref: int, num_heads: int, bias: bool = True,
                 dropout: float = 0.0):
        super().__init__()
        self.num_heads = num_heads
        self.scale = (dim_self // num_heads) ** -0.5
        self.to_queries = nn.Linear(dim_self, dim_self, bias=bias)
        self.to_keys_values = nn.Linear(dim_ref, 2 * dim_self, bias=bias)
        self.project = nn.Linear(dim_self, dim_self)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None) -> Tuple[torch.Tensor, torch.Tensor]:
        if y is None:
            y = x
        b, n, c = x.shape
        m = y.shape[1]
        hd = c // self.num_heads
        q = self.to_queries(x).reshape(b, n, self.num_heads, hd)
        kv = self.to_keys_values(y).reshape(b, m, 2, self.num_heads, hd)
        k = kv[:, :, 0]
        v = kv[:, :, 1]
        # scores indexed [batch, query, key, head]
        att = torch.einsum("bqhd,bkhd->bqkh", q, k) * self.scale
        if mask is not None:
            if mask.dim() == 2:
                mask = mask.unsqueeze(1)
            att = att.masked_fill(mask.unsqueeze(3), float("-inf"))
        att = att.softmax(dim=2)
        out = torch.einsum("bqkh,bkhd->bqhd", att, v).reshape(b, n, c)
        return self.project(out), att


class TransformerLayer(nn.Module):
    """Pre-LayerNorm block: x + attn(norm1(x)), then x + mlp(norm2(x))."""

    def __init__(self, dim_self: int, dim_ref: int, num_heads: int, mlp_ratio: float = 4.0,
                 bias: bool = False, dropout: float = 0.0, act=F.relu,
                 norm_layer=nn.LayerNorm):
        super().__init__()
        self.norm1 = norm_layer(dim_self)
        self.attn = MultiHeadAttention(dim_self, dim_ref, num_heads, bias=bias, dropout=dropout)
        self.norm2 = norm_layer(dim_self)
        self.mlp = MlpTransformer(dim_self, int(dim_self * mlp_ratio), act=act, dropout=dropout)

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), y, mask)[0]
        return x + self.mlp(self.norm2(x))


class Transformer(nn.Module):
    """A stack of self-attention :class:`TransformerLayer` blocks (``mlp_ratio`` 2)."""

    def __init__(self, dim_self: int, num_heads: int, num_layers: int,
                 dim_ref: Optional[int] = None, mlp_ratio: float = 2.0, act=F.relu,
                 norm_layer=nn.LayerNorm):
        super().__init__()
        dim_ref = dim_self if dim_ref is None else dim_ref
        self.layers = nn.ModuleList([
            TransformerLayer(dim_self, dim_ref, num_heads, mlp_ratio, act=act,
                             norm_layer=norm_layer)
            for _ in range(num_layers)
        ])

    def forward(self, x: torch.Tensor, y: Optional[torch.Tensor] = None,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        for layer in self.layers:
            x = layer(x, y, mask)
        return x


class TransformerMapper(nn.Module):
    """CLIP vector -> ``clip_length`` tokens, followed by ``prefix_length`` learned constants;
    after the transformer, the constants' positions are the prefix."""

    def __init__(self, dim_clip: int, dim_embedding: int, prefix_length: int, clip_length: int,
                 num_layers: int = 8):
        super().__init__()
        self.clip_length = clip_length
        self.transformer = Transformer(dim_embedding, 8, num_layers)
        self.linear = nn.Linear(dim_clip, clip_length * dim_embedding)
        self.prefix_const = nn.Parameter(torch.randn(prefix_length, dim_embedding))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = x.shape[0]
        clip_tokens = self.linear(x).view(b, self.clip_length, -1)
        consts = self.prefix_const.unsqueeze(0).expand(b, -1, -1)
        seq = torch.cat((clip_tokens, consts), dim=1)
        return self.transformer(seq)[:, self.clip_length:]


# --------------------------------------------------------------------------- captioning model

def _eager_config(config: GPT2Config) -> GPT2Config:
    config = copy.deepcopy(config)
    config._attn_implementation = "eager"
    return config


def tiny_gpt_config(vocab_size: int = 50, n_positions: int = 128, n_embd: int = 32,
                    n_layer: int = 2, n_head: int = 4) -> GPT2Config:
    """A small GPT-2 config without dropout and with eager attention."""
    return GPT2Config(
        vocab_size=vocab_size, n_positions=n_positions, n_embd=n_embd, n_layer=n_layer,
        n_head=n_head, resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0,
        bos_token_id=vocab_size - 1, eos_token_id=vocab_size - 1,
        attn_implementation="eager")


class ClipCaptionModel(nn.Module):
    """Mapping network ``clip_project`` + GPT-2 ``gpt`` (randomly initialised from a config).

    ``forward(tokens, prefix, mask)`` returns the GPT-2 logits ``[B, prefix_length + T, V]``
    for the sequence [projected prefix ; token embeddings].
    """

    def __init__(self, prefix_length: int, clip_length: Optional[int] = None,
                 prefix_size: int = 512, num_layers: int = 8,
                 mapping_type: Union[str, object] = "mlp",
                 gpt_config: Optional[GPT2Config] = None):
        super().__init__()
        mapping_type = getattr(mapping_type, "value", mapping_type)
        if mapping_type not in ("mlp", "transformer"):
            raise ValueError(f"unknown mapping_type {mapping_type!r}")
        self.prefix_length = prefix_length
        self.mapping_type = mapping_type
        cfg = _eager_config(gpt_config if gpt_config is not None else GPT2Config())
        self.gpt = GPT2LMHeadModel(cfg)
        self.gpt_embedding_size = self.gpt.transformer.wte.weight.shape[1]
        d = self.gpt_embedding_size
        if mapping_type == "mlp":
            self.clip_project = MLP((prefix_size, (d * prefix_length) // 2, d * prefix_length))
        else:
            self.clip_project = TransformerMapper(prefix_size, d, prefix_length, clip_length,
                                                  num_layers)

    def prefix_embeddings(self, prefix: torch.Tensor) -> torch.Tensor:
        """``[B, prefix_size]`` CLIP vectors -> ``[B, prefix_length, D]`` GPT-2 inputs."""
        return self.clip_project(prefix).view(-1, self.prefix_length, self.gpt_embedding_size)

    def forward(self, tokens: torch.Tensor, prefix: torch.Tensor,
                mask: Optional[torch.Tensor] = None) -> torch.Tensor:
        text = self.gpt.transformer.wte(tokens)
        seq = torch.cat((self.prefix_embeddings(prefix), text), dim=1)
        return self.gpt(inputs_embeds=seq, attention_mask=mask, use_cache=False).logits


@torch.no_grad()
def randomize_(model: nn.Module, seed: int = 0, max_std: float = 0.2,
               min_std: float = 0.02) -> nn.Module:
    """Overwrite every parameter with seeded, non-zero random values, in place.

    LayerNorm weights are ``1 + 0.1 N(0,1)``, LayerNorm biases ``0.1 N(0,1)``; other biases
    ``0.05 N(0,1)``; embeddings and ``prefix_const`` ``0.2 N(0,1)`` (``0.1`` for ``wpe``);
    weight matrices ``N(0, std)`` with ``std = clip(1/sqrt(fan_in), min_std, max_std)``.
    Tied parameters (``lm_head`` / ``wte``) are visited once, so they stay tied.
    """
    gen = torch.Generator().manual_seed(seed)

    def normal(p: torch.Tensor, std: float, mean: float = 0.0):
        p.copy_(torch.randn(p.shape, generator=gen, dtype=torch.float32).to(p.dtype) * std
                + mean)

    norm_params = set()
    for module in model.modules():
        if isinstance(module, nn.LayerNorm):
            if module.weight is not None:
                normal(module.weight, 0.1, 1.0)
                norm_params.add(id(module.weight))
            if module.bias is not None:
                normal(module.bias, 0.1)
                norm_params.add(id(module.bias))

    for name, p in model.named_parameters():
        if id(p) in norm_params:
            continue
        leaf = name.rsplit(".", 1)[-1]
        if leaf == "bias":
            normal(p, 0.05)
        elif leaf == "prefix_const" or name.endswith("wte.weight"):
            normal(p, 0.2)
        elif name.endswith("wpe.weight"):
            normal(p, 0.1)
        else:
            # nn.Linear stores [out, in]; GPT-2's Conv1D stores [in, out]
            parent = model.get_submodule(name.rsplit(".", 1)[0]) if "." in name else model
            fan_in = p.shape[1] if isinstance(parent, nn.Linear) else p.shape[0]
            normal(p, min(max_std, max(min_std, 1.0 / math.sqrt(fan_in))))
    return model


# --------------------------------------------------------------------------- checkpoint format

def attention_buffer_keys(n_layer: int) -> List[str]:
    """The ``gpt.transformer.h.{i}.attn.{bias,masked_bias}`` keys of the released files."""
    keys = []
    for i in range(n_layer):
        keys.append(f"gpt.transformer.h.{i}.attn.bias")
        keys.append(f"gpt.transformer.h.{i}.attn.masked_bias")
    return keys


def official_state_dict(model: ClipCaptionModel,
                        bias_dtype: torch.dtype = torch.bool) -> "dict[str, torch.Tensor]":
    """The model's state dict as the released checkpoints hold it.

    Every tensor is an independent contiguous CPU copy.  transformers 5 keeps
    ``gpt.lm_head.weight`` (tied to ``wte``) in ``state_dict()`` but not the old attention
    buffers, so these are added: ``attn.bias`` (``[1, 1, n_positions, n_positions]``
    lower-triangular causal mask, ``bias_dtype``; bool in later 4.x releases, uint8 in early
    ones) and ``attn.masked_bias`` (float32 scalar ``-1e4``).
    """
    sd = {k: v.detach().cpu().contiguous().clone() for k, v in model.state_dict().items()}
    cfg = model.gpt.config
    n = cfg.n_positions
    tril = torch.tril(torch.ones((n, n), dtype=torch.bool)).view(1, 1, n, n)
    for i in range(cfg.n_layer):
        bias_key = f"gpt.transformer.h.{i}.attn.bias"
        masked_key = f"gpt.transformer.h.{i}.attn.masked_bias"
        if bias_key not in sd:
            sd[bias_key] = tril.to(bias_dtype).clone()
        if masked_key not in sd:
            sd[masked_key] = torch.tensor(-1e4)
    if "gpt.lm_head.weight" not in sd:
        sd["gpt.lm_head.weight"] = sd["gpt.transformer.wte.weight"].clone()
    return sd


def save_official_checkpoint(model: ClipCaptionModel, path: str,
                             bias_dtype: torch.dtype = torch.bool) -> "dict[str, torch.Tensor]":
    """``torch.save`` :func:`official_state_dict` to ``path``; returns the saved dict."""
    sd = official_state_dict(model, bias_dtype=bias_dtype)
    torch.save(sd, path)
    return sd


# --------------------------------------------------------------------------- decoding

def _next_logits(model: ClipCaptionModel, embeds: torch.Tensor) -> torch.Tensor:
    return model.gpt(inputs_embeds=embeds, use_cache=False).logits[:, -1, :]


@torch.no_grad()
def official_generate_greedy(model: ClipCaptionModel, prefix_embed: torch.Tensor,
                             stop_token_id: int, max_length: int = 67) -> List[int]:
    """Reference greedy decoding of one image (the single-entry nucleus loop of the release).

    Its top-p filter always keeps the most likely token, so each step is an argmax.  Decoding
    stops right after the stop token is emitted, or after ``max_length`` tokens.  Returns the
    token ids, stop token included.
    """
    model.eval()
    wte = model.gpt.transformer.wte
    embeds = prefix_embed
    tokens: List[int] = []
    for _ in range(max_length):
        nxt = torch.argmax(_next_logits(model, embeds), dim=-1)  # [1]
        tokens.append(int(nxt.item()))
        embeds = torch.cat((embeds, wte(nxt).view(1, 1, -1)), dim=1)
        if tokens[-1] == stop_token_id:
            break
    return tokens


@torch.no_grad()
def official_generate_beam(model: ClipCaptionModel, prefix_embed: torch.Tensor,
                           stop_token_id: int, beam_size: int = 5, max_length: int = 67,
                           temperature: float = 1.0) -> List[Tuple[List[int], float]]:
    """Reference beam search of one image.

    Candidates are ranked by their length-averaged log-probability; a finished beam can only
    be extended by token 0 at no cost and its length stops growing.  Returns ``beam_size``
    pairs ``(token ids truncated to the beam's length, averaged score)``, best first.
    """
    model.eval()
    wte = model.gpt.transformer.wte
    device = prefix_embed.device
    embeds = prefix_embed
    tokens = None
    scores = None
    seq_lengths = torch.ones(beam_size, device=device)
    is_stopped = torch.zeros(beam_size, device=device, dtype=torch.bool)
    temp = temperature if temperature > 0 else 1.0
    for _ in range(max_length):
        # the release takes log(softmax(.)) rather than log_softmax(.)
        logp = (_next_logits(model, embeds) / temp).softmax(-1).log()
        if scores is None:
            scores, next_tokens = logp.topk(beam_size, -1)       # [1, beam]
            scores = scores.view(-1)
            next_tokens = next_tokens.view(beam_size, 1)
            embeds = embeds.expand(beam_size, *embeds.shape[1:])
            tokens = next_tokens
        else:
            logp[is_stopped] = -float("inf")
            logp[is_stopped, 0] = 0.0
            total = scores[:, None] + logp                       # [beam, V]
            seq_lengths[~is_stopped] += 1
            average = total / seq_lengths[:, None]
            average, flat = average.view(-1).topk(beam_size, -1)
            vocab = total.shape[1]
            source = torch.div(flat, vocab, rounding_mode="floor")
            seq_lengths = seq_lengths[source]
            next_tokens = (flat % vocab).unsqueeze(1)
            tokens = torch.cat((tokens[source], next_tokens), dim=1)
            embeds = embeds[source]
            scores = average * seq_lengths
            is_stopped = is_stopped[source]
        step_embed = wte(next_tokens.view(-1)).view(embeds.shape[0], 1, -1)
        embeds = torch.cat((embeds, step_embed), dim=1)
        is_stopped = is_stopped | next_tokens.view(-1).eq(stop_token_id)
        if bool(is_stopped.all()):
            break
    scores = scores / seq_lengths
    order = scores.argsort(descending=True)
    out = []
    for i in order.tolist():
        n = int(seq_lengths[i])
        out.append((tokens[i, :n].tolist(), float(scores[i])))
    return out


def official_train_loss(model: ClipCaptionModel, tokens: torch.Tensor, prefix: torch.Tensor,
                        mask: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Loss of the reference training loop.

    ``tokens`` ``[B, T]`` are padded with 0; ``mask`` ``[B, prefix_length + T]`` is 1 on the
    prefix and on real tokens.  The logits predicting the caption are positions
    ``prefix_length - 1 .. -2``; cross-entropy averages over targets that are not id 0.
    """
    logits = model(tokens, prefix, mask)[:, model.prefix_length - 1:-1]
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), tokens.flatten(),
                           ignore_index=0)
