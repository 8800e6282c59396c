# Airflow with the providers the DAG uses, pinned, and the DAGs baked in.
#   docker build -f docker/airflow.Dockerfile -t mercado-airflow .
FROM apache/airflow:3.3.2-python3.11
COPY python/airflow-requirements.txt /tmp/airflow-requirements.txt
RUN pip install --no-cache-dir \
      "apache-airflow==3.3.2" \
      "apache-airflow-providers-docker==4.6.1" \
      "apache-airflow-providers-standard==1.21.0"
COPY dags/mercado_daily.py /opt/airflow/dags/mercado_daily.py
# The task registry the DAG reads its tasks from.
COPY tasks/registry.toml /opt/airflow/dags/registry.toml
