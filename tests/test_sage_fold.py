"""SAGE inference folds BatchNorm into the convolutions and merges skips before upsampling (``SageStudent.fuse``):
the released forward's function up to float rounding."""

from __future__ import annotations

import copy

import torch
from torch import nn

from ivifbench.fusion.sage.method import fold_batchnorm
from ivifbench.fusion.sage.student import SageStudent


def test_folded_student_computes_the_same_function() -> None:
    torch.manual_seed(0)
    net = SageStudent()
    for m in net.modules():  # non-trivial running statistics and affine terms
        if isinstance(m, nn.BatchNorm2d):
            m.running_mean.uniform_(-0.5, 0.5)
            m.running_var.uniform_(0.2, 3.0)
            m.weight.data.uniform_(0.5, 1.5)
            m.bias.data.uniform_(-0.3, 0.3)
    net.eval()
    folded = fold_batchnorm(copy.deepcopy(net))
    assert not any(isinstance(m, nn.BatchNorm2d) for m in folded.modules())
    y, ir = torch.rand(2, 1, 45, 62), torch.rand(2, 1, 45, 62)
    with torch.inference_mode():
        ref = net(y, ir)[0]  # the released layer order: concatenate, then the 1×1 convolution
        merged, out = net.fuse(y, ir), folded.fuse(y, ir)
    assert float((ref - merged).abs().max()) < 1e-5  # 45×62: the upsampling ratios are not exactly 2
    assert float((ref - out).abs().max()) < 1e-5
