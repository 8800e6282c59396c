-- Separate databases in the compose stack's PostgreSQL: OLTP, warehouse, Airflow metadata.
CREATE DATABASE mercado;
CREATE DATABASE warehouse;
CREATE DATABASE airflow;
