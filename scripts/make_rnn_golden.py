#!/usr/bin/python3
"""Writes the golden fixtures of tests/nn/test_layers.cpp: attn's GRU and LSTM
checked against PyTorch's with the same weights, so that CI needs no Python.

    /usr/bin/python3 scripts/make_rnn_golden.py     # Debian's python3-torch (1.13)

Each case becomes tests/golden/rnn/<case>.txt, in the text format of
scripts/make_golden.py (whose docstring has the details):

    case rnn_gru_cell                 the case's name (= the file's name)
    op gru_cell                       which layer the C++ test builds
    attr hidden_size 3                the layer's options
    tensor weight_ih float64 2 9 4    parameters under PyTorch's names, inputs
    ...                               (x, h, c, lengths, h0, c0), then
    tensor out0 float64 2 2 3         the outputs out0, out1, ... in the order
    ...                               the layer returns them; for each output
                                      an upstream gradient grad_out<i>, and the
                                      expected gradient grad_<name> of every
                                      parameter and floating-point input.

The files live in their own folder because make_golden.py clears the *.txt
files of tests/golden/ when it rewrites its own.

Values come from a generator seeded by the case's name and are rounded to
float32-representable numbers, so attn's float32 run sees exactly PyTorch's
inputs. PyTorch runs in float64. Sequences with lengths go through
pack_padded_sequence (enforce_sorted=False) and pad_packed_sequence, which is
what "padded positions leave the state alone and output 0" means in PyTorch.
"""

import os
import zlib

import torch
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "tests", "golden", "rnn"))

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

cases = []  # (name, text)


def generator(name):
    return torch.Generator().manual_seed(zlib.crc32(name.encode()))


def randn(gen, *shape):
    return torch.randn(shape, generator=gen).float().double()  # float32-representable


def fmt_tensor(name, t):
    t = t.detach()
    if t.dtype == torch.int64:
        dtype, values = "int64", " ".join("%d" % v for v in t.flatten().tolist())
    else:
        dtype, values = "float64", " ".join("%.17g" % v for v in t.double().flatten().tolist())
    header = " ".join(["tensor", name, dtype, str(t.dim())] + [str(s) for s in t.shape])
    return header + "\n" + values + "\n"


def fmt_attr(key, value):
    if isinstance(value, bool):
        value = 1 if value else 0
    return "attr %s %s\n" % (key, value)


def add_case(name, op, attrs, module, inputs, run):
    """module: a torch RNN layer whose parameters are redrawn here; inputs:
    list of (name, tensor); run(module, *inputs) -> list of output tensors."""
    gen = generator(name)
    with torch.no_grad():
        for p in module.parameters():
            p.copy_(randn(gen, *p.shape) * 0.5)
    leaves = []
    for n, t in inputs:
        t = t.clone()
        if t.is_floating_point():
            t.requires_grad_(True)
        leaves.append((n, t))
    outs = run(module, *[t for _, t in leaves])
    grad_gen = generator(name + "/grad")
    upstream = [randn(grad_gen, *o.shape) for o in outs]
    torch.autograd.backward(outs, upstream)

    text = "# golden fixture made by scripts/make_rnn_golden.py with torch %s; do not edit\n" % (
        torch.__version__)
    text += "case %s\nop %s\n" % (name, op)
    for key, value in attrs.items():
        text += fmt_attr(key, value)
    params = list(module.named_parameters())
    for n, p in params:
        text += fmt_tensor(n, p)
    for n, t in leaves:
        text += fmt_tensor(n, t)
    for i, o in enumerate(outs):
        text += fmt_tensor("out%d" % i, o)
    for i, g in enumerate(upstream):
        text += fmt_tensor("grad_out%d" % i, g)
    for n, p in params:
        text += fmt_tensor("grad_" + n, p.grad)
    for n, t in leaves:
        if t.is_floating_point():
            text += fmt_tensor("grad_" + n, t.grad)
    cases.append((name, text))


def run_sequence(module, x, lengths, state):
    """x (B, T, I) batch-first, lengths (B), state: h0 or (h0, c0) or None.
    Returns [output (B, T, D*H) with zeros on padding, h_n] (+ [c_n])."""
    packed = pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
    out, final = module(packed, state)
    out, _ = pad_packed_sequence(out, batch_first=True, total_length=x.shape[1])
    return [out] + (list(final) if isinstance(final, tuple) else [final])


def cell_cases():
    B, I, H = 2, 4, 3
    gen = generator("rnn_cell_inputs")
    x, h, c = randn(gen, B, I), randn(gen, B, H), randn(gen, B, H)
    add_case("rnn_gru_cell", "gru_cell", {"input_size": I, "hidden_size": H},
             torch.nn.GRUCell(I, H), [("x", x), ("h", h)],
             lambda m, x, h: [m(x, h)])
    add_case("rnn_lstm_cell", "lstm_cell", {"input_size": I, "hidden_size": H},
             torch.nn.LSTMCell(I, H), [("x", x), ("h", h), ("c", c)],
             lambda m, x, h, c: list(m(x, (h, c))))


def sequence_cases():
    # Three sentences of 4, 2 and 3 real steps, not sorted by length: the
    # backward direction must start at step 1 of row 1 and step 2 of row 2.
    B, T, I, H, L = 3, 4, 3, 2, 2
    lengths = torch.tensor([4, 2, 3])
    gen = generator("rnn_sequence_inputs")
    x = randn(gen, B, T, I)
    h0, c0 = randn(gen, 2 * L, B, H), randn(gen, 2 * L, B, H)
    attrs = {"input_size": I, "hidden_size": H, "num_layers": L, "bidirectional": True}
    add_case("rnn_gru_bidirectional_lengths", "gru", attrs,
             torch.nn.GRU(I, H, num_layers=L, bidirectional=True, batch_first=True),
             [("x", x), ("lengths", lengths)],
             lambda m, x, lengths: run_sequence(m, x, lengths, None))
    add_case("rnn_lstm_bidirectional_lengths", "lstm", attrs,
             torch.nn.LSTM(I, H, num_layers=L, bidirectional=True, batch_first=True),
             [("x", x), ("lengths", lengths), ("h0", h0), ("c0", c0)],
             lambda m, x, lengths, h0, c0: run_sequence(m, x, lengths, (h0, c0)))
    # One direction, no lengths, a given h0: the plain path.
    add_case("rnn_gru_one_layer_h0", "gru", {"input_size": I, "hidden_size": H, "num_layers": 1,
                                             "bidirectional": False},
             torch.nn.GRU(I, H, batch_first=True),
             [("x", x), ("h0", h0[:1].clone())],
             lambda m, x, h0: list(m(x, h0)))


def main():
    cell_cases()
    sequence_cases()
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
