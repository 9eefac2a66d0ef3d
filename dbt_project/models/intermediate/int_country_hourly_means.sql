{#
  The parts of the mean hourly earnings by country, year, breakdown (classif1: _Z, YIP_<years>, OCU_<occupation>)
  and sex: distinct workers and factories, and the exact sums and counts of hourly earnings in local currency and
  PPP dollars, from the worker strata. int_hourly_means divides them and adds the pooled X_BW. Incremental by
  country like int_worker_strata.
#}
{{ country_incremental_config() }}
{% set breakdowns = [('_Z', "'_Z'"), ('yip', 'yip_group'), ('occupation', "'OCU_' || upper(occupation)")] %}
with worker_strata as (select * from {{ ref('int_worker_strata') }} {{ refreshed_countries_only() }})

{% for name, classif1 in breakdowns %}
    select
        country, year, {{ classif1 }} as classif1, sex,
        count(distinct worker_key) as n_workers, count(distinct factory_key) as n_factories,
        sum(hourly_lcu_sum) as lcu_sum, sum(hourly_lcu_n) as lcu_n,
        sum(hourly_ppp_sum) as ppp_sum, sum(hourly_ppp_n) as ppp_n
    from worker_strata
    group by country, year, {{ classif1 }}, sex
    {% if not loop.last %}union all{% endif %}
{% endfor %}
