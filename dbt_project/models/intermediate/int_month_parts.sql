{#
  The parts of every worker-month mean and rate of the wage and social-protection cells, per country, year and sex:
  the exact DECIMAL sum and the count of each expression (macros/indicator_cells.sql). Both sexes and the pooled X_BW
  are sums of these parts (int_cells_wages, int_cells_social_protection), the same numbers as on the rows themselves
  (macros/exact_aggregates.sql: mean_of_parts). Incremental by country like int_worker_months: a national refresh
  recomputes its own parts and adds the others' stored parts, instead of reading every country's worker-months
  again for the pooled cells (issue 32). Each worker-month's registration status is found here, from the worker's
  registration date (int_worker_registrations), not stored with the worker-month.
#}
{{ country_incremental_config() }}
with registrations as (select * from {{ ref('int_worker_registrations') }} {{ refreshed_countries_only() }}),

worker_months as (
    select
        months.*,
        {{ registered_by_month_end('registrations.registration_date', 'months.period_start') }} as is_registered
    from (select * from {{ ref('int_worker_months') }} {{ refreshed_countries_only() }}) as months
    left join registrations on registrations.country = months.country and registrations.worker_key = months.worker_key
)

select
    country, year, sex,
    {% for name, expression, scale in wage_month_statistics() + social_security_month_statistics() %}
        {{ decimal_sum(expression) }} as {{ name }}_sum,
        count({{ expression }}) as {{ name }}_n{% if not loop.last %},{% endif %}
    {% endfor %}
from worker_months
group by country, year, sex
