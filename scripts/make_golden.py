#!/usr/bin/python3
"""Writes the golden fixtures of tests/ops/test_golden.cpp: attn's ops checked
against PyTorch's, so that CI needs no Python.

    /usr/bin/python3 scripts/make_golden.py     # Debian's python3-torch (1.13)

Each case becomes tests/golden/<case>.txt, a plain text file that C++ reads
without a library:

    # a comment
    case softmax_dim1                 the case's name (= the file's name)
    op softmax                        the attn op to run (test_golden.cpp)
    attr dim 1                        op arguments: a key, then its values
    tensor x float64 3 2 3 4          name, dtype, ndim, then the sizes
    0.123... -1.5 ...                 the values in row-major order, %.17g
    tensor out float64 3 2 3 4        the expected output(s): out, or out0, out1...
    ...

A gradient case adds the upstream gradient `grad_out` and the expected
gradient `grad_<input>` of each floating-point input. tests/golden/index.txt
lists every case; the C++ test checks that it runs each one.

Inputs are drawn from a generator seeded by the case's name (so adding a case
changes no other file) and rounded to float32-representable values, so that
attn's float32 runs see exactly the same inputs as PyTorch's float64 run.
"""

import math
import os
import sys
import zlib

import torch
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
OUT_DIR = os.path.normpath(os.path.join(HERE, "..", "tests", "golden"))

torch.set_default_dtype(torch.float64)
torch.set_num_threads(1)  # the same sums in the same order on every machine

cases = []  # (name, text) in order of definition


# --- inputs --------------------------------------------------------------------

class Inputs:
    """Deterministic inputs for one case, from a generator seeded by its name."""

    def __init__(self, name):
        self.gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))

    def randn(self, *shape, scale=1.0, shift=0.0):
        x = torch.randn(shape, generator=self.gen) * scale + shift
        return x.float().double()  # float32-representable

    def positive(self, *shape, low=0.1, high=3.0):
        x = torch.rand(shape, generator=self.gen) * (high - low) + low
        return x.float().double()

    def halves(self, *shape, low=-2, high=2):
        """Multiples of 0.5 in [low, high]: ties and exact equalities happen."""
        k = torch.randint(int(2 * low), int(2 * high) + 1, shape, generator=self.gen)
        return k.double() / 2

    def ints(self, low, high, *shape):
        return torch.randint(low, high, shape, generator=self.gen)

    def mask(self, *shape):
        return torch.randint(0, 2, shape, generator=self.gen)


# --- writing -------------------------------------------------------------------

def fmt_tensor(name, t):
    t = t.detach()
    if t.dtype == torch.bool:
        t = t.long()
    if t.dtype in (torch.float32, torch.float64):
        dtype = "float64"
        values = " ".join("%.17g" % v for v in t.double().flatten().tolist())
    elif t.dtype == torch.int64:
        dtype = "int64"
        values = " ".join("%d" % v for v in t.flatten().tolist())
    else:
        raise TypeError("%s: unsupported dtype %s" % (name, t.dtype))
    header = " ".join(["tensor", name, dtype, str(t.dim())] + [str(s) for s in t.shape])
    return header + "\n" + values + "\n"


def fmt_attr(key, value):
    if isinstance(value, (list, tuple)):
        items = value
    else:
        items = [value]
    words = []
    for v in items:
        if isinstance(v, bool):
            words.append("1" if v else "0")
        elif isinstance(v, int):
            words.append("%d" % v)
        elif isinstance(v, float):
            words.append(repr(v))  # the shortest text that reads back exactly
        else:
            words.append(str(v))
    return "attr " + " ".join([key] + words) + "\n"


