{#- The worker-month breakdown groups and the worker strata of a year: int_worker_strata stores the strata, country
    by country; the wage and social-protection cells group the worker-months (macros/indicator_cells.sql). -#}

{# Worker-months with the groups the indicators break down by; reads a CTE `worker_months`. #}
{% macro grouped_worker_months() -%}
    select
        worker_months.*,
        case when years_in_programme >= 4 then 'YIP_4PLUS' else 'YIP_' || cast(years_in_programme as string) end as yip_group
    from worker_months
{%- endmacro %}

{# One row per worker, factory, occupation and years-in-programme group of a year, about a fifth of the
   worker-months: every distinct count and every breakdown mean reads these rows. Counting distinct
   pseudonyms over all worker-months under grouping sets is what ran out of memory at the full
   programme's scale (docs/scale.md). Reads a CTE `months` (grouped_worker_months). #}
{% macro worker_strata_rows() -%}
    select
        country, year, sex, worker_key, factory_id, occupation, yip_group, has_social_security,
        country || ':' || cast(factory_id as string) as factory_key,
        max(case when minimum_wage_due > 0 then 1 else 0 end) as has_minimum_wage,
        {{ decimal_sum('hourly_earnings') }} as hourly_lcu_sum,
        count(hourly_earnings) as hourly_lcu_n,
        {{ decimal_sum('hourly_earnings / ppp_lcu_per_intl_usd') }} as hourly_ppp_sum,
        count(hourly_earnings / ppp_lcu_per_intl_usd) as hourly_ppp_n
    from months
    group by country, year, sex, worker_key, factory_id, occupation, yip_group, has_social_security
{%- endmacro %}
