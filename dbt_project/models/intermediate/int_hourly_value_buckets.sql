{#
  How many worker-months' hourly earnings fall in each bucket of 0.001 dollars an hour, per country, year, sex and
  currency (macros/indicator_cells.sql: hourly_currencies): the first pass of the exact medians of int_cells_wages,
  which adds these counts over the sexes and the pooled countries. Incremental by country like int_worker_months.
#}
{{ country_incremental_config() }}
with worker_months as (select * from {{ ref('int_worker_months') }} {{ refreshed_countries_only() }})

{% for currency, value, dollars in hourly_currencies() %}
    select country, year, sex, '{{ currency }}' as currency, floor(1000 * ({{ dollars }})) as bucket, count(*) as n_values
    from worker_months
    where {{ value }} is not null
    group by country, year, sex, floor(1000 * ({{ dollars }}))
    {% if not loop.last %}union all{% endif %}
{% endfor %}