def add_case(name, op, inputs, compute, attrs=None, grad=False, upstream_scale=1.0):
    """inputs: list of (name, tensor); compute: function of the input tensors
    (in order) returning a tensor or a list of tensors. With grad, runs backward
    from a random upstream gradient and stores the gradient of every floating
    input."""
    assert name not in {n for n, _ in cases}, "duplicate case " + name
    for n, _ in inputs:
        assert not n.startswith("out") and not n.startswith("grad_"), n
    leaves = []
    for n, t in inputs:
        t = t.clone()
        if grad and t.is_floating_point():
            t.requires_grad_(True)
        leaves.append((n, t))
    outs = compute(*[t for _, t in leaves])
    multi = isinstance(outs, (list, tuple))
    outs = list(outs) if multi else [outs]
    out_names = ["out%d" % i for i in range(len(outs))] if multi else ["out"]

    text = "# golden fixture made by scripts/make_golden.py with torch %s; do not edit\n" % (
        torch.__version__)
    text += "case %s\nop %s\n" % (name, op)
    for key, value in (attrs or {}).items():
        text += fmt_attr(key, value)
    for n, t in leaves:
        text += fmt_tensor(n, t)
    for n, t in zip(out_names, outs):
        text += fmt_tensor(n, t)
    if grad:
        assert not multi, "gradient cases have one output"
        gen = torch.Generator().manual_seed(zlib.crc32((name + "/grad").encode()))
        upstream = (torch.randn(outs[0].shape, generator=gen) * upstream_scale).float().double()
        outs[0].backward(upstream)
        text += fmt_tensor("grad_out", upstream)
        for n, t in leaves:
            if t.requires_grad:
                g = t.grad if t.grad is not None else torch.zeros_like(t)
                text += fmt_tensor("grad_" + n, g)
    cases.append((name, text))


# --- element-wise --------------------------------------------------------------

def elementwise_cases():
    binary = {
        "add": torch.add, "sub": torch.sub, "mul": torch.mul, "div": torch.div,
        "maximum": torch.maximum,
    }
    for op, fn in binary.items():
        r = Inputs(op + "_same")
        add_case(op + "_same", op, [("a", r.randn(3, 4)), ("b", r.randn(3, 4))], fn)
        r = Inputs(op + "_broadcast")
        add_case(op + "_broadcast", op, [("a", r.randn(2, 3, 4)), ("b", r.randn(3, 1))], fn)
    r = Inputs("add_broadcast_both")
    add_case("add_broadcast_both", "add", [("a", r.randn(2, 1, 4)), ("b", r.randn(3, 1))],
             torch.add)
    r = Inputs("mul_scalar_tensor")
    add_case("mul_scalar_tensor", "mul", [("a", r.randn(2, 3)), ("b", r.randn())], torch.mul)
    r = Inputs("add_noncontiguous")
    add_case("add_noncontiguous", "add", [("a", r.randn(4, 5)), ("b", r.randn(4, 5))],
             torch.add, attrs={"noncontiguous": ["a", "b"]})
    r = Inputs("maximum_ties")
    add_case("maximum_ties", "maximum", [("a", r.halves(3, 4)), ("b", r.halves(3, 4))],
             torch.maximum)
    r = Inputs("div_broadcast_grad")
    add_case("div_broadcast_grad", "div",
             [("a", r.randn(2, 3, 4)), ("b", r.positive(4) * torch.tensor([1.0, -1.0, 1.0, -1.0]))],
             torch.div, grad=True)

    r = Inputs("pow_tensor")
    add_case("pow_tensor", "pow", [("a", r.positive(3, 4)), ("b", r.randn(3, 4))], torch.pow)
    r = Inputs("pow_tensor_broadcast")
    add_case("pow_tensor_broadcast", "pow", [("a", r.positive(2, 3, 4)), ("b", r.randn(4))],
             torch.pow)
    r = Inputs("pow_negative_base_integer_exponent")
    add_case("pow_negative_base_integer_exponent", "pow",
             [("a", r.randn(3, 4)), ("b", r.ints(0, 4, 3, 4).double())], torch.pow)
    for exponent in (2.0, 3.0, 0.5, -1.0, -1.5):
        name = "pow_scalar_%s" % str(exponent).replace("-", "m").replace(".", "_")
        r = Inputs(name)
        x = r.positive(3, 4) if exponent != int(exponent) else r.randn(3, 4)
        add_case(name, "pow_scalar", [("x", x)], lambda x, e=exponent: torch.pow(x, e),
                 attrs={"exponent": exponent})
    r = Inputs("pow_tensor_grad")
    add_case("pow_tensor_grad", "pow", [("a", r.positive(3, 4)), ("b", r.randn(3, 4))],
             torch.pow, grad=True)

    unary = {
        "neg": (torch.neg, "randn"), "exp": (torch.exp, "randn"), "log": (torch.log, "positive"),
        "sqrt": (torch.sqrt, "positive"), "tanh": (torch.tanh, "randn"),
        "sigmoid": (torch.sigmoid, "randn"), "relu": (torch.relu, "halves"),
    }
    for op, (fn, kind) in unary.items():
        r = Inputs(op)
        x = getattr(r, kind)(2, 3, 4)
        if kind == "randn":
            x = x * 3  # reach the tails of exp, tanh, sigmoid
        add_case(op, op, [("x", x)], fn)
    r = Inputs("sigmoid_extremes")
    add_case("sigmoid_extremes", "sigmoid",
             [("x", torch.tensor([-800.0, -40.0, -1e-8, 0.0, 1e-8, 40.0, 800.0]))], torch.sigmoid)
    r = Inputs("tanh_extremes")
    add_case("tanh_extremes", "tanh",
             [("x", torch.tensor([-400.0, -20.0, -1e-8, 0.0, 1e-8, 20.0, 400.0]))], torch.tanh)
    r = Inputs("exp_noncontiguous")
    add_case("exp_noncontiguous", "exp", [("x", r.randn(3, 5))], torch.exp,
             attrs={"noncontiguous": ["x"]})

    scalar = {
        "add_scalar": lambda x, s: x + s, "sub_scalar": lambda x, s: x - s,
        "mul_scalar": lambda x, s: x * s, "div_scalar": lambda x, s: x / s,
        "rsub_scalar": lambda x, s: s - x, "rdiv_scalar": lambda x, s: s / x,
        "scalar_add": lambda x, s: s + x, "scalar_mul": lambda x, s: s * x,
    }
    for op, fn in scalar.items():
        r = Inputs(op)
        x = r.positive(3, 4) if op == "rdiv_scalar" else r.randn(3, 4)
        s = -2.5 if op != "div_scalar" else 0.3
        add_case(op, op, [("x", x)], lambda x, s=s, fn=fn: fn(x, s), attrs={"s": s})

    for op in ("eq", "ne", "lt", "gt"):
        r = Inputs(op)
        fn = getattr(torch, op)
        add_case(op, op, [("x", r.halves(3, 5))], lambda x, fn=fn: fn(x, 0.5), attrs={"s": 0.5})


