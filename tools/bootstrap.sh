#!/usr/bin/env bash
# Sets up everything the project needs, idempotently: a Python virtualenv with the pinned
# packages, the pinned npm packages (solc-js, anvil, OpenZeppelin), and the solc stand-in
# that py-solc-x and brownie call. Re-running it does nothing that is already done.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
PY=${PYTHON:-python3}

stamp_matches() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

# 1. npm packages, pinned by package-lock.json; patches/ is applied by their postinstall
#    (patch-package), so a changed patch reinstalls them too.
npm_hash=$(cat package.json package-lock.json patches/* | sha256sum | cut -d' ' -f1)
if ! stamp_matches node_modules/.scf-stamp "$npm_hash"; then
  echo "bootstrap: installing npm packages (solc-js, anvil, OpenZeppelin, @ethereumjs/client and its patches)"
  npm ci --no-audit --no-fund --loglevel=error
  echo "$npm_hash" > node_modules/.scf-stamp
fi

# 1b. The browser of the portal's tests (tests/portal): Debian's chromium, which Playwright
#     drives (it never downloads a browser of its own here), and a font with Chinese
#     characters, without which the pages' Chinese shows as empty boxes in screenshots.
need_debs=()
[ -x /usr/bin/chromium ] || need_debs+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || need_debs+=(fonts-wqy-microhei)
if [ ${#need_debs[@]} -gt 0 ]; then
  echo "bootstrap: installing Debian packages: ${need_debs[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    apt-get install -y "${need_debs[@]}" >/dev/null \
      || { apt-get update >/dev/null && apt-get install -y "${need_debs[@]}" >/dev/null; }
  else
    sudo apt-get install -y "${need_debs[@]}" >/dev/null
  fi
fi

# 2. Python virtualenv with the pinned packages and this project in editable mode.
py_hash=$( (cat pyproject.toml; "$PY" --version) | sha256sum | cut -d' ' -f1)
if ! stamp_matches .venv/.scf-stamp "$py_hash"; then
  echo "bootstrap: installing Python packages into .venv"
  [ -x .venv/bin/python ] || "$PY" -m venv .venv
  .venv/bin/python -m pip install --quiet --upgrade pip
  .venv/bin/python -m pip install --quiet -e ".[dev]"
  echo "$py_hash" > .venv/.scf-stamp
fi

# 3. solc for py-solc-x and brownie: they look for `solc-v<version>` in their install
#    folder; we point that name at our solc-js stand-in (no download possible here).
solc_version=$(node -e "console.log(require('./node_modules/solc/package.json').version)")
solcx_dir=${SOLCX_BINARY_PATH:-$HOME/.solcx}
mkdir -p "$solcx_dir"
ln -sfn "$ROOT/tools/solc" "$solcx_dir/solc-v$solc_version"

# 4. anvil on PATH for brownie's development network: the platform binary itself, so that
#    stopping it stops the node (the npm wrapper would leave a child process behind).
ln -sfn "$ROOT/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil" .venv/bin/anvil

# 5. A brownie network for the test suite on its own port, so `make test` never attaches to
#    the node that `make run` keeps on 8545.
if ! .venv/bin/brownie networks list 2>/dev/null | grep -q "scf-test"; then
  .venv/bin/brownie networks add Development scf-test cmd=anvil host=http://127.0.0.1 \
    port=18545 accounts=10 gas_limit=30000000 base_fee=0 >/dev/null
fi

# 6. The OpenAPI fuzzer (schemathesis) in a virtualenv of its own, pinned by
#    tools/fuzz-requirements.txt: it needs a current hypothesis, and eth-brownie pins an old
#    one in .venv. tests/api/test_schemathesis.py runs .venv-fuzz/bin/schemathesis.
fuzz_hash=$( (cat tools/fuzz-requirements.txt; "$PY" --version) | sha256sum | cut -d' ' -f1)
if ! stamp_matches .venv-fuzz/.scf-stamp "$fuzz_hash"; then
  echo "bootstrap: installing the OpenAPI fuzzer into .venv-fuzz"
  [ -x .venv-fuzz/bin/python ] || "$PY" -m venv .venv-fuzz
  .venv-fuzz/bin/python -m pip install --quiet --upgrade pip
  .venv-fuzz/bin/python -m pip install --quiet -r tools/fuzz-requirements.txt
  echo "$fuzz_hash" > .venv-fuzz/.scf-stamp
fi

# 7. The linters (mypy, pre-commit) in a virtualenv of their own, pinned by
#    tools/lint-requirements.txt: mypy's runtime needs a newer mypy-extensions than
#    eth-brownie pins in .venv. make lint runs .venv-lint/bin/mypy over .venv's packages.
lint_hash=$( (cat tools/lint-requirements.txt; "$PY" --version) | sha256sum | cut -d' ' -f1)
if ! stamp_matches .venv-lint/.scf-stamp "$lint_hash"; then
  echo "bootstrap: installing the linters into .venv-lint"
  [ -x .venv-lint/bin/python ] || "$PY" -m venv .venv-lint
  .venv-lint/bin/python -m pip install --quiet --upgrade pip
  .venv-lint/bin/python -m pip install --quiet -r tools/lint-requirements.txt
  echo "$lint_hash" > .venv-lint/.scf-stamp
fi
