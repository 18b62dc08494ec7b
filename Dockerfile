# syntax=docker/dockerfile:1
#
# imgcache container image.
#
#   docker build -t imgcache .
#   docker run --rm -p 127.0.0.1:8080:8080 \
#       -e IMGCACHE_UPSTREAM_URL=https://ims.eu-de.otc.t-systems.com imgcache
#
# Inside the container both listeners bind 0.0.0.0 (set below through
# IMGCACHE_SERVER_LISTEN / IMGCACHE_ADMIN_LISTEN; environment variables win
# over the config file, so change the addresses through the environment or
# flags, not the file). Publish only 8080; the admin port 9090 (metrics,
# health, cache purges) must never be reachable from outside: keep it on
# the container/pod network, and set IMGCACHE_ADMIN_TOKEN.
#
# Needs BuildKit (the default builder since Docker 23) for the cache mounts.

# Build and runtime must be the same Debian release (bookworm = debian12):
# the binary links the build image's glibc.
ARG RUST_IMAGE=rust:1.95-bookworm
ARG RUNTIME_IMAGE=gcr.io/distroless/cc-debian12:nonroot

# ---------------------------------------------------------------- build --
FROM ${RUST_IMAGE} AS build
WORKDIR /src
# Sources only (.dockerignore keeps target/, .git and deploy files out):
# the workspace, i.e. src/ and the member crates under crates/, which
# Cargo.toml names even where this build does not compile them.
COPY . .
# The crates.io index, downloaded crates and compiled dependencies live in
# cache mounts, so a source change recompiles imgcache alone. A cache
# mount is not part of the image: the binary is copied out in the same step.
# The touch makes cargo rebuild the crates even if a copied source file is
# older than the cached build (cargo compares mtimes).
# --no-default-features: the production binary without the sample image
# service (crates/glance-sample) and so without --demo.
RUN --mount=type=cache,id=imgcache-cargo-registry,target=/usr/local/cargo/registry \
    --mount=type=cache,id=imgcache-cargo-git,target=/usr/local/cargo/git \
    --mount=type=cache,id=imgcache-target,target=/src/target \
    find src crates -type f -name '*.rs' -exec touch {} + \
 && cargo build --release --locked --no-default-features --bin imgcache \
 && install -D -m 0755 target/release/imgcache /out/imgcache

# -------------------------------------------------------------- runtime --
# distroless/cc: glibc, libgcc, ca-certificates (/etc/ssl/certs, used for
# the system trust store next to rustls' webpki roots, e.g. private CAs
# added by a derived image) and the "nonroot" user 65532. No shell: the
# Kubernetes example uses httpGet probes and a preStop "sleep" action.
FROM ${RUNTIME_IMAGE}
LABEL org.opencontainers.image.title="imgcache" \
      org.opencontainers.image.description="Caching reverse proxy for the Glance v2 image-details call" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build --chown=0:0 --chmod=0755 /out/imgcache /usr/local/bin/imgcache
COPY --chown=0:0 --chmod=0644 config/imgcache.toml /etc/imgcache/imgcache.toml
ENV IMGCACHE_SERVER_LISTEN=0.0.0.0:8080 \
    IMGCACHE_ADMIN_LISTEN=0.0.0.0:9090 \
    IMGCACHE_LOG=info
# 8080: the proxy. 9090: admin API, for probes and Prometheus only.
EXPOSE 8080 9090
# Numeric, so Kubernetes' runAsNonRoot can verify it.
USER 65532:65532
# SIGTERM: stop accepting, drain in-flight requests for server.shutdown_grace
# (30s by default; give `docker stop -t` / the pod's grace period more).
# SIGHUP reloads /etc/imgcache/imgcache.toml.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/imgcache", "--config", "/etc/imgcache/imgcache.toml"]
