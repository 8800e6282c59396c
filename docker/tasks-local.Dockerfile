# The same runtime image built the local way, where no registry is reachable: a Debian base made
# with debootstrap and `docker import` (`scripts/docker.sh image`), and binaries built on the host.
#   docker build -f docker/tasks-local.Dockerfile -t mercado-tasks:0.1.0 CONTEXT   (CONTEXT/bin/mercado-task;
#   scripts/docker.sh image prepares it)
ARG BASE=mercado-base:bookworm
FROM ${BASE}
COPY bin/ /usr/local/bin/
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin mercado
USER 10001
WORKDIR /tmp
ENV RUST_LOG=info
CMD ["mercado-task", "--help"]
