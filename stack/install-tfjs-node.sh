#!/usr/bin/env bash
# build-tfjs-node.sh PROJECT_DIR CACHE_DIR
#
# Makes @tensorflow/tfjs-node (4.22.0) usable offline, taking libtensorflow from the
# PyPI wheel tensorflow-cpu (its libtensorflow_cc.so.2 exports the TF_*/TFE_* C API)
# instead of tfjs-node's own install script, which downloads from a Google CDN.
#
#  1. fast no-op if the binding already loads;
#  2. `pip download` the wheel into CACHE_DIR if absent;
#  3. extract the two .so files + the C API header closure into CACHE_DIR (once);
#  4. stage them in node_modules/@tensorflow/tfjs-node/deps/{lib,include}
#     (hard links when possible; libtensorflow.so[.2] -> libtensorflow_cc.so.2);
#  5. build the N-API binding with node-gyp into the path node-pre-gyp looks in
#     (lib/napi-v8/tfjs_binding.node, RUNPATH $ORIGIN/../../deps/lib: no
#     LD_LIBRARY_PATH needed at runtime);
#  6. verify by requiring @tensorflow/tfjs-node from PROJECT_DIR.
#
# Install the npm packages with scripts disabled first, otherwise tfjs-node's install
# script fails (getaddrinfo ENOTFOUND storage.googleapis.com) and npm rolls back:
#   npm install --ignore-scripts @tensorflow/tfjs-node@4.22.0
#
# Env overrides: TF_WHEEL_VERSION (default 2.21.0), NODEDIR (node headers prefix,
# default: npm_config_nodedir or the prefix of the running node), NODE_GYP (path to
# node-gyp.js), FORCE_REBUILD=1 (skip the fast path).
set -euo pipefail

TF_WHEEL_VERSION="${TF_WHEEL_VERSION:-2.21.0}"

log() { printf '[build-tfjs-node] %s\n' "$*" >&2; }
die() { printf '[build-tfjs-node] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -eq 2 ] || die "usage: $0 PROJECT_DIR CACHE_DIR"
command -v node >/dev/null || die "node not found in PATH"
command -v python3 >/dev/null || die "python3 not found in PATH"
PROJECT="$(cd "$1" 2>/dev/null && pwd)" || die "project dir '$1' does not exist"
mkdir -p "$2" || die "cannot create cache dir '$2'"
CACHE="$(cd "$2" && pwd)"

PKG="$PROJECT/node_modules/@tensorflow/tfjs-node"
[ -f "$PKG/package.json" ] || die "$PKG not found; run in $PROJECT: npm install --ignore-scripts @tensorflow/tfjs-node@4.22.0"
[ -f "$PKG/binding.gyp" ] || die "$PKG/binding.gyp missing (incomplete tfjs-node install?)"
PKG_VERSION="$(node -p "require('$PKG/package.json').version")"
[ "$PKG_VERSION" = "4.22.0" ] || log "warning: tfjs-node version is $PKG_VERSION (recipe tested with 4.22.0)"

# Where node-pre-gyp (used by tfjs-node at runtime) looks for the addon, e.g.
# .../tfjs-node/lib/napi-v8/tfjs_binding.node
BINDING="$(cd "$PKG" && node -e "
  const p=require('path');
  const pre=require(require.resolve('@mapbox/node-pre-gyp',{paths:[process.cwd()]}));
  console.log(pre.find(p.resolve('package.json')));")" \
  || die "cannot resolve binding path with @mapbox/node-pre-gyp (is it installed?)"
MODULE_PATH="$(dirname "$BINDING")"
MODULE_NAME="$(basename "$BINDING" .node)"
NAPI_VERSION="${MODULE_PATH##*napi-v}"
case "$NAPI_VERSION" in ''|*[!0-9]*) die "unexpected module path '$MODULE_PATH'";; esac

