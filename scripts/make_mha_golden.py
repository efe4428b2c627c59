#!/usr/bin/python3
"""Writes the golden fixtures of tests/nn/test_multihead_attention.cpp:
attn::nn::MultiheadAttention checked against torch.nn.MultiheadAttention
(Vaswani et al. 2017, section 3.2.2), so that CI needs no Python.

    /usr/bin/python3 scripts/make_mha_golden.py   # Debian's python3-torch (1.13)

PyTorch keeps the three input projections in one in_proj_weight (3D, D) and
in_proj_bias (3D); its row blocks [0, D), [D, 2D), [2D, 3D) are attn's
q_proj, k_proj and v_proj. out_proj is the same in both.

Masks: torch's bool masks mean True = NOT allowed, the opposite of attn's
int64 masks (nonzero = may attend). Each case stores attn's mask (int64,
broadcastable to (B, H, Tq, Tk), as padding_mask / causal_mask make it) and
hands torch its negation: key_padding_mask (B, Tk) and attn_mask (Tq, Tk).
No row is fully masked (torch gives NaN there).

Each case becomes tests/golden/mha/<case>.txt in the format of
scripts/make_rnn_golden.py: the weights under attn's names, the inputs
(x for self-attention, else query, key, value) and mask, out0 = output
(B, Tq, D), out1 = per-head weights (B, H, Tq, Tk) (average_attn_weights=
False), the upstream gradients grad_out0/1 and every expected gradient.
Values are float32-representable; PyTorch runs in float64.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_rnn_golden import fmt_tensor, generator, randn  # noqa: E402  (fixture format, seeded draws)

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "tests", "golden", "mha"))

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)


def make_case(name, B, Tq, Tk, D, H, self_attention, lengths, causal):
    gen = generator(name)
    mha = torch.nn.MultiheadAttention(D, H, batch_first=True)
    with torch.no_grad():
        for p in mha.parameters():
            p.copy_(randn(gen, *p.shape) * 0.5)
    if self_attention:
        x = randn(gen, B, Tq, D).requires_grad_(True)
        query = key = value = x
        inputs = [("x", x)]
    else:
        query = randn(gen, B, Tq, D).requires_grad_(True)
        key = randn(gen, B, Tk, D).requires_grad_(True)
        value = randn(gen, B, Tk, D).requires_grad_(True)
        inputs = [("query", query), ("key", key), ("value", value)]

    # attn's mask (1 = may attend), then torch's (True = hidden).
    visible = torch.ones(B, 1, Tq, Tk, dtype=torch.int64)
    if lengths is not None:
        visible = visible * (torch.arange(Tk)[None, :] < torch.tensor(lengths)[:, None]).long()[:, None, None, :]
    if causal:
        visible = visible * torch.tril(torch.ones(Tq, Tk, dtype=torch.int64))[None, None]
    key_padding_mask = None
    if lengths is not None:
        key_padding_mask = torch.arange(Tk)[None, :] >= torch.tensor(lengths)[:, None]  # (B, Tk)
    attn_mask = ~torch.tril(torch.ones(Tq, Tk, dtype=torch.bool)) if causal else None  # (Tq, Tk)

    out, weights = mha(query, key, value, key_padding_mask=key_padding_mask, attn_mask=attn_mask,
                       need_weights=True, average_attn_weights=False)
    outs = [out, weights]
    grad_gen = generator(name + "/grad")
    upstream = [randn(grad_gen, *o.shape) for o in outs]
    torch.autograd.backward(outs, upstream)

    W, b = mha.in_proj_weight, mha.in_proj_bias
    params = [("q_proj.weight", W[:D]), ("q_proj.bias", b[:D]),
              ("k_proj.weight", W[D:2 * D]), ("k_proj.bias", b[D:2 * D]),
              ("v_proj.weight", W[2 * D:]), ("v_proj.bias", b[2 * D:]),
              ("out_proj.weight", mha.out_proj.weight), ("out_proj.bias", mha.out_proj.bias)]
    Wg, bg = W.grad, b.grad
    grads = [("q_proj.weight", Wg[:D]), ("q_proj.bias", bg[:D]),
             ("k_proj.weight", Wg[D:2 * D]), ("k_proj.bias", bg[D:2 * D]),
             ("v_proj.weight", Wg[2 * D:]), ("v_proj.bias", bg[2 * D:]),
             ("out_proj.weight", mha.out_proj.weight.grad), ("out_proj.bias", mha.out_proj.bias.grad)]

    text = "# golden fixture made by scripts/make_mha_golden.py with torch %s; do not edit\n" % (
        torch.__version__)
    text += "case %s\nop multihead_attention\nattr num_heads %d\nattr d_model %d\n" % (name, H, D)
    for n, t in params + inputs:
        text += fmt_tensor(n, t)
    if lengths is not None or causal:
        text += fmt_tensor("mask", visible)
    for i, o in enumerate(outs):
        text += fmt_tensor("out%d" % i, o)
    for i, g in enumerate(upstream):
        text += fmt_tensor("grad_out%d" % i, g)
    for n, t in grads:
        text += fmt_tensor("grad_" + n, t)
    for n, t in inputs:
        text += fmt_tensor("grad_" + n, t.grad)
    return text


def main():
    cases = [
        ("mha_self_padding_causal", make_case("mha_self_padding_causal", 2, 5, 5, 8, 2, True, [5, 3], True)),
        ("mha_cross_padding", make_case("mha_cross_padding", 2, 3, 4, 12, 3, False, [4, 2], False)),
        ("mha_cross_no_mask", make_case("mha_cross_no_mask", 1, 2, 3, 8, 4, False, None, False)),
    ]
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
