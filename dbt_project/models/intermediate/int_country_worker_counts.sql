{#
  Distinct payroll workers and factories by country, year and sex (SEX_T: both), overall and in the populations some
  indicators rest on (int_worker_counts, which adds the pooled X_BW). Incremental by country like int_worker_strata:
  a national refresh counts its own workers again. A worker key is made from the country and the pseudonym
  (macros/join_keys.sql) and a factory key names its country, so a count over several countries is the sum of theirs.
#}
{{ country_incremental_config() }}
with worker_strata as (select * from {{ ref('int_worker_strata') }} {{ refreshed_countries_only() }})

select
    country,
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
group by grouping sets ((country, year, sex), (country, year))
