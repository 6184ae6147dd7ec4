"""A PyTorch implementation of the OpenAI CLIP "ModifiedResNet" image tower, for parity tests.

Module names are those of the OpenAI checkpoints, so ``state_dict()`` keys are the real
ones, including the shortcut ``downsample`` Sequential whose weight-free average pool is the
``"-1"`` entry (the 1x1 conv is ``downsample.0``, its BatchNorm ``downsample.1``).
"""

from collections import OrderedDict
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

EXPANSION = 4


class Bottleneck(nn.Module):
    def __init__(self, inplanes: int, planes: int, stride: int = 1):
        super().__init__()
        out_planes = planes * EXPANSION
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(planes, planes, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu2 = nn.ReLU()
        self.avgpool = nn.AvgPool2d(stride) if stride > 1 else nn.Identity()
        self.conv3 = nn.Conv2d(planes, out_planes, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out_planes)
        self.relu3 = nn.ReLU()
        self.downsample: Optional[nn.Module] = None
        if stride > 1 or inplanes != out_planes:
            self.downsample = nn.Sequential(OrderedDict([
                ("-1", nn.AvgPool2d(stride)),
                ("0", nn.Conv2d(inplanes, out_planes, 1, bias=False)),
                ("1", nn.BatchNorm2d(out_planes)),
            ]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.relu1(self.bn1(self.conv1(x)))
        y = self.relu2(self.bn2(self.conv2(y)))
        y = self.bn3(self.conv3(self.avgpool(y)))
        shortcut = x
        if self.downsample is not None:
            shortcut = self.downsample(x)
        return self.relu3(y + shortcut)


class AttentionPool2d(nn.Module):
    def __init__(self, spacial_dim: int, embed_dim: int, num_heads: int,
                 output_dim: Optional[int] = None):
        super().__init__()
        self.positional_embedding = nn.Parameter(
            torch.randn(spacial_dim ** 2 + 1, embed_dim) / embed_dim ** 0.5)
        self.k_proj = nn.Linear(embed_dim, embed_dim)
        self.q_proj = nn.Linear(embed_dim, embed_dim)
        self.v_proj = nn.Linear(embed_dim, embed_dim)
        self.c_proj = nn.Linear(embed_dim, output_dim or embed_dim)
        self.num_heads = num_heads

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.flatten(2).permute(2, 0, 1)  # [HW, N, C], row-major over (h, w)
        tokens = torch.cat([tokens.mean(0, keepdim=True), tokens], 0)
        tokens = tokens + self.positional_embedding[:, None, :].to(tokens.dtype)
        out, _ = F.multi_head_attention_forward(
            query=tokens[:1], key=tokens, value=tokens,
            embed_dim_to_check=tokens.shape[-1], num_heads=self.num_heads,
            in_proj_weight=None,
            in_proj_bias=torch.cat([self.q_proj.bias, self.k_proj.bias, self.v_proj.bias]),
            bias_k=None, bias_v=None, add_zero_attn=False, dropout_p=0.0,
            out_proj_weight=self.c_proj.weight, out_proj_bias=self.c_proj.bias,
            training=False, need_weights=False, use_separate_proj_weight=True,
            q_proj_weight=self.q_proj.weight, k_proj_weight=self.k_proj.weight,
            v_proj_weight=self.v_proj.weight)
        return out[0]


class ModifiedResNet(nn.Module):
    def __init__(self, layers, output_dim: int, heads: int, input_resolution: int = 224,
                 width: int = 64):
        super().__init__()
        half = width // 2
        self.conv1 = nn.Conv2d(3, half, 3, stride=2, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(half)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(half, half, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(half)
        self.relu2 = nn.ReLU()
        self.conv3 = nn.Conv2d(half, width, 3, padding=1, bias=False)
        self.bn3 = nn.BatchNorm2d(width)
        self.relu3 = nn.ReLU()
        self.avgpool = nn.AvgPool2d(2)
        inplanes = width
        stages = []
        for index, blocks in enumerate(layers):
            planes = width * 2 ** index
            stride = 1 if index == 0 else 2
            stage = [Bottleneck(inplanes, planes, stride)]
            inplanes = planes * EXPANSION
            stage += [Bottleneck(inplanes, planes) for _ in range(1, blocks)]
            stages.append(nn.Sequential(*stage))
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.attnpool = AttentionPool2d(input_resolution // 32, width * 32, heads, output_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.relu1(self.bn1(self.conv1(x)))
        x = self.relu2(self.bn2(self.conv2(x)))
        x = self.relu3(self.bn3(self.conv3(x)))
        x = self.avgpool(x)
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.attnpool(x)


class _ResBlockStub(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict([("c_fc", nn.Linear(width, 2 * width))]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(self.ln_1(x))


class _TransformerStub(nn.Module):
    def __init__(self, width: int):
        super().__init__()
        self.resblocks = nn.Sequential(_ResBlockStub(width))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class ClipWithTextStub(nn.Module):
    """``visual`` plus a few text-tower parameters/buffers under their OpenAI names, so that
    ``state_dict()`` (and a TorchScript archive of it) looks like a full CLIP checkpoint."""

    def __init__(self, visual: ModifiedResNet, text_width: int = 8, vocab_size: int = 11,
                 context_length: int = 5, image_resolution: int = 224):
        super().__init__()
        self.visual = visual
        self.transformer = _TransformerStub(text_width)
        self.token_embedding = nn.Embedding(vocab_size, text_width)
        self.positional_embedding = nn.Parameter(torch.randn(context_length, text_width))
        self.ln_final = nn.LayerNorm(text_width)
        self.text_projection = nn.Parameter(torch.randn(text_width, 4))
        self.logit_scale = nn.Parameter(torch.tensor(4.6))
        self.register_buffer("input_resolution", torch.tensor(image_resolution))
        self.register_buffer("context_length", torch.tensor(context_length))
        self.register_buffer("vocab_size", torch.tensor(vocab_size))

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.visual(image)


def randomize(module: nn.Module, seed: int = 0) -> nn.Module:
    """Moves every BatchNorm off its defaults (weight, bias, running stats) and puts the
    module in eval mode, so parity tests exercise the full inference-mode BN maths."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for sub in module.modules():
            if isinstance(sub, nn.BatchNorm2d):
                n = sub.num_features
                sub.weight.copy_(0.5 + torch.rand(n, generator=generator))
                sub.bias.copy_(0.2 * torch.randn(n, generator=generator))
                sub.running_mean.copy_(0.2 * torch.randn(n, generator=generator))
                sub.running_var.copy_(0.5 + torch.rand(n, generator=generator))
                sub.num_batches_tracked.fill_(7)
            elif isinstance(sub, nn.Linear):
                sub.bias.copy_(0.1 * torch.randn(sub.bias.shape, generator=generator))
    return module.eval()


def half_conv_and_linear(module: nn.Module) -> nn.Module:
    """What OpenAI's JIT releases hold: conv / linear weights in float16, the rest float32."""
    for sub in module.modules():
        if isinstance(sub, (nn.Conv2d, nn.Linear)):
            sub.weight.data = sub.weight.data.half()
            if sub.bias is not None:
                sub.bias.data = sub.bias.data.half()
    return module


def parameter_counts(module: nn.Module):
    """``(parameters, BN running-stat elements)``; ``num_batches_tracked`` is not counted."""
    params = sum(p.numel() for p in module.parameters())
    stats = sum(b.numel() for name, b in module.named_buffers()
                if name.endswith(("running_mean", "running_var")))
    return params, stats