# --- selection -----------------------------------------------------------------

def selection_cases():
    r = Inputs("masked_fill_broadcast")
    add_case("masked_fill_broadcast", "masked_fill",
             [("x", r.randn(2, 3, 4)), ("mask", r.mask(1, 3, 4))],
             lambda x, m: x.masked_fill(m.bool(), -1e9), attrs={"value": -1e9})
    r = Inputs("masked_fill_neg_inf")
    add_case("masked_fill_neg_inf", "masked_fill",
             [("x", r.randn(2, 3, 4)), ("mask", r.mask(2, 1, 4))],
             lambda x, m: x.masked_fill(m.bool(), -math.inf), attrs={"value": -math.inf})
    r = Inputs("masked_fill_grad")
    add_case("masked_fill_grad", "masked_fill",
             [("x", r.randn(3, 4)), ("mask", r.mask(3, 4))],
             lambda x, m: x.masked_fill(m.bool(), 0.0), attrs={"value": 0.0}, grad=True)
    r = Inputs("where_broadcast")
    add_case("where_broadcast", "where",
             [("condition", r.mask(2, 1, 4)), ("a", r.randn(2, 3, 4)), ("b", r.randn(4))],
             lambda c, a, b: torch.where(c.bool(), a, b))
    r = Inputs("where_grad")
    add_case("where_grad", "where",
             [("condition", r.mask(3, 4)), ("a", r.randn(3, 4)), ("b", r.randn(1, 4))],
             lambda c, a, b: torch.where(c.bool(), a, b), grad=True)


# --- matmul --------------------------------------------------------------------