verify() {
  # Must work without LD_LIBRARY_PATH: the binding finds deps/lib via its RUNPATH.
  (cd "$PROJECT" && env -u LD_LIBRARY_PATH TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" node -e "
    const tf = require('@tensorflow/tfjs-node');
    if (tf.getBackend() !== 'tensorflow') throw new Error('backend is ' + tf.getBackend());
    const s = tf.tensor([[1, 2], [3, 4]]).matMul(tf.tensor([[1], [1]])).dataSync().join(',');
    if (s !== '3,7') throw new Error('matMul smoke test gave ' + s);
    console.log(tf.getBackend(), tf.version.tfjs, 'libtensorflow', tf.backend().binding.TF_Version);
  ")
}

if [ "${FORCE_REBUILD:-0}" != 1 ] && [ -f "$BINDING" ] && out="$(verify 2>/dev/null)"; then
  log "already OK, nothing to do: $out"
  exit 0
fi

T0=$SECONDS

# ---- 1. wheel ---------------------------------------------------------------------
shopt -s nullglob
wheels=("$CACHE"/tensorflow_cpu-"$TF_WHEEL_VERSION"-*.whl)
if [ ${#wheels[@]} -eq 0 ]; then
  log "downloading tensorflow-cpu==$TF_WHEEL_VERSION wheel into $CACHE (~270 MB)"
  python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
      "tensorflow-cpu==$TF_WHEEL_VERSION" -d "$CACHE" \
    || die "pip download of tensorflow-cpu==$TF_WHEEL_VERSION failed"
  wheels=("$CACHE"/tensorflow_cpu-"$TF_WHEEL_VERSION"-*.whl)
  [ ${#wheels[@]} -gt 0 ] || die "pip download finished but no tensorflow_cpu-$TF_WHEEL_VERSION-*.whl in $CACHE"
fi
WHEEL="${wheels[0]}"
shopt -u nullglob

# ---- 2. extract (once per cache) ----------------------------------------------------
EXTRACT="$CACHE/libtensorflow-$TF_WHEEL_VERSION"
if [ ! -f "$EXTRACT/.complete" ]; then
  log "extracting libs + C API headers from $(basename "$WHEEL")"
  rm -rf "$EXTRACT" "$EXTRACT.tmp"
  python3 - "$WHEEL" "$EXTRACT.tmp" "$PKG/binding" <<'PY' || die "extraction from $WHEEL failed (corrupt/partial wheel? delete it and rerun)"
import os, re, shutil, sys, zipfile
whl, out, binding_dir = sys.argv[1:4]
try:
    z = zipfile.ZipFile(whl)
except zipfile.BadZipFile as e:
    sys.exit(f"not a valid zip: {whl}: {e}")
names = set(z.namelist())
libs = ["tensorflow/libtensorflow_cc.so.2", "tensorflow/libtensorflow_framework.so.2"]
for n in libs:
    if n not in names:
        sys.exit(f"{n} not found in wheel")
    os.makedirs(f"{out}/lib", exist_ok=True)
    with z.open(n) as src, open(f"{out}/lib/{os.path.basename(n)}", "wb") as dst:
        shutil.copyfileobj(src, dst, 8 << 20)
# Header closure: start from the headers binding.gyp / the binding sources include,
# follow #include "..." that resolve inside the wheel's include dir.
pre = "tensorflow/include/"
inc = re.compile(r'^\s*#\s*include\s*"([^"]+)"', re.M)
todo = ["tensorflow/c/c_api.h", "tensorflow/c/eager/c_api.h"]
for f in os.listdir(binding_dir):
    if f.endswith((".cc", ".h")):
        with open(os.path.join(binding_dir, f), encoding="utf-8", errors="replace") as fh:
            todo += [h for h in inc.findall(fh.read()) if pre + h in names]
seen = set()
while todo:
    h = todo.pop()
    if h in seen or pre + h not in names:
        continue
    seen.add(h)
    data = z.read(pre + h)
    todo += inc.findall(data.decode("utf-8", "replace"))
    dst = f"{out}/include/{h}"
    os.makedirs(os.path.dirname(dst), exist_ok=True)
    with open(dst, "wb") as fh:
        fh.write(data)
for must in ("tensorflow/c/c_api.h", "tensorflow/c/eager/c_api.h"):
    if must not in seen:
        sys.exit(f"header {must} not found in wheel")
print(f"  {len(seen)} headers", file=sys.stderr)
PY
  if command -v nm >/dev/null; then
    # (symbols are versioned, e.g. "T TF_Version@@tensorflow"; no `nm | grep -q`
    # under pipefail: grep -q exiting early SIGPIPEs nm)
    syms="$(nm -D --defined-only "$EXTRACT.tmp/lib/libtensorflow_cc.so.2" | awk '{sub(/@.*/,"",$3); print $3}')"
    for sym in TF_Version TF_NewSessionOptions TFE_NewContext TFE_Execute; do
      grep -qx "$sym" <<<"$syms" || die "libtensorflow_cc.so.2 from the wheel does not export $sym"
    done
  fi
  touch "$EXTRACT.tmp/.complete"
  mv "$EXTRACT.tmp" "$EXTRACT"
fi

# ---- 3. stage into tfjs-node/deps -------------------------------------------------
log "staging into $PKG/deps"
mkdir -p "$PKG/deps/lib" "$PKG/deps/include"
for so in libtensorflow_cc.so.2 libtensorflow_framework.so.2; do
  src="$EXTRACT/lib/$so" dst="$PKG/deps/lib/$so"
  if [ "$src" -ef "$dst" ] || { [ -f "$dst" ] && [ ! -L "$dst" ] && cmp -s "$src" "$dst"; }; then
    continue
  fi
  rm -f "$dst"
  ln "$src" "$dst" 2>/dev/null || cp "$src" "$dst" || die "cannot copy $src to $dst"
done
# Link-time names for -ltensorflow / -ltensorflow_framework, plus the names tfjs-node's
# scripts/install.js checks (libtensorflow.so.2.9.1): with them present, a later
# `npm rebuild` does not wipe deps/ and try the CDN.
ln -sfn libtensorflow_cc.so.2        "$PKG/deps/lib/libtensorflow.so"
ln -sfn libtensorflow_cc.so.2        "$PKG/deps/lib/libtensorflow.so.2"
ln -sfn libtensorflow_cc.so.2        "$PKG/deps/lib/libtensorflow.so.2.9.1"
ln -sfn libtensorflow_framework.so.2 "$PKG/deps/lib/libtensorflow_framework.so"
ln -sfn libtensorflow_framework.so.2 "$PKG/deps/lib/libtensorflow_framework.so.2.9.1"
rm -rf "$PKG/deps/include"
cp -R "$EXTRACT/include" "$PKG/deps/include"

# ---- 4. build ---------------------------------------------------------------------
if [ -f "$BINDING" ] && [ "${FORCE_REBUILD:-0}" != 1 ] && verify 2>/dev/null; then
  log "existing binding loads after re-staging deps; skipping compile"
else
  NODE_PREFIX="$(dirname "$(dirname "$(node -p process.execPath)")")"
  NODEDIR="${NODEDIR:-${npm_config_nodedir:-$NODE_PREFIX}}"
  [ -f "$NODEDIR/include/node/node_api.h" ] \
    || die "node headers not found at $NODEDIR/include/node (set NODEDIR=<prefix containing include/node>); node-gyp would try to download them"
  hv="$(sed -n 's/^#define NODE_\(MAJOR\|MINOR\|PATCH\)_VERSION \([0-9]*\).*/\2/p' "$NODEDIR/include/node/node_version.h" | paste -sd.)"
  [ "v$hv" = "$(node -v)" ] || log "warning: headers in $NODEDIR are v$hv, node is $(node -v) (fine for N-API)"
  if [ -z "${NODE_GYP:-}" ]; then
    npm_cli="$(readlink -f "$(command -v npm 2>/dev/null || echo /nonexistent)")" || true
    for c in "$(dirname "$(dirname "$npm_cli")")/node_modules/node-gyp/bin/node-gyp.js" \
             "$PROJECT/node_modules/node-gyp/bin/node-gyp.js" \
             "$(command -v node-gyp 2>/dev/null || true)"; do
      if [ -n "$c" ] && [ -f "$c" ]; then NODE_GYP="$c"; break; fi
    done
  fi
  [ -n "${NODE_GYP:-}" ] && [ -f "$NODE_GYP" ] || die "node-gyp not found (set NODE_GYP=/path/to/node-gyp.js)"
  command -v make >/dev/null && command -v g++ >/dev/null || die "make and g++ are required"
  log "building $MODULE_NAME.node (napi v$NAPI_VERSION) with $NODE_GYP, nodedir=$NODEDIR"
  tb=$SECONDS
  (cd "$PKG" && node "$NODE_GYP" rebuild --jobs=2 --nodedir="$NODEDIR" \
      --module_name="$MODULE_NAME" --module_path="$MODULE_PATH" \
      --napi_build_version="$NAPI_VERSION" --loglevel=warn) \
    || die "node-gyp build failed (see output above)"
  [ -f "$BINDING" ] || die "build succeeded but $BINDING was not produced"
  log "compiled in $((SECONDS - tb))s"
fi

# ---- 5. verify --------------------------------------------------------------------
errf="$(mktemp)"; trap 'rm -f "$errf"' EXIT
out="$(verify 2>"$errf")" || die "tfjs-node still fails to load:
$(cat "$errf")
(ldd: $(ldd "$BINDING" 2>&1 | grep -E 'tensorflow|not found' | tr -s ' \t' ' '))"
log "OK in $((SECONDS - T0))s: $out"
