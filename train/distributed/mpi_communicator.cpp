// The MPI communicator (train/distributed/communicator.h): Open MPI's
// collectives over host memory, one rank per process that `mpirun -np N` starts.
//
// MPI_Allreduce with MPI_SUM is the whole of what data parallelism asks of
// MPI; how the library moves the bytes (a ring, recursive halving, shared
// memory between ranks on one machine) is its own choice, made per message
// size. docs/18-data-parallel-training.md, section 2, draws the ring.
//
// Errors: MPI's default handler, MPI_ERRORS_ARE_FATAL, ends the whole job on
// a failed call, so a call here either succeeds or never returns; a rank that
// dies outright is noticed by mpirun, which ends the others. Neither hangs.
#include <mpi.h>

#include <algorithm>
#include <climits>
#include <iostream>

#include "kernels/error.h"
#include "train/distributed/communicator.h"

namespace attn::distributed {
namespace {

// MPI counts elements in int: a longer buffer goes in pieces of at most INT_MAX.
template <typename T, typename Call>
void in_pieces(T* data, int64_t count, Call call) {
  ATTN_CHECK(count >= 0, "MPI: negative element count ", count);
  for (int64_t done = 0; done < count;) {
    const int piece = static_cast<int>(std::min<int64_t>(count - done, INT_MAX));
    call(data + done, piece);
    done += piece;
  }
}

class MpiCommunicator : public Communicator {
 public:
  MpiCommunicator(int* argc, char*** argv) {
    int initialised = 0;
    MPI_Initialized(&initialised);
    if (!initialised) MPI_Init(argc, argv);
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &size_);
    // The ranks that share this machine's memory (and its GPUs), numbered from 0.
    MPI_Comm local;
    MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, rank_, MPI_INFO_NULL, &local);
    MPI_Comm_rank(local, &local_rank_);
    MPI_Comm_free(&local);
  }
  ~MpiCommunicator() override { MPI_Finalize(); }

  int rank() const override { return rank_; }
  int size() const override { return size_; }
  int local_rank() const override { return local_rank_; }
  std::string name() const override { return "MPI"; }
  bool reduces_on(Device device) const override { return device == Device::CPU; }

  void allreduce_sum(float* data, int64_t count) override {
    in_pieces(data, count, [](float* piece, int n) {
      MPI_Allreduce(MPI_IN_PLACE, piece, n, MPI_FLOAT, MPI_SUM, MPI_COMM_WORLD);
    });
  }
  void allreduce_sum(double* data, int64_t count) override {
    in_pieces(data, count, [](double* piece, int n) {
      MPI_Allreduce(MPI_IN_PLACE, piece, n, MPI_DOUBLE, MPI_SUM, MPI_COMM_WORLD);
    });
  }
  void allreduce_max(int64_t* data, int64_t count) override {
    in_pieces(data, count, [](int64_t* piece, int n) {
      MPI_Allreduce(MPI_IN_PLACE, piece, n, MPI_INT64_T, MPI_MAX, MPI_COMM_WORLD);
    });
  }
  void broadcast(void* data, int64_t bytes, int root) override {
    in_pieces(static_cast<char*>(data), bytes,
              [root](char* piece, int n) { MPI_Bcast(piece, n, MPI_BYTE, root, MPI_COMM_WORLD); });
  }
  void abort(int exit_code) override {
    std::cerr << "attn: rank " << rank_ << " of " << size_ << " failed (above): ending all "
              << size_ << " ranks" << std::endl;
    MPI_Abort(MPI_COMM_WORLD, exit_code);
  }

 private:
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

}  // namespace

std::unique_ptr<Communicator> start_mpi(int* argc, char*** argv) {
  return std::make_unique<MpiCommunicator>(argc, argv);
}

}  // namespace attn::distributed
