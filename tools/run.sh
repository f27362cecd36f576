#!/usr/bin/env bash
# The main job: a local chain that keeps its state across restarts, the contracts deployed
# on it, and a narrated walk-through of one certificate's life. The node stays up until
# Ctrl-C, which stops it cleanly (anvil writes its state on exit).
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${SCF_CHAIN_PORT:-8545}
DATA=${SCF_DATA_DIR:-.data}
ANVIL=.venv/bin/anvil
mkdir -p "$DATA/chain"

rpc_answers() {
  curl -s -m 2 -X POST -H 'content-type: application/json' \
    --data '{"jsonrpc":"2.0","id":1,"method":"eth_chainId","params":[]}' \
    "http://127.0.0.1:$PORT" | grep -q '"result"'
}

node_pid=""
stop_node() {
  if [ -n "$node_pid" ] && kill -0 "$node_pid" 2>/dev/null; then
    echo; echo "stopping the local chain (state kept in $DATA/chain/state.json)"
    kill -INT "$node_pid"; wait "$node_pid" 2>/dev/null || true
  fi
}
trap stop_node EXIT INT TERM

if rpc_answers; then
  echo "a chain node already answers on 127.0.0.1:$PORT: using it"
elif (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "error: port $PORT is taken by something that is not an Ethereum node;" \
       "free it or set SCF_CHAIN_PORT" >&2
  exit 2
else
  "$ANVIL" --port "$PORT" --accounts 10 --block-base-fee-per-gas 0 --gas-limit 30000000 \
    --state "$DATA/chain/state.json" --state-interval 10 --quiet > "$DATA/chain/anvil.log" 2>&1 &
  node_pid=$!
  for _ in $(seq 50); do rpc_answers && break; sleep 0.2; done
  rpc_answers || { echo "error: anvil did not start; see $DATA/chain/anvil.log" >&2; exit 1; }
  echo "local chain: http://127.0.0.1:$PORT (state: $DATA/chain/state.json)"
fi

.venv/bin/brownie run scripts/demo.py 2>&1 \
  | grep -vE "Transaction sent|Gas price|Gas limit|confirmed|deployed at|FutureWarning|_target|_network_connected|chain\.(sleep|mine)|^\s*$"

if [ -n "$node_pid" ]; then
  echo; echo "the chain keeps running at http://127.0.0.1:$PORT; Ctrl-C stops it"
  wait "$node_pid"
fi
