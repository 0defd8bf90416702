#!/usr/bin/env bash
# install-deploy-tools.sh DEST_DIR
#
# Installs the checkers of deploy/ into DEST_DIR (the stack's deploy-tools dir, .stack/deploy-tools),
# from package registries only:
#   bin/kubeconform       go install from the Go module proxy
#   bin/promtool          built from the prometheus module (Go module proxy); ~4 min on 2 cores, once
#   bin/prometheus        the server, built from the same module (the local stack's service `prometheus`);
#                         ~30 s more, as it shares promtool's build cache. Without the builtinassets tag and
#                         the npm-built UI it serves the HTTP API (/api/v1/*, /-/healthy) but no web UI
#   k8s-schemas/          the Kubernetes JSON schemas shipped in the PyPI package kubernetes-validate,
#                         laid out for `kubeconform -schema-location DEST_DIR/k8s-schemas`
#                         (kubeconform's default schema location is on GitHub, which is not reachable)
#
# Each part is skipped when its version stamp is present and the result works, so a second run takes
# well under a second. A changed version below re-installs only that part.
#
# Usage afterwards (prometheus itself is run by `fraudops stack up`):
#   DEST/bin/kubeconform -strict -summary -kubernetes-version "$K8S_VERSION" \
#     -schema-location DEST/k8s-schemas deploy/k8s
#   DEST/bin/promtool check rules deploy/prometheus/alerts.yml
set -euo pipefail

KUBECONFORM_VERSION="${KUBECONFORM_VERSION:-v0.7.0}"
# The prometheus Go module of Prometheus 3.5.0 (the prom/prometheus image of docker-compose.yml).
PROMETHEUS_MODULE_VERSION="${PROMETHEUS_MODULE_VERSION:-v0.305.0}"
PROMETHEUS_VERSION="${PROMETHEUS_VERSION:-3.5.0}" # the release of that module: what `prometheus --version` says
SCHEMA_PACKAGE_VERSION="${SCHEMA_PACKAGE_VERSION:-1.37.0}" # kubernetes-validate on PyPI
K8S_VERSION="${K8S_VERSION:-1.33.0}"                       # the schemas taken from it

log() { printf '[install-deploy-tools] %s\n' "$*" >&2; }
die() { printf '[install-deploy-tools] ERROR: %s\n' "$*" >&2; exit 1; }

