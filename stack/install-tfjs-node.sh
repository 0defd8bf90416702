#!/usr/bin/env bash
# install-tfjs-node.sh [--variant cpu|gpu] [--dry-run] PROJECT_DIR CACHE_DIR
#
# Makes the native binding of TensorFlow.js (4.22.0) usable offline, taking libtensorflow from a PyPI wheel
# (its libtensorflow_cc.so.2 exports the TF_*/TFE_* C API) instead of the package's own install script, which
# downloads from a Google CDN:
#   --variant cpu (default)  @tensorflow/tfjs-node     against the tensorflow-cpu wheel;
#   --variant gpu            @tensorflow/tfjs-node-gpu against the tensorflow wheel (on Linux x86_64 it is the CUDA
#                            build) plus the NVIDIA CUDA/cuDNN wheels its `and-cuda` extra requires.
#
#  1. fast no-op if the binding already loads;
#  2. `pip download` the wheel into CACHE_DIR if absent;
#  3. extract the two .so files + the C API header closure into CACHE_DIR (once), check the C API symbols;
#     gpu: `pip install --target` the `and-cuda` requirements (read from the wheel's METADATA) into CACHE_DIR (once);
#  4. stage them in node_modules/@tensorflow/<package>/deps/{lib,include} (hard links when possible;
#     libtensorflow.so[.2] -> libtensorflow_cc.so.2); gpu: the CUDA libraries in deps/nvidia/<lib>/lib, where the
#     RUNPATH of the wheel's libtensorflow ($ORIGIN/../nvidia/<lib>/lib, its site-packages layout) finds them from
#     deps/lib: no LD_LIBRARY_PATH needed (checked: every CUDA library TensorFlow loads is on that RUNPATH);
#  5. build the N-API binding with node-gyp into the path node-pre-gyp looks in (lib/napi-v8/tfjs_binding.node,
#     RUNPATH $ORIGIN/../../deps/lib);
#  6. verify by requiring the package from PROJECT_DIR (gpu: also says whether TensorFlow sees a GPU; a build
#     host usually has none, and the binding then runs on the CPU).
#
# --dry-run downloads, extracts, stages and builds nothing; it checks each step's inputs and exits non-zero on
# the first missing one: the npm package and its binding.gyp, the binding path node-pre-gyp expects, the wheel
# version on PyPI for this platform (`pip index versions`, no download: the CUDA wheel is ~570 MB), the node
# headers, node-gyp, make and g++. With the wheel already in CACHE_DIR it also checks the wheel's libraries,
# headers and exported symbols (extracted to a temporary directory) and, for gpu, its RUNPATH and that every
# `and-cuda` requirement resolves on PyPI.
#
# Install the npm packages with scripts disabled first (the repository's .npmrc does), otherwise the package's
# install script fails (getaddrinfo ENOTFOUND storage.googleapis.com) and npm rolls back:
#   npm install --ignore-scripts
#
# Env overrides: TF_WHEEL_VERSION (default 2.21.0), NODEDIR (node headers prefix, default: npm_config_nodedir or
# the prefix of the running node), NODE_GYP (path to node-gyp.js), FORCE_REBUILD=1 (skip the fast path).
set -euo pipefail

TF_WHEEL_VERSION="${TF_WHEEL_VERSION:-2.21.0}"
TFJS_VERSION=4.22.0
# The C API the binding calls (a sample: the wheel must export them).
C_API_SYMBOLS=(TF_Version TF_NewSessionOptions TFE_NewContext TFE_Execute TFE_ContextListDevices)
# The CUDA libraries (sonames) the CUDA build of TensorFlow 2.x (CUDA 12, cuDNN 9) dlopens at start on a GPU host.
CUDA_SONAMES=(libcudart.so.12 libcublas.so.12 libcublasLt.so.12 libcufft.so.11 libcusolver.so.11 libcusparse.so.12 libcudnn.so.9)

VARIANT=cpu
DRY_RUN=0
TAG=install-tfjs-node
log() { printf '[%s] %s\n' "$TAG" "$*" >&2; }
die() { printf '[%s] ERROR: %s\n' "$TAG" "$*" >&2; exit 1; }
usage() { die "usage: $0 [--variant cpu|gpu] [--dry-run] PROJECT_DIR CACHE_DIR"; }

