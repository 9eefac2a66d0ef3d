{#
  Mean hourly earnings by country (and X_BW), year, sex and breakdown (classif1: _Z, YIP_<years>, OCU_<occupation>),
  in local currency and PPP dollars, with their numerators and denominators: the occupation cells of the wages and
  the mean gender pay gaps. Ephemeral: compiled into int_indicator_cells, like int_worker_counts.
#}
{{ config(materialized='ephemeral') }}
{% set breakdowns = [('_Z', "'_Z'"), ('yip', 'yip_group'), ('occupation', "'OCU_' || upper(occupation)")] %}
with worker_strata as {{ inline_cte() }} ({{ pooled_worker_strata() }}
)

{% for name, classif1 in breakdowns %}
    select
        * from (
        select
            {{ ref_area(pool='pool') }} as country, year, {{ classif1 }} as classif1, sex,
            count(distinct worker_key) as n_workers, count(distinct factory_key) as n_factories,
            {{ mean_of_parts('hourly_lcu') }} as mean_lcu, {{ mean_of_parts('hourly_ppp') }} as mean_ppp,
            cast(sum(hourly_lcu_sum) as double) as lcu_num, sum(hourly_lcu_n) as lcu_den,
            cast(sum(hourly_ppp_sum) as double) as ppp_num, sum(hourly_ppp_n) as ppp_den
        from worker_strata
        group by grouping sets ((country, year, {{ classif1 }}, sex), (pool, year, {{ classif1 }}, sex))
    ) as grouped
    {{ pooled_groups_only() }}
    {% if not loop.last %}union all{% endif %}
{% endfor %}