[ $# -eq 1 ] || die "usage: $0 DEST_DIR"
mkdir -p "$1/bin" "$1/stamps" || die "cannot create $1"
DEST="$(cd "$1" && pwd)"
T0=$SECONDS

need_go() {
  command -v go >/dev/null || die "Go is needed to build kubeconform and promtool: install it (e.g. apt-get install golang-go, Go >= 1.21; newer toolchains come from the Go module proxy)"
}

# A part is done when its stamp names the current version and its check passes.
done_already() { # stamp-name version check-command...
  local stamp="$DEST/stamps/$1" version="$2"
  shift 2
  [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$version" ] && "$@" >/dev/null 2>&1
}
stamp() { printf '%s\n' "$2" > "$DEST/stamps/$1"; }

# ---- kubeconform --------------------------------------------------------------------------------
if ! done_already kubeconform "$KUBECONFORM_VERSION" "$DEST/bin/kubeconform" -v; then
  need_go
  log "building kubeconform $KUBECONFORM_VERSION (go install)"
  t=$SECONDS
  GOBIN="$DEST/bin" GOFLAGS=-mod=mod go install "github.com/yannh/kubeconform/cmd/kubeconform@$KUBECONFORM_VERSION" \
    || die "go install of kubeconform $KUBECONFORM_VERSION failed"
  stamp kubeconform "$KUBECONFORM_VERSION"
  log "kubeconform in $((SECONDS - t)) s"
fi

# ---- promtool and prometheus (the server) ------------------------------------------------------------
# `go install .../cmd/promtool@version` is refused (the prometheus go.mod has a replace directive), so each command
# is built inside a small module that requires prometheus and repeats that replace. The release version is stamped
# in with -X, as prometheus' Makefile does.
build_prometheus_command() { # command-name
  local name=$1
  if done_already "$name" "$PROMETHEUS_MODULE_VERSION" "$DEST/bin/$name" --version; then return; fi
  need_go
  log "building $name $PROMETHEUS_VERSION from github.com/prometheus/prometheus $PROMETHEUS_MODULE_VERSION (a few minutes, once)"
  local t=$SECONDS src="$DEST/$name-module"
  rm -rf "$src" && mkdir -p "$src"
  cat > "$src/go.mod" <<EOF
module fraudops.local/$name

go 1.24

require github.com/prometheus/prometheus $PROMETHEUS_MODULE_VERSION

replace github.com/fsnotify/fsnotify v1.8.0 => github.com/fsnotify/fsnotify v1.7.0
EOF
  (cd "$src" \
    && GOFLAGS=-mod=mod go get "github.com/prometheus/prometheus/cmd/$name@$PROMETHEUS_MODULE_VERSION" \
    && GOFLAGS=-mod=mod go build -trimpath \
      -ldflags="-s -w -X github.com/prometheus/common/version.Version=$PROMETHEUS_VERSION" \
      -o "$DEST/bin/$name" "github.com/prometheus/prometheus/cmd/$name") \
    || die "building $name $PROMETHEUS_MODULE_VERSION failed"
  stamp "$name" "$PROMETHEUS_MODULE_VERSION"
  log "$name in $((SECONDS - t)) s"
}
build_prometheus_command promtool
build_prometheus_command prometheus

# ---- Kubernetes JSON schemas --------------------------------------------------------------------
SCHEMAS="$DEST/k8s-schemas"
schema_check() { [ -f "$SCHEMAS/v$K8S_VERSION-standalone-strict/deployment-apps-v1.json" ]; }
if ! done_already k8s-schemas "kubernetes-validate==$SCHEMA_PACKAGE_VERSION k8s=$K8S_VERSION" schema_check; then
  command -v python3 >/dev/null || die "python3 is needed to unpack the schemas"
  t=$SECONDS
  shopt -s nullglob
  wheels=("$DEST"/cache/kubernetes_validate-"$SCHEMA_PACKAGE_VERSION"-*.whl)
  if [ ${#wheels[@]} -eq 0 ]; then
    log "downloading kubernetes-validate==$SCHEMA_PACKAGE_VERSION from PyPI (~22 MB)"
    python3 -m pip download --no-deps --only-binary=:all: --disable-pip-version-check \
        "kubernetes-validate==$SCHEMA_PACKAGE_VERSION" -d "$DEST/cache" \
      || die "pip download of kubernetes-validate==$SCHEMA_PACKAGE_VERSION failed"
    wheels=("$DEST"/cache/kubernetes_validate-"$SCHEMA_PACKAGE_VERSION"-*.whl)
    [ ${#wheels[@]} -gt 0 ] || die "pip download finished but no kubernetes_validate wheel in $DEST/cache"
  fi
  shopt -u nullglob
  log "unpacking the Kubernetes $K8S_VERSION schemas"
  rm -rf "$SCHEMAS.tmp"
  # The package's files refer to one shared "/api/_definitions.json" resolved by its own loader and
  # carry an https $id; kubeconform loads local files, so each resource schema drops its $id and
  # refers to the _definitions.json beside it. Directory names follow kubeconform's default layout.
  python3 - "${wheels[0]}" "$SCHEMAS.tmp" "v$K8S_VERSION" <<'PY' || die "unpacking the schemas failed"
import json, os, sys, zipfile
wheel, out, version = sys.argv[1:4]
z = zipfile.ZipFile(wheel)
prefix = "kubernetes_validate/kubernetes-json-schema/"
count = 0
for strict in ("", "-strict"):
    source = f"{prefix}{version}-local{strict}/"
    target = os.path.join(out, f"{version}-standalone{strict}")
    names = [n for n in z.namelist() if n.startswith(source) and n.endswith(".json")]
    if not names:
        sys.exit(f"{source} not in {wheel}: is Kubernetes {version} in this kubernetes-validate?")
    os.makedirs(target, exist_ok=True)
    for name in names:
        base = name[len(source):]
        data = z.read(name)
        if base != "_definitions.json":
            schema = json.loads(data)
            schema.pop("$id", None)
            data = json.dumps(schema).replace('"/api/_definitions.json#', '"_definitions.json#').encode()
        with open(os.path.join(target, base), "wb") as fh:
            fh.write(data)
        count += 1
print(f"  {count} schema files", file=sys.stderr)
PY
  rm -rf "$SCHEMAS" && mv "$SCHEMAS.tmp" "$SCHEMAS"
  stamp k8s-schemas "kubernetes-validate==$SCHEMA_PACKAGE_VERSION k8s=$K8S_VERSION"
  log "schemas in $((SECONDS - t)) s"
fi

# ---- verify: a valid manifest passes, an unknown field fails --------------------------------------
probe="$(mktemp -d)"; trap 'rm -rf "$probe"' EXIT
cat > "$probe/ok.yaml" <<'EOF'
apiVersion: v1
kind: ConfigMap
metadata: {name: probe}
data: {a: b}
EOF
sed 's/^data:/datum:/' "$probe/ok.yaml" > "$probe/bad.yaml"
kc() { "$DEST/bin/kubeconform" -strict -kubernetes-version "$K8S_VERSION" -schema-location "$SCHEMAS" "$@"; }
kc "$probe/ok.yaml" >/dev/null 2>&1 || die "kubeconform rejects a valid ConfigMap: $(kc "$probe/ok.yaml" 2>&1)"
if kc "$probe/bad.yaml" >/dev/null 2>&1; then die "kubeconform accepts a ConfigMap with an unknown field (schemas not strict?)"; fi
printf 'groups: [{name: probe, rules: [{alert: Probe, expr: up == 0}]}]\n' > "$probe/rules.yml"
"$DEST/bin/promtool" check rules "$probe/rules.yml" >/dev/null 2>&1 || die "promtool cannot check a trivial rule file"
"$DEST/bin/prometheus" --version 2>&1 | grep -q "version $PROMETHEUS_VERSION " || die "prometheus --version does not say $PROMETHEUS_VERSION"
log "OK in $((SECONDS - T0)) s: kubeconform $KUBECONFORM_VERSION, promtool and prometheus $PROMETHEUS_VERSION ($PROMETHEUS_MODULE_VERSION), Kubernetes $K8S_VERSION schemas in $DEST"