args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --variant) [ $# -ge 2 ] || usage; VARIANT="$2"; shift 2 ;;
    --variant=*) VARIANT="${1#*=}"; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 0 ;;
    -*) die "unknown option $1" ;;
    *) args+=("$1"); shift ;;
  esac
done
[ ${#args[@]} -eq 2 ] || usage

case "$VARIANT" in
  cpu) NPM_PACKAGE=@tensorflow/tfjs-node     WHEEL_PACKAGE=tensorflow-cpu WHEEL_FILE_PREFIX=tensorflow_cpu EXTRACT_NAME=libtensorflow ;;
  gpu) NPM_PACKAGE=@tensorflow/tfjs-node-gpu WHEEL_PACKAGE=tensorflow     WHEEL_FILE_PREFIX=tensorflow     EXTRACT_NAME=libtensorflow-cuda ;;
  *) die "--variant must be cpu or gpu, got '$VARIANT'" ;;
esac
TAG="install-tfjs-node:$VARIANT"

command -v node >/dev/null || die "node not found in PATH"
command -v python3 >/dev/null || die "python3 not found in PATH"
PROJECT="$(cd "${args[0]}" 2>/dev/null && pwd)" || die "project dir '${args[0]}' does not exist"
if [ "$DRY_RUN" = 1 ]; then
  CACHE="$(cd "${args[1]}" 2>/dev/null && pwd)" || CACHE="${args[1]}" # a dry run creates nothing
else
  mkdir -p "${args[1]}" || die "cannot create cache dir '${args[1]}'"
  CACHE="$(cd "${args[1]}" && pwd)"
fi

PKG="$PROJECT/node_modules/$NPM_PACKAGE"
[ -f "$PKG/package.json" ] || die "$PKG not found; run in $PROJECT: npm install --ignore-scripts ($NPM_PACKAGE@$TFJS_VERSION is in package.json)"
[ -f "$PKG/binding.gyp" ] || die "$PKG/binding.gyp missing (incomplete $NPM_PACKAGE install?)"
PKG_VERSION="$(node -p "require('$PKG/package.json').version")"
[ "$PKG_VERSION" = "$TFJS_VERSION" ] || log "warning: $NPM_PACKAGE version is $PKG_VERSION (recipe tested with $TFJS_VERSION)"

# Where node-pre-gyp (used by the package at runtime) looks for the addon, e.g. .../lib/napi-v8/tfjs_binding.node
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
  # Must work without LD_LIBRARY_PATH: the binding finds deps/lib, and libtensorflow deps/nvidia, by RUNPATH.
  (cd "$PROJECT" && env -u LD_LIBRARY_PATH TF_CPP_MIN_LOG_LEVEL="${TF_CPP_MIN_LOG_LEVEL:-2}" node -e "
    const tf = require('$NPM_PACKAGE');
    if (tf.getBackend() !== 'tensorflow') throw new Error('backend is ' + tf.getBackend());
    const s = tf.tensor([[1, 2], [3, 4]]).matMul(tf.tensor([[1], [1]])).dataSync().join(',');
    if (s !== '3,7') throw new Error('matMul smoke test gave ' + s);
    const device = '$VARIANT' === 'gpu' ? (tf.backend().binding.isUsingGpuDevice() ? ', on a GPU' : ', no GPU visible here: on the CPU') : '';
    console.log(tf.getBackend(), tf.version.tfjs, 'libtensorflow', tf.backend().binding.TF_Version + device);
  ")
}

# The directory of node's headers, and node-gyp: sets NODEDIR and NODE_GYP or dies.
find_toolchain() {
  local node_prefix npm_cli c hv
  node_prefix="$(dirname "$(dirname "$(node -p process.execPath)")")"
  NODEDIR="${NODEDIR:-${npm_config_nodedir:-$node_prefix}}"
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
}

