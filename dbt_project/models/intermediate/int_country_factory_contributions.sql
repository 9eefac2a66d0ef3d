{#
  How many workers (survey respondents, PICC worker representatives) each factory contributes to the cells
  of each population, by country, year, sex and breakdown, every country's slice kept: incremental by country like
  int_worker_strata, so a national refresh counts only its own country's factories again. int_factory_contributions
  leaves out the countries excluded this run. Aggregates only: one row per factory and cell part, no worker.
  population: payroll | survey | picc; breakdown: _Z (all), OCU_<occupation>, YIP_<years>, or SUPERVISORS
  (supervisors and managers, the population of FEMALE_SHARE_SUPERVISORS).
#}
{{ country_incremental_config() }}
with strata as (select * from {{ ref('int_worker_strata') }} {{ refreshed_countries_only() }}),

survey as (select * from {{ ref('stg_worker_survey') }} {{ refreshed_countries_only() }}),

picc as (
    select * from (select * from {{ ref('int_picc_year_end') }} {{ refreshed_countries_only() }}) as members
    where category = 'Workers'
),

{% set payroll_breakdowns = [
    ("'_Z'", 'true'),
    ("'OCU_' || upper(occupation)", 'true'),
    ('yip_group', 'true'),
    ("'SUPERVISORS'", "occupation in ('supervisor', 'manager')"),
] %}
payroll as (
    {% for breakdown, condition in payroll_breakdowns %}
        select 'payroll' as population, country, year, sex, {{ breakdown }} as breakdown, factory_key, count(distinct worker_key) as n
        from strata
        where {{ condition }}
        group by country, year, sex, {{ breakdown }}, factory_key
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select population, country, year, sex, breakdown, factory_key, n from payroll
union all
select 'survey', country, year, sex, '_Z', country || ':' || cast(factory_id as string), count(*)
from survey
where sex is not null
group by country, year, sex, factory_id
union all
select 'picc', country, year, sex, '_Z', country || ':' || cast(factory_id as string), count(distinct member_pid)
from picc
where sex is not null
group by country, year, sex, factory_id
