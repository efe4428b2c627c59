// train/distributed/communicator.h in a build without NCCL (no CUDA, no MPI,
// or no libnccl beside the toolkit): ranks with --device cuda then add their
// gradients through MPI via host memory (communicator_for says so once).
#include "train/distributed/communicator.h"

namespace attn::distributed {

std::unique_ptr<Communicator> make_nccl_communicator(Communicator&) { return nullptr; }

}  // namespace attn::distributed
