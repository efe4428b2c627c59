// The NCCL communicator (train/distributed/communicator.h): for --device cuda,
// one rank per GPU, the gradients added up by ncclAllReduce in GPU memory,
// over NVLink or PCIe, without a copy to the host.
//
// NCCL does not start processes or find its peers: MPI does both. Rank 0
// draws a ncclUniqueId (an address where the ranks meet), MPI broadcasts
// it, and every rank joins the NCCL communicator with it. The small host-side
// operations (token counts, the loss, rank 0's decisions) stay with MPI.
//
// Compiled only in a CUDA build where MPI and NCCL were found (CMakeLists.txt);
// nccl_unavailable.cpp stands in elsewhere.
#include <cuda_runtime.h>
#include <nccl.h>

#include <string>

#include "kernels/error.h"
#include "train/distributed/communicator.h"

namespace attn::distributed {
namespace {

void check_cuda(cudaError_t status, const char* call) {
  ATTN_CHECK(status == cudaSuccess, "NCCL communicator: ", call, ": ", cudaGetErrorString(status));
}

void check_nccl(ncclResult_t status, const char* call) {
  ATTN_CHECK(status == ncclSuccess, "NCCL communicator: ", call, ": ", ncclGetErrorString(status),
             " (NCCL_DEBUG=INFO says more)");
}

class NcclCommunicator : public Communicator {
 public:
  explicit NcclCommunicator(Communicator& host) : host_(host) {
    // One GPU per rank: the i-th rank on this machine takes GPU i, before the
    // model allocates anything on the device.
    int devices = 0;
    check_cuda(cudaGetDeviceCount(&devices), "cudaGetDeviceCount");
    ATTN_CHECK(host.local_rank() < devices, "NCCL communicator: rank ", host.rank(),
               " is local rank ", host.local_rank(), " on its machine, which has only ", devices,
               " GPU(s): start at most ", devices, " ranks per machine (mpirun -np / --map-by)");
    check_cuda(cudaSetDevice(host.local_rank()), "cudaSetDevice");
    ncclUniqueId id;
    if (host.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
    host.broadcast(&id, sizeof id, 0);
    check_nccl(ncclCommInitRank(&comm_, host.size(), id, host.rank()), "ncclCommInitRank");
  }
  ~NcclCommunicator() override { ncclCommDestroy(comm_); }

  int rank() const override { return host_.rank(); }
  int size() const override { return host_.size(); }
  int local_rank() const override { return host_.local_rank(); }
  std::string name() const override { return "NCCL"; }
  bool reduces_on(Device device) const override { return device == Device::CUDA; }

  // On the default stream, where attn queues every kernel (kernels/cuda/runtime.cu):
  // the reduction starts after the backward's kernels, and the wait after it
  // keeps the step's order simple (the optimizer reads the sums next).
  void allreduce_sum(float* data, int64_t count) override {
    check_nccl(ncclAllReduce(data, data, static_cast<size_t>(count), ncclFloat, ncclSum, comm_,
                             /*stream=*/0),
               "ncclAllReduce");
    check_cuda(cudaStreamSynchronize(0), "cudaStreamSynchronize after ncclAllReduce");
  }
  void allreduce_sum(double* data, int64_t count) override { host_.allreduce_sum(data, count); }
  void allreduce_max(int64_t* data, int64_t count) override { host_.allreduce_max(data, count); }
  void broadcast(void* data, int64_t bytes, int root) override {
    host_.broadcast(data, bytes, root);
  }
  void abort(int exit_code) override {
    ncclCommAbort(comm_);
    host_.abort(exit_code);
  }

 private:
  Communicator& host_;
  ncclComm_t comm_ = nullptr;
};

}  // namespace

std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host) {
  return std::make_unique<NcclCommunicator>(host);
}

}  // namespace attn::distributed
