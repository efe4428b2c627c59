#!/usr/bin/env bash
# In a build without MPI: attn launched as one of several processes (as mpirun
# launches it) says what is missing and exits 1, instead of training N
# unconnected copies.
#
#   bash tests/train/mpi_missing_test.sh build/attn
set -u
ATTN=${1:?usage: mpi_missing_test.sh PATH/TO/attn}
err=$(OMPI_COMM_WORLD_SIZE=2 "$ATTN" --version 2>&1 >/dev/null)
code=$?
if [ $code -eq 1 ] && grep -q "built without MPI" <<<"$err" && grep -q "libopenmpi-dev" <<<"$err"; then
  echo "ok - launched by mpirun without MPI: exit 1, '$err'"
  exit 0
fi
echo "FAIL - expected exit 1 naming 'built without MPI' and libopenmpi-dev; got exit $code: $err"
exit 1
