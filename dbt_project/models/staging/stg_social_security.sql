{{ config(meta={'refresh_by_month': true}) }}  {# a national refresh tests the refreshed months only (macros/incremental.sql) #}
with source as (select * from {{ source('extracts', 'social_security') }})

select
    country,
    factory_id,
    worker_pid,
    period,
    registration_date,
    insurable_wage,
    employer_contribution,
    employee_contribution,
    paid_date,
    scheme
from source
