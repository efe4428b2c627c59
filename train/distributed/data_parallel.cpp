// Data parallelism: shares, gradient buckets, the ranks' dropout streams
// (train/distributed/data_parallel.h).
#include "train/distributed/data_parallel.h"

#include <chrono>
#include <cstring>

#include "kernels/cuda/runtime.h"
#include "kernels/error.h"
#include "kernels/generator.h"
#include "tensor/grad_mode.h"

namespace attn::distributed {
namespace {

// Mixed into the seed of the ranks' dropout streams, so that they differ from
// the streams of initialisation and shuffling with the same --seed ("rank").
constexpr uint64_t kRankStream = 0x72616e6b;

// n floats from src to dst, each on its own device (host or GPU memory).
void copy_floats(float* dst, Device dst_device, const float* src, Device src_device, int64_t n) {
  const size_t bytes = static_cast<size_t>(n) * sizeof(float);
  if (dst_device == Device::CPU && src_device == Device::CPU) {
    std::memcpy(dst, src, bytes);
  } else if (dst_device == Device::CUDA && src_device == Device::CUDA) {
    kernels::cuda::copy_device_to_device(dst, src, bytes);
  } else if (dst_device == Device::CPU) {
    kernels::cuda::copy_device_to_host(dst, src, bytes);
  } else {
    kernels::cuda::copy_host_to_device(dst, src, bytes);
  }
}

// Sums the gradients of parameters [first, last) over all ranks through one
// bucket of `floats` floats: pack, all-reduce, unpack. Returns the seconds
// the all-reduce took.
double reduce_bucket(const std::vector<Tensor>& parameters, size_t first, size_t last,
                     int64_t floats, Communicator& comm) {
  const Device device = parameters[first].device();
  // MPI reduces host memory: GPU gradients without NCCL are staged through it.
  const Device bucket_device = comm.reduces_on(device) ? device : Device::CPU;
  Tensor bucket =
      Tensor::empty({floats}, TensorOptions(kFloat32).device(bucket_device));  // (floats)
  float* data = bucket.data_ptr<float>();

  // Pack: each gradient, flattened, at its offset in the bucket.
  int64_t offset = 0;
  for (size_t i = first; i < last; ++i) {
    const int64_t n = parameters[i].numel();
    Tensor grad = parameters[i].grad();
    if (grad.defined()) {
      grad = grad.is_contiguous() ? grad : grad.contiguous();
      copy_floats(data + offset, bucket_device, grad.data_ptr<float>(), device, n);
    } else {
      bucket.narrow(0, offset, n).zero_();  // no gradient on this rank (an empty share): zeros
    }
    offset += n;
  }

  const auto start = std::chrono::steady_clock::now();
  comm.allreduce_sum(data, floats);
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  // Unpack: the sums back into the gradients, in place where there is one.
  offset = 0;
  for (size_t i = first; i < last; ++i) {
    const Tensor& parameter = parameters[i];
    const int64_t n = parameter.numel();
    Tensor grad = parameter.grad();
    if (!grad.defined() || !grad.is_contiguous()) {
      grad = Tensor::empty(parameter.shape(), TensorOptions(kFloat32).device(device));
      parameter.set_grad(grad);
    }
    copy_floats(grad.data_ptr<float>(), device, data + offset, bucket_device, n);
    offset += n;
  }
  return seconds;
}

void check_parameters(const std::vector<Tensor>& parameters, const char* who) {
  for (size_t i = 0; i < parameters.size(); ++i) {
    ATTN_CHECK(parameters[i].defined(), who, ": parameter ", i, " is undefined");
    ATTN_CHECK(parameters[i].dtype() == kFloat32, who, ": parameter ", i, " is ",
               parameters[i].dtype(), "; data-parallel training sums float32 gradients");
    ATTN_CHECK(parameters[i].device() == parameters.front().device(), who, ": parameter ", i,
               " is on ", device_name(parameters[i].device()), ", parameter 0 on ",
               device_name(parameters.front().device()), "; move the model to one device");
  }
}

}  // namespace

std::vector<size_t> share_of(const std::vector<size_t>& indices, int rank, int size) {
  ATTN_CHECK(size >= 1 && rank >= 0 && rank < size, "share_of: rank ", rank, " of ", size,
             " ranks; expected 0 <= rank < size");
  const int64_t count = static_cast<int64_t>(indices.size());
  const int64_t begin = count * rank / size, end = count * (rank + 1) / size;
  return std::vector<size_t>(indices.begin() + begin, indices.begin() + end);
}

data::Batch local_batch(const data::Batch& global, const std::vector<std::vector<int64_t>>& sources,
                        const std::vector<std::vector<int64_t>>& targets, int rank, int size) {
  const std::vector<size_t> share = share_of(global.indices, rank, size);
  if (share.empty()) return data::Batch();  // fewer sentences than ranks: this one sits out
  return data::make_batch(sources, targets, share);
}

double allreduce_gradients(const std::vector<Tensor>& parameters, Communicator& comm,
                           int64_t bucket_floats) {
  ATTN_CHECK(bucket_floats >= 1, "allreduce_gradients: bucket_floats must be >= 1, got ",
             bucket_floats);
  check_parameters(parameters, "allreduce_gradients");
  NoGradGuard no_grad;
  double seconds = 0.0;
  size_t first = 0;
  while (first < parameters.size()) {
    // The bucket: parameters [first, last), as many as fit (at least one).
    size_t last = first + 1;
    int64_t floats = parameters[first].numel();
    while (last < parameters.size() && floats + parameters[last].numel() <= bucket_floats) {
      floats += parameters[last++].numel();
    }
    seconds += reduce_bucket(parameters, first, last, floats, comm);
    first = last;
  }
  return seconds;
}

void broadcast_parameters(const std::vector<Tensor>& parameters, Communicator& comm) {
  if (comm.size() <= 1) return;
  check_parameters(parameters, "broadcast_parameters");
  NoGradGuard no_grad;
  for (const Tensor& parameter : parameters) {
    // A CPU parameter is written in place; a GPU one through a host copy.
    Tensor host = parameter.detach().to(Device::CPU).contiguous();
    comm.broadcast(host.data_ptr<float>(), host.numel() * static_cast<int64_t>(sizeof(float)), 0);
    if (!host.shares_storage_with(parameter)) Tensor(parameter).copy_(host);
  }
}

void seed_rank_generator(uint64_t seed, int rank, int64_t update) {
  // Counter-based (kernels/generator.h): the stream of (seed, rank), from
  // offset update * 2^32, which no update's dropout draws run past.
  default_generator().set_state(Generator::hash(seed ^ kRankStream, static_cast<uint64_t>(rank)),
                                static_cast<uint64_t>(update) << 32);
}

}  // namespace attn::distributed
