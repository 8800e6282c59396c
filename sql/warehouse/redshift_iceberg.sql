-- Redshift reading the lake's Iceberg tables in place (issue 22), when the catalog is AWS Glue
-- (MERCADO_ICEBERG_CATALOG=glue): an external schema per Iceberg namespace; Redshift reads each
-- table's current snapshot, so only committed dates are visible and a re-run date shows once.
-- Run once by an administrator, with the deployment's own account, role and region in place of the
-- example ones (each Glue database is the Iceberg namespace of the same name; the role may read the
-- lake bucket and the Glue catalog).
CREATE EXTERNAL SCHEMA IF NOT EXISTS lake_gold
FROM DATA CATALOG
DATABASE 'gold'
IAM_ROLE 'arn:aws:iam::123456789012:role/mercado-redshift-lake'
REGION 'eu-west-1';

CREATE EXTERNAL SCHEMA IF NOT EXISTS lake_cleaned
FROM DATA CATALOG
DATABASE 'cleaned'
IAM_ROLE 'arn:aws:iam::123456789012:role/mercado-redshift-lake'
REGION 'eu-west-1';

GRANT USAGE ON SCHEMA lake_gold TO GROUP bi_analyst;
GRANT USAGE ON SCHEMA lake_gold TO GROUP data_scientist;

-- An analyst's query of the Iceberg table, beside the loaded star schema (core.*): a date's sales
-- as the lake committed them.
SELECT
    dt,
    COUNT(*) AS lines,
    SUM(total_price) AS gmv
FROM lake_gold.fact_sales
WHERE dt >= '2025-06-01'
GROUP BY dt
ORDER BY dt;
