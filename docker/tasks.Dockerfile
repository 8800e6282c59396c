# mercado-task, the binary of every task of tasks/registry.toml, in one small image.
# Production build, from source:  docker build -f docker/tasks.Dockerfile -t mercado-tasks:0.1.0 .
# Airflow's DockerOperator runs `mercado-task <task> --date D`; the binary is on PATH.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked -p mercado-tasks \
 && mkdir /out \
 && cp target/release/mercado-task /out/

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
CMD ["mercado-task", "--help"]