def matmul_cases():
    shapes = {
        "matmul_2d": ((3, 4), (4, 5)),
        "matmul_batched": ((2, 3, 4), (2, 4, 5)),
        "matmul_broadcast_batch": ((2, 1, 3, 4), (3, 4, 5)),
        "matmul_2d_by_batched": ((3, 4), (2, 4, 5)),
        "matmul_batched_by_2d": ((2, 3, 4), (4, 5)),
        "matmul_1d_by_2d": ((4,), (4, 5)),
        "matmul_2d_by_1d": ((3, 4), (4,)),
        "matmul_1d_by_1d": ((4,), (4,)),
        "matmul_batched_by_1d": ((2, 3, 4), (4,)),
        "matmul_1d_by_batched": ((4,), (2, 4, 5)),
    }
    for name, (sa, sb) in shapes.items():
        r = Inputs(name)
        add_case(name, "matmul", [("a", r.randn(*sa)), ("b", r.randn(*sb))], torch.matmul)
    r = Inputs("matmul_noncontiguous")
    add_case("matmul_noncontiguous", "matmul", [("a", r.randn(2, 3, 4)), ("b", r.randn(2, 4, 5))],
             torch.matmul, attrs={"noncontiguous": ["a", "b"]})
    r = Inputs("matmul_2d_grad")
    add_case("matmul_2d_grad", "matmul", [("a", r.randn(3, 4)), ("b", r.randn(4, 5))],
             torch.matmul, grad=True)
    r = Inputs("matmul_broadcast_batch_grad")
    add_case("matmul_broadcast_batch_grad", "matmul",
             [("a", r.randn(2, 3, 3, 4)), ("b", r.randn(3, 4, 5))], torch.matmul, grad=True)
    r = Inputs("matmul_1d_by_batched_grad")
    add_case("matmul_1d_by_batched_grad", "matmul", [("a", r.randn(4)), ("b", r.randn(2, 4, 5))],
             torch.matmul, grad=True)


# --- reductions ----------------------------------------------------------------

def reduce_cases():
    for op in ("sum", "mean"):
        fn = getattr(torch, op)
        r = Inputs(op + "_all")
        add_case(op + "_all", op, [("x", r.randn(2, 3, 4))], fn)
        for dims, keepdim in (([1], False), ([1], True), ([0, 2], False), ([0, 2], True),
                              ([-1], False), ([0, 1, 2], True)):
            name = "%s_dims_%s%s" % (op, "_".join(str(d).replace("-", "m") for d in dims),
                                     "_keepdim" if keepdim else "")
            r = Inputs(name)
            add_case(name, op, [("x", r.randn(2, 3, 4))],
                     lambda x, d=dims, k=keepdim, fn=fn: fn(x, d, keepdim=k),
                     attrs={"dims": dims, "keepdim": keepdim})
        name = op + "_noncontiguous"
        r = Inputs(name)
        add_case(name, op, [("x", r.randn(2, 3, 5))], lambda x, fn=fn: fn(x, [1]),
                 attrs={"dims": [1], "keepdim": False, "noncontiguous": ["x"]})
        name = op + "_dims_1_grad"
        r = Inputs(name)
        add_case(name, op, [("x", r.randn(2, 3, 4))], lambda x, fn=fn: fn(x, [0, 2], keepdim=True),
                 attrs={"dims": [0, 2], "keepdim": True}, grad=True)

    r = Inputs("max_all")
    add_case("max_all", "max", [("x", r.randn(2, 3, 4))], torch.max)
    for dim, keepdim in ((0, False), (1, True), (-1, False)):
        name = "max_dim_%s%s" % (str(dim).replace("-", "m"), "_keepdim" if keepdim else "")
        r = Inputs(name)
        add_case(name, "max", [("x", r.randn(2, 3, 4))],
                 lambda x, d=dim, k=keepdim: torch.max(x, d, keepdim=k).values,
                 attrs={"dim": dim, "keepdim": keepdim})
        name = "argmax_dim_%s%s" % (str(dim).replace("-", "m"), "_keepdim" if keepdim else "")
        r = Inputs(name)
        add_case(name, "argmax", [("x", r.randn(2, 3, 4))],
                 lambda x, d=dim, k=keepdim: torch.argmax(x, d, keepdim=k),
                 attrs={"dim": dim, "keepdim": keepdim})
    # Ties: PyTorch picks the first position attaining the maximum, and max(dim)'s
    # gradient goes to that position only.
    x = torch.tensor([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, -0.5, -0.5, -3.0]])
    add_case("argmax_ties", "argmax", [("x", x)], lambda x: torch.argmax(x, 1),
             attrs={"dim": 1, "keepdim": False})
    add_case("max_dim_ties_grad", "max", [("x", x)], lambda x: torch.max(x, 1).values,
             attrs={"dim": 1, "keepdim": False}, grad=True)
    r = Inputs("max_dim_grad")
    add_case("max_dim_grad", "max", [("x", r.randn(2, 3, 4))],
             lambda x: torch.max(x, 0, keepdim=True).values, attrs={"dim": 0, "keepdim": True},
             grad=True)


