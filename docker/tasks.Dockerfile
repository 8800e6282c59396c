# The task binaries (extract, clean, enrich, gold, load_redshift, reconcile, marts) in one small image.
# Production build, from source:  docker build -f docker/tasks.Dockerfile -t mercado-tasks .
# Airflow's DockerOperator runs `<task> --date D`; the binaries are on PATH.
FROM rust:1.95-bookworm AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked \
      -p extract -p clean -p enrich -p gold -p load_redshift -p reconcile -p marts \
 && mkdir /out \
 && cp target/release/extract target/release/clean target/release/enrich target/release/gold \
       target/release/load_redshift target/release/reconcile target/release/marts /out/

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
