# syntax=docker/dockerfile:1
# The meshplane image, for users with Docker and a registry:
#
#   docker build -t REGISTRY/meshplane:0.1.0 \
#     --build-arg VERSION=0.1.0 --build-arg REVISION=$(git rev-parse HEAD) .
#
# Layout (`make image` assembles the same one without Docker): the binary at
# /usr/local/bin/meshplane as the entrypoint, run as user 65532:65532, on
# gcr.io/distroless/cc-debian12 (glibc, libgcc, CA certificates, no shell), plus libz.so.1,
# the only shared library the binary needs that the base may lack (rdkafka's `libz`
# feature links the system zlib; TLS is rustls, so no libssl). One image runs every
# subcommand: controller, webhook, ingest (the workers), plan, catalog...

# Matches the toolchain the project builds with (rustc 1.95.0; rust-version is 1.89).
ARG RUST_VERSION=1.95.0

FROM docker.io/library/rust:${RUST_VERSION}-bookworm AS builder
# rdkafka-sys builds librdkafka with its ./configure and make, linking zlib (zlib1g-dev);
# aws-lc-sys may build with cmake; tikv-jemalloc-sys builds jemalloc with make.
RUN apt-get update \
 && apt-get install -y --no-install-recommends cmake make pkg-config zlib1g-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# The workspace is operator/; nothing outside it is compiled into the release binary
# (examples/ is read by unit tests only).
COPY operator/ operator/
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p meshplane \
 && mkdir -p /out/usr/local/bin \
 && cp target/release/meshplane /out/usr/local/bin/meshplane
# Stage libz.so.1 where glibc looks on Debian (/usr/lib/<triple>), and fail the build if
# the binary needs a library that neither the base image nor this stage provides.
RUN set -eu; \
    triple="$(gcc -dumpmachine)"; \
    mkdir -p "/out/usr/lib/$triple"; \
    cp -L "/usr/lib/$triple/libz.so.1" "/out/usr/lib/$triple/libz.so.1"; \
    for lib in $(ldd /out/usr/local/bin/meshplane | awk '$2 == "=>" { print $1 } $1 ~ /^\// { print $1 }'); do \
      case "$(basename "$lib")" in \
        linux-vdso.so.*|ld-linux*.so.*|libc.so.*|libm.so.*|libdl.so.*|libpthread.so.*|librt.so.*) ;; \
        libgcc_s.so.*|libstdc++.so.*|libgomp.so.*|libssl.so.*|libcrypto.so.*) ;; \
        libz.so.1) ;; \
        *) echo "meshplane needs $lib, which the runtime image lacks: copy it in the Dockerfile" >&2; exit 1 ;; \
      esac; \
    done

FROM gcr.io/distroless/cc-debian12:nonroot
ARG VERSION=dev
ARG REVISION=unknown
ARG SOURCE=https://github.com/meshplane/meshplane
LABEL org.opencontainers.image.title="meshplane" \
      org.opencontainers.image.description="Meshplane, a self-serve data mesh platform for Kubernetes" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}"
COPY --from=builder /out/ /
USER 65532:65532
ENTRYPOINT ["/usr/local/bin/meshplane"]
