{#
  Distinct payroll workers and factories by country (and X_BW), year and sex (SEX_T: both), overall and in the
  populations some indicators rest on: each country's counts (int_country_worker_counts) and, for X_BW, their sums
  over the country-years that pool (the keys name their country, so no worker or factory is counted twice). Read by
  the wage, gender-gap and social-protection cells. Ephemeral: compiled into int_indicator_cells, so that it sees
  the same countries (without_excluded_countries).
#}
{{ config(materialized='ephemeral') }}
{% set counts = ['n_workers', 'n_factories', 'n_workers_minw', 'n_factories_minw', 'n_supervisors',
    'n_factories_supervisors', 'n_workers_ss', 'n_factories_ss'] %}
with country_counts as ({{ pooled_parts(ref('int_country_worker_counts')) }}
)

select country, year, sex, {{ counts | join(', ') }}
from country_counts
union all
select
    pool, year, sex,
    {% for count in counts %}
        cast(sum({{ count }}) as bigint) as {{ count }}{% if not loop.last %},{% endif %}
    {% endfor %}
from country_counts
where pool is not null
group by pool, year, sex
