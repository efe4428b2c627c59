// The processes of one data-parallel run, and the few collective operations
// training needs from them (docs/18-data-parallel-training.md).
//
// `mpirun -np N attn train ...` starts N copies of attn, the ranks 0 .. N-1.
// Each holds a whole copy of the model, trains on its share of every batch
// (train/distributed/data_parallel.h), and the ranks meet once per update to
// add up their gradients:
//
//   rank 0:  g0 = [1, 2, 3]  \                      / [5, 7, 9]
//   rank 1:  g1 = [4, 5, 6]  -- allreduce_sum -->   - [5, 7, 9]   every rank, the same sums
//
// An all-reduce is the one operation a data-parallel step cannot do without;
// broadcast (one rank's bytes to all) starts them from the same weights and
// shares rank 0's decisions (validation, early stopping).
//
// Three implementations, one per engine:
//   SingleProcess       (communicator.cpp)       one rank; every operation is a no-op
//   MPI                 (mpi_communicator.cpp)   Open MPI's MPI_Allreduce over host memory
//   NCCL                (nccl_communicator.cpp)  ncclAllReduce over GPU memory, one GPU per rank
// A build without MPI or NCCL compiles mpi_unavailable.cpp or
// nccl_unavailable.cpp instead, which say what is missing.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "kernels/dtype.h"

namespace attn::distributed {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;          // 0 .. size() - 1; rank 0 writes logs and checkpoints
  virtual int size() const = 0;          // N, the number of ranks
  virtual int local_rank() const = 0;    // the rank among those on this machine: which GPU it takes
  virtual std::string name() const = 0;  // "single process", "MPI", "NCCL"

  // Whether allreduce_sum(float*) takes memory of `device`: MPI reduces host
  // memory, NCCL GPU memory. The caller stages the other kind through a copy.
  virtual bool reduces_on(Device device) const = 0;
  // data: `count` floats on a device reduces_on() accepts. In place, every
  // rank's data becomes the element-wise sum over all ranks, the same on each.
  virtual void allreduce_sum(float* data, int64_t count) = 0;
  // The same for a few numbers of host memory: token counts and losses (double
  // holds every count below 2^53 exactly).
  virtual void allreduce_sum(double* data, int64_t count) = 0;
  // data: `count` host integers; each becomes the largest over all ranks.
  virtual void allreduce_max(int64_t* data, int64_t count) = 0;
  // Copies `bytes` bytes of host memory from rank `root` to every other rank.
  virtual void broadcast(void* data, int64_t bytes, int root) = 0;
  // Ends every rank of the job now, with `exit_code` (MPI_Abort): what a rank
  // that failed calls, so that the others, waiting for it in an all-reduce
  // that will never complete, do not wait forever.
  virtual void abort(int exit_code) = 0;
};

// One process, no peers: rank 0 of 1. The sums are the numbers given.
class SingleProcess : public Communicator {
 public:
  int rank() const override { return 0; }
  int size() const override { return 1; }
  int local_rank() const override { return 0; }
  std::string name() const override { return "single process"; }
  bool reduces_on(Device) const override { return true; }
  void allreduce_sum(float*, int64_t) override {}
  void allreduce_sum(double*, int64_t) override {}
  void allreduce_max(int64_t*, int64_t) override {}
  void broadcast(void*, int64_t, int) override {}
  void abort(int) override {}
};

// How many processes the launcher started, from the variables it sets in each
// one's environment: OMPI_COMM_WORLD_SIZE (Open MPI's mpirun) or PMI_SIZE
// (MPICH, Slurm). 1 when attn was not launched by one.
int launched_world_size();

// --- the process's ranks, set up once by `attn` (train/cli/main.cpp) ---

// Under a launcher (launched_world_size() > 1): initialises MPI, and world()
// becomes the MPI communicator. Otherwise nothing: world() stays the single
// process. Throws attn::Error when launched by mpirun but built without MPI,
// naming what to install.
void start(int* argc, char*** argv);
// Frees what start() and gpu_world() made (NCCL, then MPI_Finalize).
void finish();
// Called by a rank that is failing with an error it has printed: under MPI
// with N > 1 ranks, ends every rank now (Communicator::abort); else returns.
void end_job_after_error(int exit_code);
// "rank 1 of 2: " under MPI with several ranks, else "": put before a
// failing rank's message, so that the job's output says which rank failed.
std::string rank_label();

// The ranks of this process: MPI after start() under mpirun, else the single process.
Communicator& world();
// The communicator for gradients on `device`: for kCUDA with several ranks,
// NCCL when built with it (made on first use: each rank takes the GPU of its
// local_rank, rank 0 draws the NCCL id and world() broadcasts it); otherwise world().
Communicator& communicator_for(Device device);

// Made by mpi_communicator.cpp, or by mpi_unavailable.cpp, which throws.
std::unique_ptr<Communicator> start_mpi(int* argc, char*** argv);
// Made by nccl_communicator.cpp, or nullptr from nccl_unavailable.cpp.
// host: the MPI communicator, for the NCCL id and the host-side operations.
std::unique_ptr<Communicator> make_nccl_communicator(Communicator& host);

}  // namespace attn::distributed
