#!/usr/bin/python3
"""Writes the golden fixtures of tests/nn/test_scaled_dot_product_attention.cpp:
attn's scaled dot-product attention checked against PyTorch, so that CI needs
no Python.

    /usr/bin/python3 scripts/make_attention_golden.py   # Debian's python3-torch (1.13)

torch 1.13 has no torch.nn.functional.scaled_dot_product_attention (it came
in 2.0), so eq. (1) of Vaswani et al. 2017 is written out here in torch ops,
with the paper's -inf on hidden scores:

    weights = softmax(masked_fill(q k^T / sqrt(d_k), mask == 0, -inf))
    output  = weights v

No case has a fully masked row: there the paper's formula gives NaN in
PyTorch, and attn's zeros are checked by the C++ test instead.

Each case becomes tests/golden/attention/<case>.txt, in the format of
scripts/make_rnn_golden.py: the inputs q, k, v (float64) and mask (int64, as
attn's padding_mask / causal_mask / combine_masks make it; absent = no mask),
the outputs out0 = output and out1 = weights, upstream gradients grad_out0
and grad_out1, and the expected grad_q, grad_k, grad_v. Values come from a
generator seeded by the case's name, rounded to float32-representable numbers;
PyTorch runs in float64.
"""

import math
import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_rnn_golden import fmt_tensor, generator, randn  # noqa: E402  (fixture format, seeded draws)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "tests", "golden", "attention"))

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

cases = []  # (name, text)


def padding_mask(lengths, key_length):
    """(B) -> (B, 1, 1, Tk) int64, 1 on real keys."""
    return (torch.arange(key_length)[None, :] < torch.tensor(lengths)[:, None]).long()[:, None, None, :]


def causal_mask(length):
    """-> (1, 1, T, T) int64, lower-triangular."""
    return torch.tril(torch.ones(length, length, dtype=torch.int64))[None, None]


def attention(q, k, v, mask):
    scores = q @ k.transpose(-2, -1) / math.sqrt(q.shape[-1])
    if mask is not None:
        scores = scores.masked_fill(mask == 0, float("-inf"))
    weights = torch.softmax(scores, dim=-1)
    return [weights @ v, weights]


def add_case(name, shape_q, shape_k, value_size, mask):
    gen = generator(name)
    q = randn(gen, *shape_q).requires_grad_(True)
    k = randn(gen, *shape_k).requires_grad_(True)
    v = randn(gen, *(shape_k[:-1] + (value_size,))).requires_grad_(True)
    outs = attention(q, k, v, mask)
    grad_gen = generator(name + "/grad")
    upstream = [randn(grad_gen, *o.shape) for o in outs]
    torch.autograd.backward(outs, upstream)

    text = "# golden fixture made by scripts/make_attention_golden.py with torch %s; do not edit\n" % (
        torch.__version__)
    text += "case %s\nop scaled_dot_product_attention\n" % name
    for n, t in [("q", q), ("k", k), ("v", v)]:
        text += fmt_tensor(n, t)
    if mask is not None:
        text += fmt_tensor("mask", mask)
    for i, o in enumerate(outs):
        text += fmt_tensor("out%d" % i, o)
    for i, g in enumerate(upstream):
        text += fmt_tensor("grad_out%d" % i, g)
    for n, t in [("q", q), ("k", k), ("v", v)]:
        text += fmt_tensor("grad_" + n, t.grad)
    cases.append((name, text))


def main():
    add_case("attention_no_mask", (2, 2, 3, 4), (2, 2, 5, 4), 3, None)
    add_case("attention_padding", (2, 2, 3, 4), (2, 2, 5, 4), 3, padding_mask([5, 2], 5))
    add_case("attention_causal", (1, 2, 4, 8), (1, 2, 4, 8), 2, causal_mask(4))
    add_case("attention_padding_causal", (2, 2, 5, 4), (2, 2, 5, 4), 3,
             padding_mask([5, 3], 5) * causal_mask(5))
    os.makedirs(OUT_DIR, exist_ok=True)
    for old in os.listdir(OUT_DIR):
        if old.endswith(".txt"):
            os.remove(os.path.join(OUT_DIR, old))
    total = 0
    for name, text in cases:
        with open(os.path.join(OUT_DIR, name + ".txt"), "w") as f:
            f.write(text)
        total += len(text)
    print("wrote %d cases to %s (%d bytes)" % (len(cases), OUT_DIR, total))


if __name__ == "__main__":
    main()
