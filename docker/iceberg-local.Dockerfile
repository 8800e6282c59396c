# The Iceberg step (python/mercado_iceberg: the commit and the tables' upkeep) built the local way,
# where no registry is reachable: a Debian base with python3 made by debootstrap and `docker
# import`, and the packages of the pinned venv (python/iceberg-requirements.txt, cp311 wheels)
# copied in, so nothing is downloaded here. scripts/docker.sh image prepares the context:
#   CONTEXT/site-packages/  the venv's installed packages
#   CONTEXT/python/mercado_iceberg/
#   docker build -f docker/iceberg-local.Dockerfile -t mercado-iceberg:0.1.0 CONTEXT
ARG BASE=mercado-python-base:bookworm
FROM ${BASE}
COPY site-packages/ /opt/mercado-iceberg/site-packages/
COPY python/ /opt/mercado-iceberg/python/
RUN useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin mercado
USER 10001
WORKDIR /tmp
ENV PYTHONPATH=/opt/mercado-iceberg/python:/opt/mercado-iceberg/site-packages \
    PYTHONDONTWRITEBYTECODE=1 \
    MERCADO_ICEBERG_LOG=WARNING
# `docker run IMAGE commit --date D`, `expire …`, `--help`: the same commands as scripts/iceberg.sh.
ENTRYPOINT ["python3", "-m", "mercado_iceberg"]
CMD ["--help"]