# --- softmax -------------------------------------------------------------------

def softmax_cases():
    for op in ("softmax", "log_softmax"):
        fn = getattr(torch, op)
        for dim in (0, 1, 2, -1):
            name = "%s_dim_%s" % (op, str(dim).replace("-", "m"))
            r = Inputs(name)
            add_case(name, op, [("x", r.randn(2, 3, 4, scale=2.0))],
                     lambda x, d=dim, fn=fn: fn(x, d), attrs={"dim": dim})
        name = op + "_large_logits"
        r = Inputs(name)
        x = r.randn(3, 5, scale=2.0, shift=1000.0)
        x[1] = torch.tensor([1000.0, 1000.0, 999.0, -1000.0, 0.0])
        x[2] = -1000.0 + r.randn(5)
        x = x.float().double()
        add_case(name, op, [("x", x)], lambda x, fn=fn: fn(x, -1), attrs={"dim": -1})
        name = op + "_large_logits_dim_0"
        r = Inputs(name)
        add_case(name, op, [("x", r.randn(4, 3, scale=3.0, shift=1000.0))],
                 lambda x, fn=fn: fn(x, 0), attrs={"dim": 0})
        name = op + "_neg_inf"
        x = torch.tensor([[0.5, -math.inf, 1.5, -math.inf], [-math.inf, 2.0, 0.0, -1.0]])
        add_case(name, op, [("x", x)], lambda x, fn=fn: fn(x, -1), attrs={"dim": -1})
        name = op + "_noncontiguous"
        r = Inputs(name)
        add_case(name, op, [("x", r.randn(2, 3, 5))], lambda x, fn=fn: fn(x, -1),
                 attrs={"dim": -1, "noncontiguous": ["x"]})
        name = op + "_grad"
        r = Inputs(name)
        add_case(name, op, [("x", r.randn(2, 3, 4, scale=2.0))], lambda x, fn=fn: fn(x, 1),
                 attrs={"dim": 1}, grad=True)
        name = op + "_last_dim_grad"
        r = Inputs(name)
        add_case(name, op, [("x", r.randn(3, 5, scale=2.0))], lambda x, fn=fn: fn(x, -1),
                 attrs={"dim": -1}, grad=True)


# --- shapes, joins and gathers -------------------------------------------------

