// The Tensor handle: layout queries, data access, copies between devices and
// in-place updates. Nothing here builds autograd graphs.
#include "tensor/tensor.h"

#include <cstring>

#include "kernels/copy.h"
#include "tensor/dispatch.h"
#include "tensor/grad_mode.h"

namespace attn {

namespace {
thread_local bool grad_mode_enabled = true;
}

bool GradMode::is_enabled() { return grad_mode_enabled; }
void GradMode::set_enabled(bool enabled) { grad_mode_enabled = enabled; }

Tensor Tensor::empty(const Shape& shape, TensorOptions options, const char* op) {
  // Every size is checked here, once per tensor: the element count, the byte
  // count and the strides must fit an int64_t, and a CPU buffer must fit the
  // allocation limit (tensor/storage.h), all before any memory is touched.
  // Kernels then trust numel() and never check again.
  const int64_t numel = shape_numel(shape, op);
  const auto item = static_cast<int64_t>(element_size(options.dtype_));
  int64_t nbytes = 0;
  ATTN_CHECK(!__builtin_mul_overflow(numel, item, &nbytes), op, ": a tensor of shape ",
             shape_str(shape), " and dtype ", dtype_name(options.dtype_), " has ", numel,
             " elements of ", item, " bytes each, more bytes than an int64 can count");
  if (options.device_ == kCPU && static_cast<size_t>(nbytes) > max_allocation_bytes()) {
    throw Error(allocation_too_large_message(
        detail::join_message(op, ": a tensor of shape ", shape_str(shape), " and dtype ",
                             dtype_name(options.dtype_)),
        static_cast<size_t>(nbytes)));
  }
  ATTN_CHECK(!options.requires_grad_ || is_floating(options.dtype_),
             op, ": only floating-point tensors can require grad, got ", dtype_name(options.dtype_));
  auto impl = std::make_shared<TensorImpl>();
  impl->strides = contiguous_strides(shape, op);
  impl->storage = std::make_shared<Storage>(static_cast<size_t>(nbytes), options.device_);
  impl->shape = shape;
  impl->dtype = options.dtype_;
  impl->requires_grad = options.requires_grad_;
  return Tensor(impl);
}

int64_t Tensor::size(int64_t dim) const {
  return shape()[wrap_dim(dim, this->dim(), "size")];
}

int64_t Tensor::stride(int64_t dim) const {
  return strides()[wrap_dim(dim, this->dim(), "stride")];
}

bool Tensor::is_contiguous() const {
  const TensorImpl& t = checked();
  // No elements: nothing is out of order (as in PyTorch), whatever the
  // strides (contiguous_strides counts a size of 0 as 1, tensor/shape.h).
  for (int64_t size : t.shape) {
    if (size == 0) return true;
  }
  int64_t expected = 1;
  for (size_t i = t.shape.size(); i-- > 0;) {
    if (t.shape[i] == 1) continue;  // the stride of a size-1 dim never matters
    if (t.strides[i] != expected) return false;
    expected *= t.shape[i];
  }
  return true;
}

bool Tensor::shares_storage_with(const Tensor& other) const {
  return checked().storage == other.checked().storage;
}

namespace {
template <typename T> DType dtype_of();
template <> DType dtype_of<float>() { return kFloat32; }
template <> DType dtype_of<double>() { return kFloat64; }
template <> DType dtype_of<int64_t>() { return kInt64; }
template <> DType dtype_of<BFloat16>() { return kBFloat16; }
}  // namespace

template <typename T>
T* Tensor::data_ptr() const {
  const TensorImpl& t = checked();
  ATTN_CHECK(t.dtype == dtype_of<T>(), "data_ptr: the tensor holds ", dtype_name(t.dtype),
             ", not ", dtype_name(dtype_of<T>()));
  return static_cast<T*>(t.storage->data()) + t.offset;
}
template float* Tensor::data_ptr<float>() const;
template double* Tensor::data_ptr<double>() const;
template int64_t* Tensor::data_ptr<int64_t>() const;
template BFloat16* Tensor::data_ptr<BFloat16>() const;

template <typename T>
std::vector<T> Tensor::to_vector() const {
  Tensor source = device() == kCPU ? *this : to(kCPU);
  Tensor typed = source.dtype() == dtype_of<T>() ? source : source.detach().to(dtype_of<T>());
  std::vector<T> out(static_cast<size_t>(typed.numel()));
  if (out.empty()) return out;
  // `typed` is on the CPU here (copied above), and so is `out`.
  kernels::copy_strided<Device::CPU>(static_cast<int>(typed.dim()), typed.shape().data(),
                                     typed.data_ptr<T>(), typed.strides().data(), out.data());
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<int64_t> Tensor::to_vector<int64_t>() const;
template std::vector<BFloat16> Tensor::to_vector<BFloat16>() const;

template <typename T>
T Tensor::item() const {
  ATTN_CHECK(numel() == 1, "item: expected a tensor with one element, got shape ",
             shape_str(shape()));
  T value{};
  dispatch_all(dtype(), [&](auto zero) {
    using S = decltype(zero);
    value = static_cast<T>(to_vector<S>()[0]);
  });
  return value;
}
template float Tensor::item<float>() const;
template double Tensor::item<double>() const;
template int64_t Tensor::item<int64_t>() const;

Tensor& Tensor::requires_grad_(bool requires_grad) {
  TensorImpl& t = checked();
  ATTN_CHECK(t.grad_fn == nullptr || requires_grad,
             "requires_grad_: only leaf tensors can stop requiring grad; use detach() on ",
             "the output of an op");
  ATTN_CHECK(!requires_grad || is_floating(t.dtype),
             "requires_grad_: only floating-point tensors can require grad, got ",
             dtype_name(t.dtype));
  t.requires_grad = requires_grad;
  return *this;
}

Tensor Tensor::grad() const {
  const TensorImpl& t = checked();
  return t.grad ? Tensor(t.grad) : Tensor();
}

void Tensor::set_grad(const Tensor& grad) const {
  if (grad.defined()) {
    ATTN_CHECK(grad.shape() == shape(), "set_grad: gradient of shape ", shape_str(grad.shape()),
               " for a tensor of shape ", shape_str(shape()));
  }
  checked().grad = grad.impl_ptr();
}

void Tensor::zero_grad() const { checked().grad.reset(); }

Tensor Tensor::detach() const {
  const TensorImpl& t = checked();
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = t.storage;
  impl->shape = t.shape;
  impl->strides = t.strides;
  impl->offset = t.offset;
  impl->dtype = t.dtype;
  return Tensor(impl);
}

Tensor make_view(const Tensor& base, const Shape& shape, const Shape& strides, int64_t offset) {
  const TensorImpl& b = *base.unsafe_impl();
  // Every view must stay inside its buffer: the first and the last element it
  // can reach both lie in the storage. Checked in every build, with checked
  // arithmetic, because a view is where sizes and offsets (a narrow's start,
  // an expand's target, a reshape's sizes, all from callers) turn into
  // addresses. It costs a few multiplications per view, none per element.
  ATTN_CHECK(strides.size() == shape.size(), "make_view: shape ", shape_str(shape), " has ",
             shape.size(), " dims but strides ", shape_str(strides), " has ", strides.size());
  const int64_t numel = shape_numel(shape, "make_view");
  int64_t lowest = offset, highest = offset;
  if (numel > 0) {
    for (size_t d = 0; d < shape.size(); ++d) {
      const int64_t reach = checked_mul(shape[d] - 1, strides[d], "make_view", shape);
      int64_t& end = reach < 0 ? lowest : highest;
      end = checked_add(end, reach, "make_view", shape);
    }
  }
  const auto capacity = static_cast<int64_t>(b.storage->nbytes() / element_size(b.dtype));
  ATTN_CHECK(offset >= 0 && (numel == 0 || (lowest >= 0 && highest < capacity)), "make_view: a view of shape ",
             shape_str(shape), " strides ", shape_str(strides), " offset ", offset,
             " reaches outside its buffer of ", capacity, " elements (elements ", lowest, " to ",
             highest, ")");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = b.storage;
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = b.dtype;
  return Tensor(impl);
}

void check_same(const char* op, const Tensor& a, const Tensor& b) {
  ATTN_CHECK(a.device() == b.device(), op, ": expected both tensors on the same device, got ",
             device_name(a.device()), " ", shape_str(a.shape()), " and ", device_name(b.device()),
             " ", shape_str(b.shape()));
  ATTN_CHECK(a.dtype() == b.dtype(), op, ": expected both tensors of the same dtype, got ",
             dtype_name(a.dtype()), " ", shape_str(a.shape()), " and ", dtype_name(b.dtype()),
             " ", shape_str(b.shape()));
}

void check_floating(const char* op, const Tensor& t) {
  ATTN_CHECK(is_floating(t.dtype()), op, ": expected a floating-point tensor, got ",
             dtype_name(t.dtype()), " of shape ", shape_str(t.shape()));
}

// --- in-place updates ---

namespace {

void check_inplace(const char* op, const Tensor& t) {
  ATTN_CHECK(!(t.requires_grad() && GradMode::is_enabled()), op,
             ": in-place update of a tensor that requires grad; wrap it in attn::NoGradGuard");
}

}  // namespace

Tensor& Tensor::fill_(double value) {
  check_inplace("fill_", *this);
  Tensor filled = empty(shape(), options());
  dispatch_all(dtype(), filled.device(), [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::fill<device>(numel(), static_cast<T>(value), filled.data_ptr<T>());
  });
  return copy_(filled);
}

Tensor& Tensor::zero_() { return fill_(0.0); }

Tensor& Tensor::copy_(const Tensor& src) {
  check_inplace("copy_", *this);
  Shape target = broadcast_shapes(src.shape(), shape(), "copy_");
  ATTN_CHECK(target == shape(), "copy_: source of shape ", shape_str(src.shape()),
             " does not broadcast to destination shape ", shape_str(shape()));
  Tensor source = src.detach();
  if (source.device() != device()) source = source.to(device());
  if (source.dtype() != dtype()) source = source.to(dtype());
  // Read the source through broadcast strides into a contiguous buffer, then
  // scatter that into this (possibly strided) view. Going through a buffer
  // keeps copy_ correct even when source and destination overlap.
  Shape src_strides(shape().size(), 0);
  for (size_t i = 0; i < source.shape().size(); ++i) {
    size_t d = shape().size() - source.shape().size() + i;
    src_strides[d] = source.shape()[i] == 1 ? 0 : source.strides()[i];
  }
  Tensor buffer = empty(shape(), options());
  int ndim = static_cast<int>(dim());
  dispatch_all(dtype(), source.device(), [&](auto zero, auto device) {
    using T = decltype(zero);
    kernels::copy_strided<device>(ndim, shape().data(), source.data_ptr<T>(), src_strides.data(),
                                  buffer.data_ptr<T>());
    kernels::copy_into_strided<device>(ndim, shape().data(), buffer.data_ptr<T>(), data_ptr<T>(),
                                       strides().data(), false);
  });
  return *this;
}

}  // namespace attn
