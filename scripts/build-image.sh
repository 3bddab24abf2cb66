#!/usr/bin/env bash
# Builds the operator's container image as an OCI archive, without a container daemon:
#
#   bash scripts/build-image.sh       → target/image/arcane-operator.oci.tar
#
# The archive loads with `podman load -i`, `docker load -i` (Docker 25+) and
# `skopeo copy oci-archive:target/image/arcane-operator.oci.tar docker://REGISTRY/arcane-operator:TAG`.
#
# The image is the Dockerfile's final stage: a fully static binary (glibc, crt-static) built with the
# image's feature set (`--no-default-features --features mimalloc`: no embedded sandbox), and the CA
# bundle (Debian's ca-certificates: the Kubernetes client loads the system's roots even when the
# kubeconfig names its own CA), on an empty base (FROM scratch), run as the numeric user 65532. Here buildah builds that Dockerfile with its
# `build` stage replaced by the binary this script compiles (`--build-context build=…`); `docker build .`
# runs the same script (`--binary-only`) in that stage instead. So the compile command and the image
# configuration each exist once.
#
# Options:
#   --binary-only DIR   only compile; put the binary at DIR/out/arcane-operator and the CA bundle at
#                       DIR/etc/ssl/certs/ (the Dockerfile's build stage runs this with DIR=/stage)
#   --arch amd64|arm64  target architecture (default: this machine's); arm64 needs a cross toolchain,
#                       see the README
# Environment: IMAGE_SOURCE (the org.opencontainers.image.source label; default: git remote origin,
# else the chart's home), IMAGE_REVISION (default: git HEAD), CARGO_PROFILE (default: container, see Cargo.toml).
set -euo pipefail
cd "$(dirname "$0")/.."

binary_only=""
arch=""
while (($#)); do
  case $1 in
    --binary-only) binary_only=${2:?--binary-only needs a directory}; shift 2 ;;
    --arch) arch=${2:?--arch needs amd64 or arm64}; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ -z $arch ]]; then
  case $(uname -m) in
    x86_64) arch=amd64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "unsupported machine $(uname -m)" >&2; exit 2 ;;
  esac
fi
case $arch in
  amd64) triple=x86_64-unknown-linux-gnu ;;
  arm64)
    triple=aarch64-unknown-linux-gnu
    # Cross-compiling from amd64: Debian's gcc-aarch64-linux-gnu and libc6-dev-arm64-cross, and
    # `rustup target add aarch64-unknown-linux-gnu`.
    if [[ $(uname -m) != aarch64 ]]; then
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER:-aarch64-linux-gnu-gcc}
      export CC_aarch64_unknown_linux_gnu=${CC_aarch64_unknown_linux_gnu:-aarch64-linux-gnu-gcc}
    fi
    ;;
  *) echo "--arch must be amd64 or arm64, not $arch" >&2; exit 2 ;;
esac
profile=${CARGO_PROFILE:-container}

# The one compile command of the image. The target is named explicitly so that the crt-static flag
# reaches only the operator binary and not the build scripts and proc macros (which must stay
# dynamic, being loaded by the compiler). glibc's libc.a comes with libc6-dev.
target_var=CARGO_TARGET_$(echo "$triple" | tr 'a-z-' 'A-Z_')_RUSTFLAGS
export "$target_var"="-C target-feature=+crt-static"
start=$(date +%s)
cargo build --locked --profile "$profile" -p arcane-operator --no-default-features --features mimalloc \
  --target "$triple"
binary=target/$triple/$profile/arcane-operator
echo "compiled $binary in $(($(date +%s) - start)) s" >&2

# A static binary has no program interpreter (PT_INTERP); refuse anything else, as FROM scratch has no
# dynamic loader.
if LC_ALL=C readelf -lW "$binary" | grep -q 'Requesting program interpreter'; then
  echo "$binary is dynamically linked; the image needs a static binary" >&2
  exit 1
fi

# What the Dockerfile's final stage copies out of its `build` stage.
stage_files() { # root
  mkdir -p "$1/out" "$1/etc/ssl/certs"
  cp "$binary" "$1/out/arcane-operator"
  cp /etc/ssl/certs/ca-certificates.crt "$1/etc/ssl/certs/ca-certificates.crt"
}
if [[ -n $binary_only ]]; then
  stage_files "$binary_only"
  exit 0
fi

version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -n1)
revision=${IMAGE_REVISION:-$(git rev-parse HEAD 2>/dev/null || echo unknown)}
source_url=${IMAGE_SOURCE:-$(git config --get remote.origin.url 2>/dev/null ||
  sed -n 's/^home: //p' charts/arcane-operator/Chart.yaml)}
created=$(git log -1 --format=%ct 2>/dev/null || date +%s)

out=target/image
ctx=$out/context
rm -rf "$ctx"
stage_files "$ctx/stage"

# Own storage under target/ (vfs: no overlay mounts needed; chroot isolation: no user namespaces).
# Nothing is run inside the image while building it, so the isolation only matters to buildah.
storage=(--root "$PWD/$out/storage" --runroot "$PWD/$out/run" --storage-driver vfs)
tag=localhost/arcane-operator:$version
buildah "${storage[@]}" bud --isolation chroot --layers=false --pull=never \
  --build-context "build=$ctx" \
  --build-arg "VERSION=$version" --build-arg "REVISION=$revision" --build-arg "SOURCE=$source_url" \
  --platform "linux/$arch" --timestamp "$created" --identity-label=false --omit-history \
  -f Dockerfile -t "$tag" "$ctx" >&2
rm -f "$out/arcane-operator.oci.tar"
buildah "${storage[@]}" push "$tag" "oci-archive:$out/arcane-operator.oci.tar:arcane-operator:$version" >&2
# `docker load` names an OCI image after the containerd annotation (without it the image loads
# untagged); podman and skopeo read org.opencontainers.image.ref.name, which buildah wrote.
python3 - "$out/arcane-operator.oci.tar" "$tag" <<'PY'
import io, json, sys, tarfile
path, name = sys.argv[1:]
with tarfile.open(path) as src:
    members = [(m, src.extractfile(m).read() if m.isfile() else None) for m in src.getmembers()]
with tarfile.open(path, "w") as dst:
    for member, data in members:
        if member.name.lstrip("./") == "index.json":
            index = json.loads(data)
            for manifest in index["manifests"]:
                manifest.setdefault("annotations", {})["io.containerd.image.name"] = name
            data = json.dumps(index, separators=(",", ":")).encode()
            member.size = len(data)
        dst.addfile(member, io.BytesIO(data) if data is not None else None)
PY
buildah "${storage[@]}" rmi --all >/dev/null
rm -rf "$ctx"
echo "$out/arcane-operator.oci.tar: arcane-operator:$version ($revision), $(stat -c %s "$binary") byte binary, $(($(date +%s) - start)) s"
