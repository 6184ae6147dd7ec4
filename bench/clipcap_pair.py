"""Random-weight models at the real sizes, built once in PyTorch and converted, so that the
reference and tfcaption run the same weights on the same inputs.

The PyTorch ClipCap is ``unitest/torch_clipcap.py`` (the released module layout); its
state dict goes through the same conversion as a released ``coco_weights.pt``.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.join(ROOT, "unitest") not in sys.path:
    sys.path.append(os.path.join(ROOT, "unitest"))

PREFIX_LENGTH = 10
PREFIX_DIM = 512  # CLIP ViT-B/32


def torch_clipcap(seed=0, prefix_length=PREFIX_LENGTH, prefix_dim=PREFIX_DIM,
                  mapping_type="mlp"):
    """The official ClipCap module at its released size (GPT-2 124M, MLP mapper), random
    weights from the library's own initialisers, in eval mode, attention on PyTorch's
    default (SDPA) kernel."""
    import torch
    from torch_clipcap import ClipCaptionModel
    from transformers import GPT2Config

    torch.manual_seed(seed)
    model = ClipCaptionModel(prefix_length, prefix_size=prefix_dim, mapping_type=mapping_type,
                             gpt_config=GPT2Config())
    model.gpt.set_attn_implementation("sdpa")
    return model.eval()


def converted_clipcap(reference, normalize_prefix=False):
    """tfcaption's :class:`ClipCapModel` holding ``reference``'s weights, converted as a
    released checkpoint is."""
    from torch_clipcap import official_state_dict

    from tfcaption.backbones.gpt2_loader import gpt2_from_state_dict
    from tfcaption.models.clipcap.clipcap_model import ClipCapModel
    from tfcaption.models.clipcap.official_checkpoint import (assign_mapper_weights,
                                                              build_official_mapper,
                                                              infer_official_config)

    state = {k: v.numpy() for k, v in official_state_dict(reference).items()}
    config = infer_official_config(state, "reference")
    gpt2 = gpt2_from_state_dict(state, "reference", prefix="gpt.")
    model = ClipCapModel(build_official_mapper(config), gpt2.model,
                         normalize_prefix=normalize_prefix, name="clipcap")
    rest = {k: v for k, v in state.items() if not k.startswith("gpt.")}
    assert assign_mapper_weights(model.mapper, rest, "reference") == len(model.mapper.weights)
    return model


def clipcap_pair(seed=0):
    """``(torch ClipCaptionModel, tfcaption ClipCapModel)`` with identical weights."""
    reference = torch_clipcap(seed)
    return reference, converted_clipcap(reference)


def gpt2_flops_per_token(context, hidden=768, layers=12, vocab=50257):
    """Forward multiply-adds x 2 of one GPT-2 token attending to ``context`` positions:
    the dense layers (12 h^2 per layer), attention (2 h context per layer), the LM head."""
    return 2 * (layers * (12 * hidden * hidden + 2 * hidden * context) + hidden * vocab)