def shape_cases():
    r = Inputs("reshape")
    add_case("reshape", "reshape", [("x", r.randn(2, 3, 4))], lambda x: x.reshape(4, -1, 2),
             attrs={"shape": [4, -1, 2]})
    r = Inputs("reshape_noncontiguous")
    add_case("reshape_noncontiguous", "reshape", [("x", r.randn(2, 3, 4))],
             lambda x: x.reshape(-1), attrs={"shape": [-1], "noncontiguous": ["x"]})
    r = Inputs("transpose")
    add_case("transpose", "transpose", [("x", r.randn(2, 3, 4))], lambda x: x.transpose(0, 2),
             attrs={"dims": [0, 2]})
    r = Inputs("transpose_negative")
    add_case("transpose_negative", "transpose", [("x", r.randn(2, 3, 4))],
             lambda x: x.transpose(-1, -2), attrs={"dims": [-1, -2]})
    r = Inputs("permute")
    add_case("permute", "permute", [("x", r.randn(2, 3, 4))], lambda x: x.permute(2, 0, 1),
             attrs={"dims": [2, 0, 1]})
    r = Inputs("narrow")
    add_case("narrow", "narrow", [("x", r.randn(2, 5, 4))], lambda x: x.narrow(1, 1, 3),
             attrs={"dim": 1, "start": 1, "length": 3})
    r = Inputs("narrow_grad")
    add_case("narrow_grad", "narrow", [("x", r.randn(4, 5))], lambda x: x.narrow(-1, 2, 2),
             attrs={"dim": -1, "start": 2, "length": 2}, grad=True)
    r = Inputs("expand")
    add_case("expand", "expand", [("x", r.randn(3, 1))], lambda x: x.expand(2, 3, 4),
             attrs={"shape": [2, 3, 4]})
    r = Inputs("expand_keep")
    add_case("expand_keep", "expand", [("x", r.randn(1, 3, 1))], lambda x: x.expand(2, -1, 4),
             attrs={"shape": [2, -1, 4]})
    r = Inputs("expand_grad")
    add_case("expand_grad", "expand", [("x", r.randn(3, 1))], lambda x: x.expand(2, 3, 4),
             attrs={"shape": [2, 3, 4]}, grad=True)
    r = Inputs("squeeze")
    add_case("squeeze", "squeeze", [("x", r.randn(2, 1, 4))], lambda x: x.squeeze(1),
             attrs={"dim": 1})
    r = Inputs("squeeze_noop")
    add_case("squeeze_noop", "squeeze", [("x", r.randn(2, 3))], lambda x: x.squeeze(0),
             attrs={"dim": 0})
    r = Inputs("unsqueeze")
    add_case("unsqueeze", "unsqueeze", [("x", r.randn(2, 3))], lambda x: x.unsqueeze(-1),
             attrs={"dim": -1})
    for dim in (0, 1, -1):
        name = "cat_dim_%s" % str(dim).replace("-", "m")
        r = Inputs(name)
        shapes = {0: [(1, 3, 2), (2, 3, 2), (3, 3, 2)], 1: [(2, 1, 2), (2, 4, 2)],
                  -1: [(2, 3, 1), (2, 3, 3), (2, 3, 2)]}[dim]
        add_case(name, "cat", [("x%d" % i, r.randn(*s)) for i, s in enumerate(shapes)],
                 lambda *xs, d=dim: torch.cat(xs, d), attrs={"dim": dim})
    r = Inputs("concat")
    add_case("concat", "concat", [("x0", r.randn(2, 3)), ("x1", r.randn(2, 2))],
             lambda *xs: torch.cat(xs, 1), attrs={"dim": 1})
    r = Inputs("cat_grad")
    add_case("cat_grad", "cat", [("x0", r.randn(2, 3)), ("x1", r.randn(2, 2))],
             lambda *xs: torch.cat(xs, 1), attrs={"dim": 1}, grad=True)
    for dim in (0, 1, -1):
        name = "stack_dim_%s" % str(dim).replace("-", "m")
        r = Inputs(name)
        add_case(name, "stack", [("x%d" % i, r.randn(2, 3)) for i in range(3)],
                 lambda *xs, d=dim: torch.stack(xs, d), attrs={"dim": dim})
    r = Inputs("split_uneven")
    add_case("split_uneven", "split", [("x", r.randn(2, 5, 3))],
             lambda x: torch.split(x, 2, 1), attrs={"split_size": 2, "dim": 1})
    r = Inputs("split_even_dim_0")
    add_case("split_even_dim_0", "split", [("x", r.randn(4, 3))],
             lambda x: torch.split(x, 2, 0), attrs={"split_size": 2, "dim": 0})
    r = Inputs("index_select_dim_0")
    add_case("index_select_dim_0", "index_select",
             [("x", r.randn(5, 3)), ("index", torch.tensor([4, 0, 2]))],
             lambda x, i: torch.index_select(x, 0, i), attrs={"dim": 0})
    r = Inputs("index_select_dim_1_repeated")
    add_case("index_select_dim_1_repeated", "index_select",
             [("x", r.randn(2, 4, 3)), ("index", torch.tensor([3, 1, 3, 3, 0]))],
             lambda x, i: torch.index_select(x, 1, i), attrs={"dim": 1})
    r = Inputs("index_select_repeated_grad")
    add_case("index_select_repeated_grad", "index_select",
             [("x", r.randn(5, 3)), ("index", torch.tensor([1, 3, 1, 1, 4, 3]))],
             lambda x, i: torch.index_select(x, 0, i), attrs={"dim": 0}, grad=True)
    r = Inputs("index_select_dim_1_grad")
    add_case("index_select_dim_1_grad", "index_select",
             [("x", r.randn(2, 4, 3)), ("index", torch.tensor([2, 2, 0]))],
             lambda x, i: torch.index_select(x, 1, i), attrs={"dim": 1}, grad=True)


# --- layers as functions -------------------------------------------------------

