# The task binaries (one per task of tasks/registry.toml, from tasks/bin/src/bin/) in one small image.
# Production build, from source:  docker build -f docker/tasks.Dockerfile -t mercado-tasks .
# Airflow's DockerOperator runs `<task> --date D`; the binaries are on PATH.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p mercado-tasks \
 && mkdir /out \
 && for src in tasks/bin/src/bin/*.rs; do cp "target/release/$(basename "$src" .rs)" /out/; done

FROM debian:bookworm-slim
# Unpinned on purpose: bookworm-security keeps moving, and a stale pin breaks the build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin mercado
COPY --from=build /out/ /usr/local/bin/
USER 10001
WORKDIR /tmp
ENV RUST_LOG=info
CMD ["extract", "--help"]
