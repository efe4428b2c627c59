// The process's ranks: which communicator a run uses, set up once
// (train/distributed/communicator.h).
#include "train/distributed/communicator.h"

#include <cstdlib>
#include <iostream>

#include "kernels/error.h"

namespace attn::distributed {
namespace {

// Set by start() under a launcher; empty for one process.
std::unique_ptr<Communicator> mpi_world;
// Made by communicator_for(kCUDA) when NCCL is built in and there are several ranks.
std::unique_ptr<Communicator> nccl_world;

// The size a launcher wrote into `variable`, or 0 when it is not set.
int size_from(const char* variable) {
  const char* text = std::getenv(variable);
  if (text == nullptr || *text == '\0') return 0;
  char* end = nullptr;
  const long size = std::strtol(text, &end, 10);
  ATTN_CHECK(*end == '\0' && size >= 1 && size <= 1 << 20, "the environment variable ", variable,
             "='", text, "' is not a number of processes (set by mpirun or srun)");
  return static_cast<int>(size);
}

}  // namespace

int launched_world_size() {
  // Open MPI's mpirun sets OMPI_COMM_WORLD_SIZE; MPICH's hydra and Slurm set PMI_SIZE.
  for (const char* variable : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"}) {
    if (int size = size_from(variable)) return size;
  }
  return 1;
}

void start(int* argc, char*** argv) {
  // `mpirun -np 1` and a plain `attn` are one process: no MPI at all, so a
  // build without it runs them as it always did.
  if (launched_world_size() <= 1 || mpi_world) return;
  mpi_world = start_mpi(argc, argv);
}

void finish() {
  nccl_world.reset();  // before MPI_Finalize: the NCCL communicator was set up over MPI
  mpi_world.reset();   // MPI_Finalize (mpi_communicator.cpp)
}

void end_job_after_error(int exit_code) {
  if (mpi_world && mpi_world->size() > 1) mpi_world->abort(exit_code);
}

std::string rank_label() {
  if (!mpi_world || mpi_world->size() <= 1) return "";
  return "rank " + std::to_string(mpi_world->rank()) + " of " + std::to_string(mpi_world->size()) +
         ": ";
}

Communicator& world() {
  static SingleProcess single;
  return mpi_world ? *mpi_world : single;
}

Communicator& communicator_for(Device device) {
  Communicator& host = world();
  if (device != Device::CUDA || host.size() <= 1) return host;
  if (!nccl_world) {
    nccl_world = make_nccl_communicator(host);
    if (!nccl_world) {
      // Still correct, only slower: data_parallel.cpp copies each bucket to
      // the host and back around MPI's all-reduce.
      if (host.rank() == 0) {
        std::cerr << "attn: built without NCCL: the " << host.size()
                  << " ranks add their GPU gradients through MPI, via host memory\n";
      }
      return host;
    }
  }
  return *nccl_world;
}

}  // namespace attn::distributed
