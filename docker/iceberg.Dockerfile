# The Iceberg step (python/mercado_iceberg: the commit and the tables' upkeep) from PyPI, pinned by
# python/iceberg-requirements.txt. Production build:
#   docker build -f docker/iceberg.Dockerfile -t mercado-iceberg:0.1.0 .
# (docker/iceberg-local.Dockerfile builds the same without a registry, from the local venv.)
# Airflow's DockerOperator runs `IMAGE commit --date D`.
FROM python:3.11-slim-bookworm
COPY python/iceberg-requirements.txt /tmp/iceberg-requirements.txt
RUN pip install --no-cache-dir -r /tmp/iceberg-requirements.txt
COPY python/mercado_iceberg/ /opt/mercado-iceberg/python/mercado_iceberg/
RUN rm -rf /opt/mercado-iceberg/python/mercado_iceberg/tests \
 && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin mercado
USER 10001
WORKDIR /tmp
ENV PYTHONPATH=/opt/mercado-iceberg/python PYTHONDONTWRITEBYTECODE=1 MERCADO_ICEBERG_LOG=WARNING
ENTRYPOINT ["python", "-m", "mercado_iceberg"]
CMD ["--help"]
