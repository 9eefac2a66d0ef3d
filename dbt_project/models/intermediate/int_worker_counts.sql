{#
  Distinct payroll workers and factories by country (and X_BW), year and sex (SEX_T: both), overall and in the
  populations some indicators rest on: the worker-months with a minimum wage, supervisors and managers, and the
  countries that deliver the social-security extract. Read by the wage, gender-gap and social-protection cells.
  Ephemeral: compiled into int_indicator_cells, so that it sees the same countries (without_excluded_countries).
#}
{{ config(materialized='ephemeral') }}
with worker_strata as {{ inline_cte() }} ({{ pooled_worker_strata() }}
)

select * from (
    select
        {{ ref_area(pool='pool') }} as country,
        year,
        {{ sex_code() }} as sex,
        count(distinct worker_key) as n_workers,
        count(distinct factory_key) as n_factories,
        count(distinct case when has_minimum_wage = 1 then worker_key end) as n_workers_minw,
        count(distinct case when has_minimum_wage = 1 then factory_key end) as n_factories_minw,
        count(distinct case when occupation in ('supervisor', 'manager') then worker_key end) as n_supervisors,
        count(distinct case when occupation in ('supervisor', 'manager') then factory_key end) as n_factories_supervisors,
        -- the social-security rates rest only on the countries that deliver the extract (matters for X_BW)
        count(distinct case when has_social_security then worker_key end) as n_workers_ss,
        count(distinct case when has_social_security then factory_key end) as n_factories_ss
    from worker_strata
    group by grouping sets ((country, year, sex), (country, year), (pool, year, sex), (pool, year))
) as grouped {{ pooled_groups_only() }}
