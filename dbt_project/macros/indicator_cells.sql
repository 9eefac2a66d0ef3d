{#- Building blocks of the topic models of indicator cells (models/intermediate/int_cells_*.sql), which
    int_indicator_cells unions. -#}

{# `rows` (a query with country and year) with `pool`: 'X_BW' for the country-years that pool into the programme
   total, null for those whose payroll covers fewer months than another country's that year (int_coverage). #}
{% macro with_payroll_pool(rows) -%}
    select pooled_rows.*, case when unpooled.country is null then 'X_BW' end as pool
    from ({{ rows }}) as pooled_rows
    left join (
        select country, year from {{ ref('int_coverage') }} where family = 'payroll' and not pooled
    ) as unpooled
        on unpooled.country = pooled_rows.country and unpooled.year = pooled_rows.year
{%- endmacro %}

{# The worker strata (int_worker_strata) with their pool, for the CTE `worker_strata` of a topic model. #}
{% macro pooled_worker_strata() -%}
    {{ with_payroll_pool('select * from ' ~ ref('int_worker_strata') ~ ' ' ~ without_excluded_countries()) }}
{%- endmacro %}

{#- The rates of survey answers, by country (and X_BW), year and sex, as cells: `binary` are (indicator, column)
    answered 0/1, `comfort` (indicator, column) answered 1 (very comfortable) to 5, 6 = does not apply: the share
    of answers 1-2 among 1-5. Reads a CTE `survey` (stg_worker_survey). -#}
{% macro survey_rate_cells(binary=[], comfort=[]) -%}
survey_stats as (
    {%- set factory = "country || ':' || cast(factory_id as string)" %}
    select
        {{ ref_area() }} as country, year,
        {{ sex_code() }} as sex
        {% for indicator, column in binary %}
        , 100 * avg({{ column }}) as {{ column }}_rt
        , 100 * sum({{ column }}) as {{ column }}_num
        , count({{ column }}) as {{ column }}_n
        , count(distinct case when {{ column }} is not null then {{ factory }} end) as {{ column }}_f
        {% endfor %}
        {% for indicator, column in comfort %}
        {%- set top_two = 'case when ' ~ column ~ ' between 1 and 5 then '
            ~ 'case when ' ~ column ~ ' <= 2 then 1 else 0 end end' %}
        , 100 * avg({{ top_two }}) as {{ column }}_rt
        , 100 * sum({{ top_two }}) as {{ column }}_num
        , count(case when {{ column }} between 1 and 5 then 1 end) as {{ column }}_n
        , count(distinct case when {{ column }} between 1 and 5 then {{ factory }} end) as {{ column }}_f
        {% endfor %}
    from survey
    group by grouping sets ((country, year, sex), (country, year), (year, sex), (year))
),
survey_cells as (
    {% for indicator, column in binary + comfort %}
    select country as ref_area, '{{ indicator }}' as indicator, sex, '_Z' as classif1, year as time,
        {{ column }}_rt as obs_value, 'PCT' as unit, {{ column }}_n as n_workers, {{ column }}_f as n_factories,
        {{ column }}_num as numerator, {{ column }}_n as denominator
    from survey_stats where {{ column }}_n > 0
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)
{%- endmacro %}

{#- The select that ends every topic model: the cells of the CTEs `parts`, a list of (cte, basis), in the long
    shape of int_indicator_cells, basis `workers` | `factories` | `gap` (a gap part carries the counts of each sex
    it rests on: n_workers_f, n_workers_m, n_factories_f, n_factories_m), with their reference period (int_coverage):
    the payroll's months, the months payroll and social security both cover for the linked indicators; the other
    families rest on events of the year, which a note names. -#}
{% macro indicator_cells_select(parts) -%}
{% set month_families = {'payroll': ['EAR_', 'HOW_', 'MINW_', 'GPG_', 'FEMALE_SHARE_'], 'social_security': ['SS_']} %}
{% set event_notes = [
    ('WS_', 'worker survey: the respondents interviewed in the year'),
    ('UNION_', 'worker survey: the respondents interviewed in the year'),
    ('NC_', 'compliance assessments: the latest assessment of each factory in the year'),
    ('PICC_ACTIVE', 'PICC membership on 31 December, over the active factories of the register'),
    ('PICC_', 'PICC membership on 31 December'),
] %}
select final.*, coverage.months_covered, coalesce(coverage.coverage, case
    {%- for prefix, note in event_notes %}
    when final.indicator like '{{ prefix }}%' then '{{ note }}'
    {%- endfor %}
    end) as coverage
from (
    {% for cte, basis in parts %}
    select
        ref_area, indicator, sex, classif1, cast(time as integer) as time, cast(obs_value as double) as obs_value, unit,
        cast(n_workers as bigint) as n_workers, cast(n_factories as bigint) as n_factories, '{{ basis }}' as basis,
        {% if basis == 'gap' -%}
        n_workers_f, n_workers_m, n_factories_f, n_factories_m,
        {%- else -%}
        cast(null as bigint) as n_workers_f, cast(null as bigint) as n_workers_m,
        cast(null as bigint) as n_factories_f, cast(null as bigint) as n_factories_m,
        {%- endif %}
        cast(numerator as double) as numerator, cast(denominator as double) as denominator
    from {{ cte }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
) as final
left join {{ ref('int_coverage') }} as coverage
    on coverage.country = final.ref_area and coverage.year = final.time and coverage.family = case
    {%- for family, prefixes in month_families.items() %}{% for prefix in prefixes %}
        when final.indicator like '{{ prefix }}%' then '{{ family }}'
    {%- endfor %}{% endfor %}
    end
where obs_value is not null  -- a mean over no value (an occupation whose hours are all zero, say) is no cell
{%- endmacro %}

{#- The worker-month means and rates of the wage cells, (name, expression, scale): int_month_parts keeps the exact
    sum and the count of each expression per country, year and sex, and int_cells_wages rolls them up. -#}
{% macro wage_month_statistics() -%}
{{ return([
    ('mean_monthly_lcu', 'earnings', 1),
    ('mean_monthly_usd', 'earnings / lcu_per_usd', 1),
    ('mean_monthly_ppp', 'earnings / ppp_lcu_per_intl_usd', 1),
    ('mean_hourly_lcu', 'hourly_earnings', 1),
    ('mean_hourly_usd', 'hourly_earnings / lcu_per_usd', 1),
    ('mean_hourly_ppp', 'hourly_earnings / ppp_lcu_per_intl_usd', 1),
    ('minw_below_rt', 'case when minimum_wage_due > 0 then case when basic_pay < minimum_wage_due then 1 else 0 end end', 100),
    ('ear_to_minw_ratio', 'case when minimum_wage_due > 0 then basic_pay / minimum_wage_due end', 1),
    ('ot_mean', 'overtime_hours', 1),
    ('ot_excess_rt', 'case when overtime_limit_month is not null then case when overtime_hours > overtime_limit_month then 1 else 0 end end', 100),
    ('digital_rt', "case when payment_method is not null then case when payment_method in ('bank', 'mobile') then 1 else 0 end end", 100),
]) }}
{%- endmacro %}

{#- Whether a worker-month counts as registered with social security: the worker's registration date
    (int_worker_registrations) falls on or before the month's last day. -#}
{% macro registered_by_month_end(registration_date, period_start) -%}
    coalesce({{ registration_date }} <= {{ month_end(period_start) }}, false)
{%- endmacro %}

{#- The same for the social-protection cells: the two rates, and the amounts due and paid of the contribution gap
    (a due amount only where the month is linked, a paid amount only where one is due). -#}
{% macro social_security_month_statistics() -%}
{{ return([
    ('ss_registered_rt', 'case when has_social_security then case when is_registered then 1 else 0 end end', 100),
    ('ss_paid_rt', 'case when has_social_security then case when is_contribution_paid then 1 else 0 end end', 100),
    ('ss_due', 'case when has_social_security then contribution_due end', 1),
    ('ss_paid', 'case when has_social_security and contribution_due is not null then contribution_paid end', 1),
]) }}
{%- endmacro %}

{#- The currencies of the hourly-earnings medians, (currency, value, dollars): the value ranked and the same value
    in dollars, whose 0.001 buckets int_hourly_value_buckets counts (in PPP dollars for local currency, so that one
    bucket width fits every country). -#}
{% macro hourly_currencies() -%}
{{ return([
    ('LCU', 'hourly_earnings', 'hourly_earnings / coalesce(ppp_lcu_per_intl_usd, 1)'),
    ('USD', 'hourly_earnings / lcu_per_usd', 'hourly_earnings / lcu_per_usd'),
    ('PPP', 'hourly_earnings / ppp_lcu_per_intl_usd', 'hourly_earnings / ppp_lcu_per_intl_usd'),
]) }}
{%- endmacro %}

{#- Pooled rows of per-country parts: `parts` (a relation of per-country rows, with country and year) with their
    pool (with_payroll_pool), without the countries excluded this run. -#}
{% macro pooled_parts(parts) -%}
    {{ with_payroll_pool('select * from ' ~ parts ~ ' ' ~ without_excluded_countries()) }}
{%- endmacro %}
