#!/usr/bin/python3
"""Writes the golden fixtures of tests/nn/test_rope.cpp: attn::rope (rotary
position embedding, Su et al. 2021, "RoFormer", section 3.2) and attention
with rotary positions, checked against PyTorch, so that CI needs no Python.

    /usr/bin/python3 scripts/make_rope_golden.py   # Debian's python3-torch (1.13)

The rotation is written here the way Meta's LLaMA reference code writes it,
and differently from attn's kernel: each pair of neighbouring dimensions
(2i, 2i+1) is a complex number x_2i + i x_2i+1, multiplied by
e^(i p theta_i), theta_i = base^(-2i/D), p = offset + t (RoFormer section
3.4.2 and eq. 34: the interleaved layout, the one attn uses; GPT-NeoX's
"rotate_half" pairs dimension i with i + D/2 instead and would not match).
PyTorch's complex autograd gives the expected gradients.

Cases (tests/golden/rope/<case>.txt, the format of scripts/make_rnn_golden.py):
  rope_offset_0            x (2, 3, 5, 8), offset 0, base 10000;
  rope_offset_7_base_100   x (1, 2, 4, 6), offset 7, base 100 (a decoding step's
                           offset, and a base that turns the last pair fast);
  rope_attention_gqa       softmax(rope(q) rope(k)^T / sqrt(Dh)) v with 4 query
                           heads on 2 kv heads (each repeated for its group
                           with repeat_interleave), a causal and a padding
                           mask (lengths 5, 3): q (2, 4, 5, 8), k, v (2, 2, 5, 8).
Each file holds the inputs, out0, the upstream gradient grad_out0 and the
expected gradient grad_<input> of every input. Inputs are float32-representable;
PyTorch runs in float64.
"""

import os
import sys

import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_rnn_golden import fmt_attr, fmt_tensor, generator, randn  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "tests", "golden", "rope"))

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)


def rope(x, offset, base):
    """x (..., T, D) -> each pair (2i, 2i+1) of step t turned by (offset + t) theta_i."""
    T, D = x.shape[-2], x.shape[-1]
    theta = base ** (-torch.arange(0, D, 2, dtype=torch.float64) / D)       # (D/2)
    positions = torch.arange(offset, offset + T, dtype=torch.float64)       # (T)
    angles = positions[:, None] * theta[None, :]                            # (T, D/2)
    turn = torch.polar(torch.ones_like(angles), angles)                     # e^(i angle)
    pairs = torch.view_as_complex(x.reshape(*x.shape[:-1], D // 2, 2).contiguous())
    return torch.view_as_real(pairs * turn).flatten(-2)                     # (..., T, D)


def write_case(name, op, attrs, inputs, outputs):
    grad_gen = generator(name + "/grad")
    upstream = [randn(grad_gen, *o.shape) for o in outputs]
    torch.autograd.backward(outputs, upstream)
    text = "# golden fixture made by scripts/make_rope_golden.py with torch %s; do not edit\n" % (
        torch.__version__)
    text += "case %s\nop %s\n" % (name, op)
    for key, value in attrs:
        text += fmt_attr(key, value)
    for n, t in inputs:
        text += fmt_tensor(n, t)
    for i, o in enumerate(outputs):
        text += fmt_tensor("out%d" % i, o)
    for i, g in enumerate(upstream):
        text += fmt_tensor("grad_out%d" % i, g)
    for n, t in inputs:
        if t.is_floating_point():
            text += fmt_tensor("grad_" + n, t.grad)
    return text


def rope_case(name, shape, offset, base):
    gen = generator(name)
    x = randn(gen, *shape).requires_grad_(True)
    return write_case(name, "rope", [("offset", offset), ("base", base)], [("x", x)],
                      [rope(x, offset, base)])


def attention_case(name, B, H, Hkv, T, Dh, lengths):
    gen = generator(name)
    q = randn(gen, B, H, T, Dh).requires_grad_(True)
    k = randn(gen, B, Hkv, T, Dh).requires_grad_(True)
    v = randn(gen, B, Hkv, T, Dh).requires_grad_(True)
    rq, rk = rope(q, 0, 10000.0), rope(k, 0, 10000.0)
    # Query head h reads kv head h // (H / Hkv): repeat each kv head for its group.
    rk = rk.repeat_interleave(H // Hkv, dim=1)
    rv = v.repeat_interleave(H // Hkv, dim=1)
    scores = rq @ rk.transpose(-2, -1) / Dh ** 0.5                          # (B, H, T, T)
    visible = torch.tril(torch.ones(T, T, dtype=torch.bool))[None, None]
    visible = visible & (torch.arange(T)[None, :] < torch.tensor(lengths)[:, None])[:, None, None, :]
    weights = torch.softmax(scores.masked_fill(~visible, float("-inf")), dim=-1)
    out = weights @ rv                                                      # (B, H, T, Dh)
    lengths_t = torch.tensor(lengths, dtype=torch.int64)
    return write_case(name, "rope_attention", [("num_heads", H), ("num_kv_heads", Hkv)],
                      [("q", q), ("k", k), ("v", v), ("lengths", lengths_t)], [out])


def main():
    cases = [
        ("rope_offset_0", rope_case("rope_offset_0", (2, 3, 5, 8), 0, 10000.0)),
        ("rope_offset_7_base_100", rope_case("rope_offset_7_base_100", (1, 2, 4, 6), 7, 100.0)),
        ("rope_attention_gqa", attention_case("rope_attention_gqa", 2, 4, 2, 5, 8, [5, 3])),
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
