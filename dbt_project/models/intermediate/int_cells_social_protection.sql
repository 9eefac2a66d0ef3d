{#
  The social-protection cells (topic `social_protection` of seeds/ref_indicators.csv): the shares of payroll
  worker-months registered with social security and with a paid contribution, and the contribution gap, over the
  countries that deliver the social-security extract. In the shape of int_indicator_cells, which unions the topics;
  ephemeral, compiled into it.
#}
{{ config(materialized='ephemeral') }}
{% set due = 'case when has_social_security then contribution_due end' %}
{% set paid = 'case when has_social_security and contribution_due is not null then contribution_paid end' %}
{% set ratio_statistics = [
    ('ss_registered_rt', 'case when has_social_security then case when is_registered then 1 else 0 end end', 100),
    ('ss_paid_rt', 'case when has_social_security then case when is_contribution_paid then 1 else 0 end end', 100),
] %}
with worker_months as (select * from {{ ref('int_worker_months') }} {{ without_excluded_countries() }}),

months as {{ inline_cte() }} ({{ with_payroll_pool(grouped_worker_months()) }}
),

-- each rate also as numerator / denominator: the linear parts disclosure control audits
month_stats as (
    select * from (
        select
            {{ ref_area(pool='pool') }} as country,
            year,
            {{ sex_code() }} as sex,
            100 * avg(case when has_social_security then case when is_registered then 1 else 0 end end) as ss_registered_rt,
            100 * avg(case when has_social_security then case when is_contribution_paid then 1 else 0 end end) as ss_paid_rt,
            100 * ({{ exact_sum(due) }} - {{ exact_sum(paid) }}) / nullif({{ exact_sum(due) }}, 0) as ss_gap_rt,
            {% for name, expression, scale in ratio_statistics %}
                {{ scale }} * {{ exact_sum(expression) }} as {{ name }}_num, count({{ expression }}) as {{ name }}_den,
            {% endfor %}
            100 * ({{ exact_sum(due) }} - {{ exact_sum(paid) }}) as ss_gap_rt_num,
            {{ exact_sum(due) }} as ss_gap_rt_den
        from months
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
