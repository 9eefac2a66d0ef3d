{#
  The social-protection cells (topic `social_protection` of seeds/ref_indicators.csv): the shares of payroll
  worker-months registered with social security and with a paid contribution, and the contribution gap, over the
  countries that deliver the social-security extract. In the shape of int_indicator_cells, which unions the topics;
  ephemeral, compiled into it.
#}
{{ config(materialized='ephemeral') }}
{% set ratio_statistics = social_security_month_statistics()[:2] %}
{% set due, paid = 'cast(sum(ss_due_sum) as double)', 'cast(sum(ss_paid_sum) as double)' %}
-- each rate also as numerator / denominator: the linear parts disclosure control audits; from the per-country parts
-- of the worker-months (int_month_parts)
with month_parts as ({{ pooled_parts(ref('int_month_parts')) }}
),

month_stats as (
    select * from (
        select
            {{ ref_area(pool='pool') }} as country,
            year,
            {{ sex_code() }} as sex,
            {% for name, expression, scale in ratio_statistics %}
                {{ scale }} * {{ mean_of_parts(name) }} as {{ name }},
                {{ scale }} * cast(sum({{ name }}_sum) as double) as {{ name }}_num,
                cast(sum({{ name }}_n) as bigint) as {{ name }}_den,
            {% endfor %}
            100 * ({{ due }} - {{ paid }}) / nullif({{ due }}, 0) as ss_gap_rt,
            100 * ({{ due }} - {{ paid }}) as ss_gap_rt_num,
            {{ due }} as ss_gap_rt_den
        from month_parts
        group by grouping sets ((country, year, sex), (country, year), (pool, year, sex), (pool, year))
    ) as grouped {{ pooled_groups_only() }}
),

{% set ss_cells = [
    ('SS_REGISTERED_RT', 'ss_registered_rt'),
    ('SS_CONTRIB_PAID_RT', 'ss_paid_rt'),
    ('SS_CONTRIB_GAP_RT', 'ss_gap_rt'),
] %}
ss_cells as (
    {% for indicator, value in ss_cells %}
        select
            month_stats.country as ref_area, '{{ indicator }}' as indicator, month_stats.sex, '_Z' as classif1,
            month_stats.year as time, {{ value }} as obs_value, 'PCT' as unit,
            worker_counts.n_workers_ss as n_workers, worker_counts.n_factories_ss as n_factories,
            {{ value }}_num as numerator, {{ value }}_den as denominator
        from month_stats
        inner join {{ ref('int_worker_counts') }} as worker_counts
            on worker_counts.country = month_stats.country and worker_counts.year = month_stats.year
                and worker_counts.sex = month_stats.sex
        where {{ value }} is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

{{ indicator_cells_select([('ss_cells', 'workers')]) }}
