"""Random-weight ClipCap models at a run's sizes (``sizes.py``: GPT-2 124M and an MLP mapper
from 512-d CLIP embeddings, or a smoke run's tiny ones), built once in PyTorch and converted,
so that the reference and tfcaption run the same weights on the same inputs.

The PyTorch ClipCap is ``unitest/torch_clipcap.py`` (the released module layout); its
state dict goes through the same conversion as a released ``coco_weights.pt``.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if os.path.join(ROOT, "unitest") not in sys.path:
    sys.path.append(os.path.join(ROOT, "unitest"))


def torch_clipcap(sizes, seed=0, mapping_type="mlp"):
    """The official ClipCap module at ``sizes`` (GPT-2 from ``sizes.gpt2``, its other
    settings GPT-2's: vocabulary 50257, dropout 0.1), random weights from the library's
    own initialisers, in eval mode, attention on PyTorch's default (SDPA) kernel."""
    import torch
    from torch_clipcap import ClipCaptionModel
    from transformers import GPT2Config

    torch.manual_seed(seed)
    model = ClipCaptionModel(sizes.prefix_length, prefix_size=sizes.prefix_dim,
                             mapping_type=mapping_type, gpt_config=GPT2Config(**sizes.gpt2))
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


def clipcap_pair(sizes, seed=0):
    """``(torch ClipCaptionModel, tfcaption ClipCapModel)`` with identical weights."""
    reference = torch_clipcap(sizes, seed)
    return reference, converted_clipcap(reference)


def gpt2_flops_per_token(config, context):
    """Forward multiply-adds x 2 of one token through the GPT-2 of ``config`` (a
    ``GPT2Config``) attending to ``context`` positions: the dense layers (12 h^2 per layer),
    attention (2 h context per layer), the LM head."""
    hidden, layers, vocab = config.n_embd, config.n_layer, config.vocab_size
    return 2 * (layers * (12 * hidden * hidden + 2 * hidden * context) + hidden * vocab)
