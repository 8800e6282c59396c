-- Separate databases in the compose stack's PostgreSQL: OLTP, warehouse, Airflow metadata, the
-- Iceberg catalog.
CREATE DATABASE mercado;
CREATE DATABASE warehouse;
CREATE DATABASE airflow;
CREATE DATABASE iceberg;
