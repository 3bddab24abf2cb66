# syntax=docker/dockerfile:1
# The operator as a static (musl) binary on distroless/static, running as the unprivileged
# `nonroot` user (65532). Build: docker build -t arcane-operator .
#
# The build stage compiles without default features but mimalloc: the embedded API sandbox
# (`arcane-operator sandbox`) is for local development and stays out of the image, and musl's own
# malloc is slow (mimalloc is C; musl-gcc compiles it).

FROM rust:1.95 AS build
# ring compiles C and assembly; musl-gcc is its C compiler for the musl target.
RUN rustup target add x86_64-unknown-linux-musl \
 && apt-get update \
 && apt-get install -y --no-install-recommends musl-tools \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY crates ./crates
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p arcane-operator --no-default-features --features mimalloc \
      --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/arcane-operator /arcane-operator

FROM gcr.io/distroless/static:nonroot
COPY --from=build /arcane-operator /arcane-operator
USER 65532:65532
EXPOSE 8888 9090
ENTRYPOINT ["/arcane-operator", "run"]
