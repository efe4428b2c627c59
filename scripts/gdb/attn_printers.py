# gdb pretty-printers for attn: `p t` on an attn::Tensor prints one line,
#
#   Tensor shape=[2, 1, 5, 4] strides=[20, 20, 4, 1] offset=0 dtype=float32
#   device=cpu requires_grad=false grad=none grad_fn=none values=[0.49, ...]
#
# the same text as the program's own Tensor::debug_string() (autograd/
# graph_dump.cpp), so that the two can be compared, and a test does
# (tests/debug/gdb_printers_test.sh). The printers read the inferior's memory
# and call no function in it, so they also work on a core file. They cover:
#
#   attn::Tensor, attn::TensorImpl   the line above (the Tensor's impl_ is
#                                     followed; an undefined one prints
#                                     Tensor(undefined))
#   attn::autograd::Node              the op, the tensor it made, its inputs
#   attn::autograd::Edge              where one gradient goes
#   attn::Shape                       [2, 3] instead of std::vector's dump
#
# Values of a CUDA tensor live in GPU memory, which gdb cannot read; the line
# says so, and the command `attn-values EXPR [N]` copies them on demand by
# calling EXPR.debug_string(N) in the program. `p/r t` prints the raw struct.
#
# Loading: every build writes <build>/libattn.so.<version>-gdb.py, which gdb
# runs when it loads libattn.so, once the build tree is a safe path. The one
# line for ~/.gdbinit (docs/debugging.md, section 2):
#
#   add-auto-load-safe-path /path/to/attn
#
# Or by hand in a session: source /path/to/attn/scripts/gdb/attn_printers.py
import gdb
import gdb.printing

MAX_VALUES = 8  # as Tensor::debug_string()'s default

_DTYPES = {"Float32": ("float32", "float", 4), "Float64": ("float64", "double", 8),
           "Int64": ("int64", "long", 8)}


def _enum_name(value):
    # str() of an enum class value is "attn::DType::Float32".
    return str(value).split("::")[-1]


def _shared_ptr_get(ptr):
    # libstdc++'s std::shared_ptr keeps the pointer in _M_ptr.
    return ptr["_M_ptr"]


def _vector_items(vec):
    impl = vec["_M_impl"]
    start, finish = impl["_M_start"], impl["_M_finish"]
    return [int((start + i).dereference()) for i in range(int(finish - start))]


def _std_string(text):
    dataplus = text["_M_dataplus"]["_M_p"]
    return dataplus.string(length=int(text["_M_string_length"]))


def shape_str(dims):
    return "[" + ", ".join(str(d) for d in dims) + "]"


def _format_value(value, dtype):
    if dtype == "Int64":
        return "%d" % int(value)
    return ("%.6g" if dtype == "Float32" else "%.10g") % float(value)


def _first_values(impl, count):
    """Up to `count` values in logical (row-major) order, read through the strides."""
    shape = _vector_items(impl["shape"])
    strides = _vector_items(impl["strides"])
    offset = int(impl["offset"])
    dtype = _enum_name(impl["dtype"])
    storage = _shared_ptr_get(impl["storage"])
    if int(storage) == 0:
        return "<no storage>"
    numel = 1
    for d in shape:
        numel *= d
    element = gdb.lookup_type(_DTYPES[dtype][1]).pointer()
    data = storage.dereference()["data_"].cast(element)
    items = []
    for flat in range(min(count, numel)):
        at, rest = offset, flat
        for dim in reversed(range(len(shape))):
            at += (rest % shape[dim]) * strides[dim]
            rest //= shape[dim]
        items.append(_format_value((data + at).dereference(), dtype))
    if numel > count:
        items.append("...")
    return "[" + ", ".join(items) + "]"


def _node_name(node_ptr):
    return _std_string(node_ptr.dereference()["name_"])