# The cached wheel's path, or nothing.
cached_wheel() {
  local wheels
  shopt -s nullglob
  wheels=("$CACHE/$WHEEL_FILE_PREFIX-$TF_WHEEL_VERSION"-*.whl)
  shopt -u nullglob
  [ ${#wheels[@]} -eq 0 ] || printf '%s\n' "${wheels[0]}"
}

# Fails unless PyPI offers VERSION of PACKAGE as a wheel for this interpreter and platform (no download).
check_on_pypi() {
  local package="$1" version="$2" listed
  listed="$(python3 -m pip index versions --only-binary=:all: --disable-pip-version-check "$package" 2>/dev/null)" \
    || die "pip index versions $package failed: no wheel of $package for this platform, or PyPI unreachable"
  grep -qE "^Available versions:.*(: | )${version//./\\.}(,|$)" <<<"$listed" \
    || die "$package==$version has no wheel for this platform on PyPI ($(grep -m1 '^Available' <<<"$listed" | cut -c1-120)...)"
}

# extract_wheel WHEEL OUT: the two libraries and the C API header closure into OUT/{lib,include}; checks the symbols.
extract_wheel() {
  local wheel="$1" out="$2" syms sym
  python3 - "$wheel" "$out" "$PKG/binding" <<'PY' || die "extraction from $wheel failed (corrupt/partial wheel? delete it and rerun)"
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
    syms="$(nm -D --defined-only "$out/lib/libtensorflow_cc.so.2" | awk '{sub(/@.*/,"",$3); print $3}')"
    for sym in "${C_API_SYMBOLS[@]}"; do
      grep -qx "$sym" <<<"$syms" || die "libtensorflow_cc.so.2 from the wheel does not export $sym"
    done
    log "the wheel's libtensorflow_cc.so.2 exports the C API (${C_API_SYMBOLS[*]})"
  else
    log "warning: nm not found, C API symbols not checked"
  fi
}

# The `and-cuda` requirements in the wheel's METADATA, one a line (gpu variant).
cuda_requirements() {
  python3 - "$1" <<'PY' || die "cannot read the and-cuda extra from $1"
import sys, zipfile
wheel = zipfile.ZipFile(sys.argv[1])
metadata = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
reqs = [line.split(":", 1)[1].split(";")[0].strip()
        for line in wheel.read(metadata).decode().splitlines()
        if line.startswith("Requires-Dist:") and 'extra == "and-cuda"' in line]
if not reqs:
    sys.exit("no Requires-Dist with extra == \"and-cuda\" (not the CUDA build?)")
print("\n".join(reqs))
PY
}

# Fails unless PyPI has a wheel satisfying each requirement on stdin (pip index; pip's own version parser).
check_requirements_on_pypi() {
  local req name listed
  while read -r req; do
    name="$(sed -E 's/[<>=!~ ].*//' <<<"$req")"
    listed="$(python3 -m pip index versions --only-binary=:all: --disable-pip-version-check "$name" 2>/dev/null)" \
      || die "$req: no wheel of $name for this platform on PyPI"
    python3 - "$req" "$listed" <<'PY' || die "$req: no version on PyPI satisfies it"
import sys
from pip._vendor.packaging.requirements import Requirement
req = Requirement(sys.argv[1])
line = next(l for l in sys.argv[2].splitlines() if l.startswith("Available versions:"))
versions = [v.strip() for v in line.split(":", 1)[1].split(",")]
ok = [v for v in versions if req.specifier.contains(v)]
print(f"  {req}: {ok[0] if ok else 'NONE'}", file=sys.stderr)
sys.exit(0 if ok else 1)
PY
  done
}

# check_cuda_runpath LIBDIR: every CUDA soname TensorFlow dlopens is in a directory of libtensorflow's RUNPATH,
# with $ORIGIN = LIBDIR. Dies naming the missing ones.
check_cuda_runpath() {
  local libdir="$1" dirs missing=() so d found
  command -v readelf >/dev/null || { log "warning: readelf not found, RUNPATH not checked"; return 0; }
  dirs="$(for f in "$libdir"/libtensorflow_framework.so.2 "$libdir"/libtensorflow_cc.so.2; do
            readelf -d "$f" | sed -n 's/.*(RUNPATH).*\[\(.*\)\]/\1/p' | tr ':' '\n'
          done | sed "s|\$ORIGIN|$libdir|" | sort -u)"
  for so in "${CUDA_SONAMES[@]}"; do
    found=0
    while read -r d; do [ -e "$d/$so" ] && { found=1; break; }; done <<<"$dirs"
    [ $found = 1 ] || missing+=("$so")
  done
  [ ${#missing[@]} -eq 0 ] || die "not on libtensorflow's RUNPATH from $libdir: ${missing[*]} (RUNPATH dirs that exist: $(while read -r d; do [ -d "$d" ] && printf '%s ' "$d"; done <<<"$dirs"))"
  log "every CUDA library TensorFlow loads is on libtensorflow's RUNPATH from $libdir (${#CUDA_SONAMES[@]} checked)"
}

# The RUNPATH of the CUDA build names the CUDA wheels' lib dirs relative to itself (dry run: no libraries to find).
check_runpath_names_nvidia() {
  local lib="$1"
  command -v readelf >/dev/null || { log "warning: readelf not found, RUNPATH not checked"; return 0; }
  readelf -d "$lib" | grep -q 'RUNPATH.*\$ORIGIN/\.\./nvidia/cuda_runtime/lib' \
    || die "$(basename "$lib") has no RUNPATH \$ORIGIN/../nvidia/cuda_runtime/lib: deps/nvidia would not be found (wheel layout changed?)"
  log "$(basename "$lib") RUNPATH names \$ORIGIN/../nvidia/<lib>/lib: deps/nvidia is found from deps/lib"
}

dry_run() {
  local wheel
  log "dry run: $NPM_PACKAGE $PKG_VERSION with binding.gyp, binding expected at ${BINDING#"$PROJECT"/}"
  find_toolchain
  log "toolchain: node headers in $NODEDIR, node-gyp $NODE_GYP, make, g++"
  check_on_pypi "$WHEEL_PACKAGE" "$TF_WHEEL_VERSION"
  log "PyPI has a $WHEEL_PACKAGE==$TF_WHEEL_VERSION wheel for this platform (pip index versions; not downloaded)"
  wheel="$(cached_wheel)"
  if [ -z "$wheel" ]; then
    log "no $WHEEL_FILE_PREFIX-$TF_WHEEL_VERSION wheel in $CACHE: its libraries, symbols$([ "$VARIANT" = gpu ] && echo ', RUNPATH and and-cuda requirements') not checked"
  else
    DRY_RUN_DIR="$(mktemp -d)"; trap 'rm -rf "$DRY_RUN_DIR"' EXIT
    extract_wheel "$wheel" "$DRY_RUN_DIR"
    if [ "$VARIANT" = gpu ]; then
      check_runpath_names_nvidia "$DRY_RUN_DIR/lib/libtensorflow_framework.so.2"
      cuda_requirements "$wheel" | check_requirements_on_pypi
      log "every and-cuda requirement of $(basename "$wheel") resolves on PyPI"
    fi
  fi
  log "dry run OK: nothing downloaded, extracted into node_modules or built"
}

if [ "$DRY_RUN" = 1 ]; then
  dry_run
  exit 0
fi

if [ "${FORCE_REBUILD:-0}" != 1 ] && [ -f "$BINDING" ] && out="$(verify 2>/dev/null)"; then
  log "already OK, nothing to do: $out"
  exit 0
fi

T0=$SECONDS

# ---- 1. wheel ---------------------------------------------------------------------
WHEEL="$(cached_wheel)"
if [ -z "$WHEEL" ]; then
  log "downloading $WHEEL_PACKAGE==$TF_WHEEL_VERSION wheel into $CACHE ($([ "$VARIANT" = gpu ] && echo '~570' || echo '~270') MB)"
  python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
      "$WHEEL_PACKAGE==$TF_WHEEL_VERSION" -d "$CACHE" \
    || die "pip download of $WHEEL_PACKAGE==$TF_WHEEL_VERSION failed"
  WHEEL="$(cached_wheel)"
  [ -n "$WHEEL" ] || die "pip download finished but no $WHEEL_FILE_PREFIX-$TF_WHEEL_VERSION-*.whl in $CACHE"
fi

# ---- 2. extract (once per cache) ----------------------------------------------------
EXTRACT="$CACHE/$EXTRACT_NAME-$TF_WHEEL_VERSION"
if [ ! -f "$EXTRACT/.complete" ]; then
  log "extracting libs + C API headers from $(basename "$WHEEL")"
  rm -rf "$EXTRACT" "$EXTRACT.tmp"
  extract_wheel "$WHEEL" "$EXTRACT.tmp"
  touch "$EXTRACT.tmp/.complete"
  mv "$EXTRACT.tmp" "$EXTRACT"
fi

# gpu: the CUDA libraries of the and-cuda extra, as pip lays them out (nvidia/<lib>/lib), once per cache.
CUDA_LIBS="$CACHE/cuda-libs-$TF_WHEEL_VERSION"
if [ "$VARIANT" = gpu ] && [ ! -f "$CUDA_LIBS/.complete" ]; then
  rm -rf "$CUDA_LIBS" "$CUDA_LIBS.tmp"
  cuda_requirements "$WHEEL" > "$CACHE/cuda-requirements.txt"
  log "installing the CUDA libraries of the and-cuda extra ($(paste -sd' ' "$CACHE/cuda-requirements.txt")) into $CUDA_LIBS (~3 GB)"
  # --target writes only there, never into the system's site-packages (PEP 668 does not apply).
  PIP_BREAK_SYSTEM_PACKAGES=1 python3 -m pip install --no-cache-dir --only-binary=:all: --disable-pip-version-check \
      --target "$CUDA_LIBS.tmp" -r "$CACHE/cuda-requirements.txt" \
    || die "pip install of the and-cuda requirements failed"
  [ -d "$CUDA_LIBS.tmp/nvidia" ] || die "the and-cuda requirements installed no nvidia/ directory"
  touch "$CUDA_LIBS.tmp/.complete"
  mv "$CUDA_LIBS.tmp" "$CUDA_LIBS"
fi

# ---- 3. stage into <package>/deps -------------------------------------------------
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
# Link-time names for -ltensorflow / -ltensorflow_framework, plus the names the package's
# scripts/install.js checks (libtensorflow.so.2.9.1): with them present, a later
# `npm rebuild` does not wipe deps/ and try the CDN.
ln -sfn libtensorflow_cc.so.2        "$PKG/deps/lib/libtensorflow.so"
ln -sfn libtensorflow_cc.so.2        "$PKG/deps/lib/libtensorflow.so.2"
ln -sfn libtensorflow_cc.so.2        "$PKG/deps/lib/libtensorflow.so.2.9.1"
ln -sfn libtensorflow_framework.so.2 "$PKG/deps/lib/libtensorflow_framework.so"
ln -sfn libtensorflow_framework.so.2 "$PKG/deps/lib/libtensorflow_framework.so.2.9.1"
rm -rf "$PKG/deps/include"
cp -R "$EXTRACT/include" "$PKG/deps/include"
if [ "$VARIANT" = gpu ]; then
  rm -rf "$PKG/deps/nvidia"
  cp -al "$CUDA_LIBS/nvidia" "$PKG/deps/nvidia" 2>/dev/null || cp -R "$CUDA_LIBS/nvidia" "$PKG/deps/nvidia" \
    || die "cannot copy the CUDA libraries into $PKG/deps/nvidia"
  check_cuda_runpath "$PKG/deps/lib"
fi

# ---- 4. build ---------------------------------------------------------------------
if [ -f "$BINDING" ] && [ "${FORCE_REBUILD:-0}" != 1 ] && verify 2>/dev/null; then
  log "existing binding loads after re-staging deps; skipping compile"
else
  find_toolchain
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
out="$(verify 2>"$errf")" || die "$NPM_PACKAGE still fails to load:
$(cat "$errf")
(ldd: $(ldd "$BINDING" 2>&1 | grep -E 'tensorflow|not found' | tr -s ' \t' ' '))"
log "OK in $((SECONDS - T0))s: $out"