def nn_cases():
    r = Inputs("embedding")
    add_case("embedding", "embedding", [("weight", r.randn(6, 4)), ("ids", r.ints(0, 6, 2, 3))],
             lambda w, i: F.embedding(i, w), attrs={"padding_idx": -1})
    r = Inputs("embedding_1d_ids")
    add_case("embedding_1d_ids", "embedding",
             [("weight", r.randn(5, 3)), ("ids", torch.tensor([4, 4, 0, 2]))],
             lambda w, i: F.embedding(i, w), attrs={"padding_idx": -1})
    r = Inputs("embedding_grad")
    add_case("embedding_grad", "embedding",
             [("weight", r.randn(6, 4)), ("ids", torch.tensor([[1, 3, 1], [5, 1, 0]]))],
             lambda w, i: F.embedding(i, w), attrs={"padding_idx": -1}, grad=True)
    r = Inputs("embedding_padding_grad")
    add_case("embedding_padding_grad", "embedding",
             [("weight", r.randn(6, 4)), ("ids", torch.tensor([[2, 0, 0, 4], [4, 4, 0, 1]]))],
             lambda w, i: F.embedding(i, w, padding_idx=0), attrs={"padding_idx": 0}, grad=True)

    eps = 1e-5
    r = Inputs("layer_norm_affine")
    add_case("layer_norm_affine", "layer_norm",
             [("x", r.randn(2, 3, 5, scale=2.0, shift=1.0)), ("gamma", r.randn(5)),
              ("beta", r.randn(5))],
             lambda x, g, b: F.layer_norm(x, (5,), g, b, eps), attrs={"eps": eps})
    r = Inputs("layer_norm_plain")
    add_case("layer_norm_plain", "layer_norm", [("x", r.randn(4, 6, scale=3.0, shift=-2.0))],
             lambda x: F.layer_norm(x, (6,), None, None, eps), attrs={"eps": eps})
    r = Inputs("layer_norm_small_variance")
    x = (r.randn(3, 4, scale=1e-3) + 5.0).float().double()
    add_case("layer_norm_small_variance", "layer_norm", [("x", x)],
             lambda x: F.layer_norm(x, (4,), None, None, eps), attrs={"eps": eps})
    r = Inputs("layer_norm_constant_row")
    add_case("layer_norm_constant_row", "layer_norm",
             [("x", torch.tensor([[2.0, 2.0, 2.0, 2.0], [1.0, -1.0, 3.0, 0.5]])),
              ("gamma", r.randn(4)), ("beta", r.randn(4))],
             lambda x, g, b: F.layer_norm(x, (4,), g, b, eps), attrs={"eps": eps})
    r = Inputs("layer_norm_noncontiguous")
    add_case("layer_norm_noncontiguous", "layer_norm", [("x", r.randn(3, 5))],
             lambda x: F.layer_norm(x, (5,), None, None, eps),
             attrs={"eps": eps, "noncontiguous": ["x"]})
    r = Inputs("layer_norm_affine_grad")
    add_case("layer_norm_affine_grad", "layer_norm",
             [("x", r.randn(2, 3, 5, scale=2.0)), ("gamma", r.randn(5)), ("beta", r.randn(5))],
             lambda x, g, b: F.layer_norm(x, (5,), g, b, eps), attrs={"eps": eps}, grad=True)
    r = Inputs("layer_norm_plain_grad")
    add_case("layer_norm_plain_grad", "layer_norm", [("x", r.randn(4, 6))],
             lambda x: F.layer_norm(x, (6,), None, None, eps), attrs={"eps": eps}, grad=True)

    def ce(reduction, ignore_index=-100, smoothing=0.0):
        return lambda x, t: F.cross_entropy(x, t, reduction=reduction, ignore_index=ignore_index,
                                            label_smoothing=smoothing)

    targets_with_ignored = torch.tensor([3, -100, 0, 6, -100, 2])
    targets_with_two = torch.tensor([2, 1, 2, 6, 0, 2])
    for reduction in ("mean", "sum", "none"):
        for smoothing in (0.0, 0.1):
            tag = "_smoothing" if smoothing else ""
            name = "cross_entropy_%s%s" % (reduction, tag)
            r = Inputs(name)
            add_case(name, "cross_entropy", [("logits", r.randn(6, 7, scale=2.0)),
                                             ("target", r.ints(0, 7, 6))],
                     ce(reduction, smoothing=smoothing),
                     attrs={"reduction": reduction, "ignore_index": -100,
                            "label_smoothing": smoothing})
            name = "cross_entropy_%s%s_ignore_default" % (reduction, tag)
            r = Inputs(name)
            add_case(name, "cross_entropy", [("logits", r.randn(6, 7, scale=2.0)),
                                             ("target", targets_with_ignored)],
                     ce(reduction, smoothing=smoothing),
                     attrs={"reduction": reduction, "ignore_index": -100,
                            "label_smoothing": smoothing})
            name = "cross_entropy_%s%s_ignore_2" % (reduction, tag)
            r = Inputs(name)
            add_case(name, "cross_entropy", [("logits", r.randn(6, 7, scale=2.0)),
                                             ("target", targets_with_two)],
                     ce(reduction, ignore_index=2, smoothing=smoothing),
                     attrs={"reduction": reduction, "ignore_index": 2,
                            "label_smoothing": smoothing})
    r = Inputs("cross_entropy_large_logits")
    add_case("cross_entropy_large_logits", "cross_entropy",
             [("logits", r.randn(4, 5, scale=3.0, shift=1000.0)), ("target", r.ints(0, 5, 4))],
             ce("none", smoothing=0.1),
             attrs={"reduction": "none", "ignore_index": -100, "label_smoothing": 0.1})
    r = Inputs("cross_entropy_noncontiguous")
    add_case("cross_entropy_noncontiguous", "cross_entropy",
             [("logits", r.randn(5, 4)), ("target", r.ints(0, 4, 5))], ce("mean"),
             attrs={"reduction": "mean", "ignore_index": -100, "label_smoothing": 0.0,
                    "noncontiguous": ["logits"]})
    for reduction in ("mean", "sum", "none"):
        name = "cross_entropy_%s_smoothing_ignore_grad" % reduction
        r = Inputs(name)
        add_case(name, "cross_entropy", [("logits", r.randn(6, 7, scale=2.0)),
                                         ("target", targets_with_ignored)],
                 ce(reduction, smoothing=0.1),
                 attrs={"reduction": reduction, "ignore_index": -100, "label_smoothing": 0.1},
                 grad=True)
    r = Inputs("cross_entropy_mean_grad")
    add_case("cross_entropy_mean_grad", "cross_entropy",
             [("logits", r.randn(5, 4, scale=2.0)), ("target", r.ints(0, 4, 5))], ce("mean"),
             attrs={"reduction": "mean", "ignore_index": -100, "label_smoothing": 0.0}, grad=True)