def impl_line(impl, count=MAX_VALUES):
    """The text of Tensor::debug_string() for a TensorImpl value."""
    storage = _shared_ptr_get(impl["storage"])
    device = "cpu"
    if int(storage) != 0:
        device = _enum_name(storage.dereference()["device_"]).lower()
    grad = _shared_ptr_get(impl["grad"])
    grad_fn = _shared_ptr_get(impl["grad_fn"])
    if device == "cuda":
        values = "<on the GPU: attn-values EXPR copies them>"
    else:
        values = _first_values(impl, count)
    return ("Tensor shape=%s strides=%s offset=%d dtype=%s device=%s requires_grad=%s "
            "grad=%s grad_fn=%s values=%s" % (
                shape_str(_vector_items(impl["shape"])), shape_str(_vector_items(impl["strides"])),
                int(impl["offset"]), _DTYPES[_enum_name(impl["dtype"])][0], device,
                "true" if bool(impl["requires_grad"]) else "false",
                shape_str(_vector_items(grad.dereference()["shape"])) if int(grad) else "none",
                _node_name(grad_fn) if int(grad_fn) else "none", values))


class TensorPrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        impl = _shared_ptr_get(self.val["impl_"])
        if int(impl) == 0:
            return "Tensor(undefined)"
        return impl_line(impl.dereference())


class TensorImplPrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        return impl_line(self.val)


def _edge_text(edge):
    node = _shared_ptr_get(edge["node"])
    leaf = _shared_ptr_get(edge["leaf"])
    if int(node):
        return _node_name(node)
    if int(leaf):
        return "leaf " + shape_str(_vector_items(leaf.dereference()["shape"]))
    return "no grad"


class NodePrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        v = self.val
        edges = v["next_edges_"]["_M_impl"]
        start, finish = edges["_M_start"], edges["_M_finish"]
        inputs = [_edge_text((start + i).dereference()) for i in range(int(finish - start))]
        text = "Node %s -> %s %s %s, inputs [%s]" % (
            _std_string(v["name_"]), shape_str(_vector_items(v["output_shape_"])),
            _DTYPES[_enum_name(v["output_dtype_"])][0], _enum_name(v["output_device_"]).lower(),
            ", ".join(inputs))
        if float(v["grad_norm_"]) >= 0:
            text += ", |grad| %.4g" % float(v["grad_norm_"])
        if bool(v["released_"]):
            text += ", released (backward has run)"
        return text


class EdgePrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        return "Edge -> " + _edge_text(self.val)


class ShapePrinter:
    def __init__(self, val):
        self.val = val

    def to_string(self):
        return shape_str(_vector_items(self.val))


class AttnPrinters(gdb.printing.PrettyPrinter):
    """Looks at the declared type first, so that attn::Shape is told apart
    from any other std::vector<long>; `info pretty-printer` lists it as attn."""

    _by_tag = {"attn::Tensor": TensorPrinter, "attn::TensorImpl": TensorImplPrinter,
               "attn::autograd::Node": NodePrinter, "attn::autograd::Edge": EdgePrinter}

    def __init__(self):
        super().__init__("attn", [])

    def __call__(self, val):
        t = val.type
        if t.code in (gdb.TYPE_CODE_REF, gdb.TYPE_CODE_RVALUE_REF):
            t = t.target()
        t = t.unqualified()
        while t.code == gdb.TYPE_CODE_TYPEDEF:
            if t.name in ("attn::Shape", "Shape"):
                return ShapePrinter(val)
            t = t.target().unqualified()
        printer = self._by_tag.get(t.tag)
        return printer(val) if printer else None


class AttnValuesCommand(gdb.Command):
    """attn-values EXPR [N]: EXPR.debug_string(N) run in the program, which
    copies a CUDA tensor's first N values (default 8) to the host; for a CPU
    tensor it gives the printer's line, from the program's side."""

    def __init__(self):
        super().__init__("attn-values", gdb.COMMAND_DATA)

    def invoke(self, argument, from_tty):
        parts = argument.rsplit(None, 1)
        count = MAX_VALUES
        if len(parts) == 2 and parts[1].isdigit():
            argument, count = parts[0], int(parts[1])
        if not argument.strip():
            raise gdb.GdbError("usage: attn-values EXPR [N]")
        text = gdb.parse_and_eval("(%s).debug_string(%d)" % (argument, count))
        gdb.write(_std_string(text) + "\n")


_registered_commands = False


def register(objfile=None):
    """Adds the printers to `objfile` (the auto-load script passes libattn.so),
    or to every program when None; defines attn-values once."""
    global _registered_commands
    gdb.printing.register_pretty_printer(objfile, AttnPrinters(), replace=True)
    if not _registered_commands:
        AttnValuesCommand()
        _registered_commands = True


if __name__ == "__main__":  # `source attn_printers.py` in a session
    register(None)
