// train/distributed/communicator.h in a build without MPI: compiled instead of
// mpi_communicator.cpp when CMake finds no MPI (or -DATTN_MPI=OFF). attn
// runs as one process; launched by mpirun, it says what is missing and stops.
#include <string>

#include "kernels/error.h"
#include "train/distributed/communicator.h"

namespace attn::distributed {

std::unique_ptr<Communicator> start_mpi(int*, char***) {
  throw Error("launched as one of " + std::to_string(launched_world_size()) +
              " processes (by mpirun: OMPI_COMM_WORLD_SIZE or PMI_SIZE is set), but this attn "
              "was built without MPI, so its ranks could not share gradients. Install Open MPI "
              "(scripts/install-deps installs libopenmpi-dev and openmpi-bin) and rebuild: CMake "
              "then says 'MPI: found'. Or run attn without mpirun, as one process");
}

}  // namespace attn::distributed
