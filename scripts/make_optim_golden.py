#!/usr/bin/python3
"""Writes the golden fixtures of the optimizer and clipping tests in
tests/train/test_train_core.cpp: a few steps of PyTorch's SGD, Adam and AdamW
(and clip_grad_norm_), so that attn's updates are held to PyTorch's formulas
and CI needs no Python.

    /usr/bin/python3 scripts/make_optim_golden.py     # Debian's python3-torch (1.13)

The files go to tests/golden/train/<case>.txt, in the text format of
scripts/make_golden.py (case, op, attr, tensor lines; values %.17g, row-major).
They live in a folder of their own because make_golden.py clears every .txt
file of tests/golden/ when it runs.

An optimizer case holds:
    attr lrs <lr of step 1> <lr of step 2> ...   one per step (set_lr before each)
    attr momentum / dampening / nesterov / betas / eps / weight_decay
    tensor p<i>                  parameter i before the first step
    tensor grad_p<i>_step<k>     its gradient at step k; absent = no gradient
                                 (grad is None: PyTorch skips the parameter)
    tensor out_p<i>_step<k>      parameter i after step k
A clipping case holds the gradients grad_p<i>, attr max_norm, and the
expected out_norm (the norm before clipping) and out_grad_p<i> (after).

Everything runs in float64 from float32-representable inputs, so that attn
can compare its float64 run to ~1e-12 and its float32 run to ~1e-5.
"""

import os
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "tests", "golden", "train"))

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)

cases = []  # (name, text)


def fmt_tensor(name, t):
    t = t.detach()
    if t.dtype == torch.int64:
        dtype, values = "int64", " ".join("%d" % v for v in t.flatten().tolist())
    else:
        dtype, values = "float64", " ".join("%.17g" % v for v in t.double().flatten().tolist())
    header = " ".join(["tensor", name, dtype, str(t.dim())] + [str(s) for s in t.shape])
    return header + "\n" + values + "\n"


def fmt_attr(key, values):
    if not isinstance(values, (list, tuple)):
        values = [values]
    words = []
    for v in values:
        if isinstance(v, bool):
            words.append("1" if v else "0")
        elif isinstance(v, float):
            words.append(repr(v))  # the shortest text that reads back exactly
        else:
            words.append(str(v))
    return "attr " + " ".join([key] + words) + "\n"


def randn(gen, *shape, scale=1.0):
    return (torch.randn(shape, generator=gen) * scale).float().double()


def header(name, op):
    return ("# golden fixture made by scripts/make_optim_golden.py with torch %s; do not edit\n"
            "case %s\nop %s\n" % (torch.__version__, name, op))


def optim_case(name, op, make, attrs, lrs, shapes=((3, 4), (5,)), skip=()):
    """make(params) -> a torch optimizer. skip: (param index, step) pairs
    whose gradient is None."""
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    params = [randn(gen, *s).requires_grad_(True) for s in shapes]
    text = header(name, op)
    for key, value in attrs.items():
        text += fmt_attr(key, value)
    text += fmt_attr("lrs", [float(lr) for lr in lrs])
    for i, p in enumerate(params):
        text += fmt_tensor("p%d" % i, p)
    optimizer = make(params)
    for k, lr in enumerate(lrs, start=1):
        for group in optimizer.param_groups:
            group["lr"] = lr
        for i, p in enumerate(params):
            if (i, k) in skip:
                p.grad = None
            else:
                # Gradients of a few sizes, so that eps and the moments matter.
                p.grad = randn(gen, *p.shape, scale=0.5 * k)
                text += fmt_tensor("grad_p%d_step%d" % (i, k), p.grad)
        optimizer.step()
        for i, p in enumerate(params):
            text += fmt_tensor("out_p%d_step%d" % (i, k), p)
    cases.append((name, text))


def clip_case(name, max_norm, scale):
    gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
    params = [randn(gen, *s).requires_grad_(True) for s in ((3, 4), (5,), (2, 2))]
    for p in params:
        p.grad = randn(gen, *p.shape, scale=scale)
    text = header(name, "clip_grad_norm") + fmt_attr("max_norm", float(max_norm))
    for i, p in enumerate(params):
        text += fmt_tensor("grad_p%d" % i, p.grad)
    norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    text += fmt_tensor("out_norm", norm.reshape(()))
    for i, p in enumerate(params):
        text += fmt_tensor("out_grad_p%d" % i, p.grad)
    cases.append((name, text))


def main():
    five = [0.1] * 5
    optim_case("optim_sgd_plain", "sgd", lambda ps: torch.optim.SGD(ps, lr=0.1),
               {"momentum": 0.0, "dampening": 0.0, "nesterov": False, "weight_decay": 0.0}, five)
    optim_case("optim_sgd_momentum_decay", "sgd",
               lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01),
               {"momentum": 0.9, "dampening": 0.0, "nesterov": False, "weight_decay": 0.01}, five)
    optim_case("optim_sgd_nesterov", "sgd",
               lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True),
               {"momentum": 0.9, "dampening": 0.0, "nesterov": True, "weight_decay": 0.0},
               [0.05] * 5)
    optim_case("optim_sgd_dampening_skip", "sgd",
               lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.8, dampening=0.25),
               {"momentum": 0.8, "dampening": 0.25, "nesterov": False, "weight_decay": 0.0},
               [0.1, 0.1, 0.05, 0.05, 0.02], skip={(1, 1), (0, 3)})

    adam_defaults = {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.0}
    optim_case("optim_adam_default", "adam", lambda ps: torch.optim.Adam(ps, lr=1e-3),
               adam_defaults, [1e-3] * 6)
    optim_case("optim_adam_decay_betas", "adam",
               lambda ps: torch.optim.Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
               {"betas": [0.8, 0.99], "eps": 1e-6, "weight_decay": 0.1}, [0.01] * 5)
    # Parameter 1 has no gradient at steps 2 and 3: its own step count lags,
    # so its bias corrections differ from parameter 0's.
    optim_case("optim_adam_skip_lr_changes", "adam", lambda ps: torch.optim.Adam(ps, lr=0.01),
               adam_defaults, [0.01, 0.02, 0.005, 0.01, 0.001], skip={(1, 2), (1, 3)})
    optim_case("optim_adamw_default", "adamw", lambda ps: torch.optim.AdamW(ps, lr=0.01),
               {"betas": [0.9, 0.999], "eps": 1e-8, "weight_decay": 0.01}, [0.01] * 5)
    optim_case("optim_adamw_strong_decay_skip", "adamw",
               lambda ps: torch.optim.AdamW(ps, lr=0.05, betas=(0.85, 0.98), weight_decay=0.3),
               {"betas": [0.85, 0.98], "eps": 1e-8, "weight_decay": 0.3},
               [0.05, 0.04, 0.03, 0.02, 0.01], skip={(0, 2)})

    clip_case("clip_grad_norm_clipped", max_norm=1.0, scale=2.0)
    clip_case("clip_grad_norm_unclipped", max_norm=100.0, scale=0.5)

    os.makedirs(OUT_DIR, exist_ok=True)
    for old in os.listdir(OUT_DIR):
        if old.endswith(".txt"):
            os.remove(os.path.join(OUT_DIR, old))
    for name, text in cases:
        with open(os.path.join(OUT_DIR, name + ".txt"), "w") as f:
            f.write(text)
    print("wrote %d cases to %s" % (len(cases), OUT_DIR))


if __name__ == "__main__":
    main()