# --- self-checks of the fixtures ----------------------------------------------

def check_cross_entropy_definition():
    """attn's label smoothing, loss = (1-eps)*(lse - x[t]) + eps*(lse - mean_k x[k]),
    averaged over the non-ignored rows, must be PyTorch's: stop if it is not."""
    r = Inputs("check")
    x = r.randn(6, 7, scale=2.0)
    t = torch.tensor([3, -100, 0, 6, -100, 2])
    eps = 0.1
    lse = torch.logsumexp(x, 1)
    keep = t != -100
    safe_t = torch.where(keep, t, torch.zeros_like(t))
    rows = (1 - eps) * (lse - x.gather(1, safe_t[:, None])[:, 0]) + eps * (lse - x.mean(1))
    rows = torch.where(keep, rows, torch.zeros_like(rows))
    for reduction, want in (("none", rows), ("sum", rows.sum()),
                            ("mean", rows.sum() / keep.sum())):
        got = F.cross_entropy(x, t, reduction=reduction, label_smoothing=eps)
        if not torch.allclose(got, want, rtol=1e-12, atol=1e-12):
            sys.exit("cross_entropy(%s, label_smoothing=0.1) in torch %s disagrees with attn's "
                     "definition: %s vs %s" % (reduction, torch.__version__, got, want))


def main():
    check_cross_entropy_definition()
    elementwise_cases()
    selection_cases()
    matmul_cases()
    reduce_cases()
    softmax_cases()
    shape_cases()
    nn_cases()

    os.makedirs(OUT_DIR, exist_ok=True)
    for old in os.listdir(OUT_DIR):
        if old.endswith(".txt"):
            os.remove(os.path.join(OUT_DIR, old))
    total = 0
    for name, text in cases:
        with open(os.path.join(OUT_DIR, name + ".txt"), "w") as f:
            f.write(text)
        total += len(text)
    index = "# every golden case, one a line; written by scripts/make_golden.py\n"
    index += "".join(name + "\n" for name, _ in cases)
    with open(os.path.join(OUT_DIR, "index.txt"), "w") as f:
        f.write(index)
    total += len(index)
    print("wrote %d cases to %s (%d bytes)" % (len(cases), OUT_DIR, total))


if __name__ == "__main__":
    main()
