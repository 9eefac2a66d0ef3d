{# One row per worker-month. Earnings and hourly earnings as the indicator catalogue (docs/indicators.md) defines them. #}
{{ config(meta={'refresh_by_month': true}) }}  {# a national refresh tests the refreshed months only (macros/incremental.sql) #}
with source as (select * from {{ source('extracts', 'payroll') }})

select
    country,
    factory_id,
    worker_pid,
    period,
    cast(substr(period, 1, 4) as integer) as year,
    cast(period || '-01' as date) as period_start,
    sex,
    occupation,
    contract_type,
    pay_basis,
    payment_method,
    currency,
    days_worked,
    regular_hours,
    overtime_hours,
    regular_hours + overtime_hours as total_hours,
    basic_pay,
    overtime_pay,
    allowances,
    bonuses,
    basic_pay + overtime_pay + allowances + bonuses as earnings,
    case when regular_hours + overtime_hours > 0
            then (basic_pay + overtime_pay + allowances + bonuses) / (regular_hours + overtime_hours)
    end as hourly_earnings
from source
