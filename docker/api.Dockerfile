# The API alone.  docker build -f docker/api.Dockerfile -t mercado-api .
# The traffic generator (a client of the API, not part of it) is a separate target of this file:
#   docker build -f docker/api.Dockerfile --target traffic -t mercado-traffic .
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p mercado-api --bin mercado-api \
 && mkdir /out \
 && cp target/release/mercado-api /out/

FROM build AS traffic-build
RUN cargo build --release --locked -p mercado-traffic --bin mercado-traffic \
 && mkdir /out-traffic \
 && cp target/release/mercado-traffic /out-traffic/

FROM debian:bookworm-slim AS runtime
# Unpinned on purpose: bookworm-security keeps moving, and a stale pin breaks the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin mercado

FROM runtime AS traffic
COPY --from=traffic-build /out-traffic/ /usr/local/bin/
USER 10001
CMD ["mercado-traffic", "--help"]

# The default target (last): the API image.
FROM runtime AS api
COPY --from=build /out/ /usr/local/bin/
USER 10001
EXPOSE 8000
# Inside a container the API must listen beyond loopback; publish the port on 127.0.0.1 only.
ENV MERCADO_API_BIND=0.0.0.0:8000 RUST_LOG=info
# The local signing key and JWKS (made at start) where user 10001 may write: a key per container;
# `docker compose exec api mercado-api token --service NAME` mints a token it accepts. A real
# deployment mounts its identity provider's JWKS and sets MERCADO_JWT_SIGNING_KEY_FILE empty.
ENV MERCADO_JWT_SIGNING_KEY_FILE=/tmp/mercado-jwt/signing.pem MERCADO_JWKS_FILE=/tmp/mercado-jwt/jwks.json
HEALTHCHECK --interval=10s --timeout=3s --retries=5 CMD ["curl", "-fsS", "http://127.0.0.1:8000/readyz"]
CMD ["mercado-api"]
