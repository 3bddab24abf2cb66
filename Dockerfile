# syntax=docker/dockerfile:1
# The operator's image: one fully static binary (glibc, crt-static) and the CA bundle on an empty
# base, run as the numeric, unprivileged user 65532.
#
# With a daemon: `docker build -t arcane-operator --build-arg REVISION=$(git rev-parse HEAD) .`
# Without one: `bash scripts/build-image.sh` builds this same file with buildah, its `build` stage
# replaced by the files the same script compiled and staged (the `--binary-only` run below), and
# writes target/image/arcane-operator.oci.tar.
#
# Feature set: no default features but mimalloc. The embedded API sandbox (`arcane-operator sandbox`)
# is for local development and stays out of the image.

FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
COPY scripts ./scripts
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    bash scripts/build-image.sh --binary-only /stage

FROM scratch
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG SOURCE=https://github.com/SneaksAndData/arcane-operator
LABEL org.opencontainers.image.title="arcane-operator" \
      org.opencontainers.image.description="Kubernetes operator for Arcane data streams" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /stage/out/arcane-operator /arcane-operator
# The Kubernetes client (rustls) loads the system's root certificates even for an in-cluster config.
COPY --from=build /stage/etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
# mimalloc returns memory freed after a burst to the system at once rather than after 1 s: at
# 10,000 streams the RSS after a restart is 51 MiB instead of 85 (crates/arcane-bench/README.md).
ENV MIMALLOC_PURGE_DELAY=0
USER 65532:65532
EXPOSE 8888 9090
ENTRYPOINT ["/arcane-operator", "run"]
