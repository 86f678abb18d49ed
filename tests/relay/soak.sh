#!/usr/bin/env bash
# The relay's heavy scenarios, outside deploy/test.sh's time budget: the
# 3-node cluster test (tests/relay/test_relay_cluster.py) with
# CONTACTS-contact segment logs (default 200,000), and the read replica
# killed while it applies a log of that size (test_replica.py), ROUNDS times (default 3)
# with a new seed each round. Needs a dev build in build/ (cmake --preset
# dev && cmake --build build).
#
#   tests/relay/soak.sh [ROUNDS] [CONTACTS]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
contacts=${2:-200000}
export RAPPORT_PY_PROTO=$PWD/build/py RAPPORT_BIN_DIR=$PWD/build/bin PYTHONDONTWRITEBYTECODE=1
export RAPPORT_RELAY_BIG=$contacts
python=/usr/bin/python3
[ -x "$python" ] || python=python3
for i in $(seq 1 "$rounds"); do
  export RAPPORT_TEST_SEED=$((1000 + i))
  echo "== round $i of $rounds: $contacts contacts, seed $RAPPORT_TEST_SEED"
  t0=$(date +%s)
  "$python" -u tests/relay/test_relay_cluster.py -v
  RAPPORT_REPLICA_BIG=$contacts "$python" -u tests/relay/test_replica.py -v -k killed
  echo "== round $i passed in $(( $(date +%s) - t0 )) s"
done
echo "== $rounds rounds passed"
