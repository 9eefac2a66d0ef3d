{#
  Mean hourly earnings by country (and X_BW), year, sex and breakdown (classif1: _Z, YIP_<years>, OCU_<occupation>),
  in local currency and PPP dollars, with their numerators and denominators: each country's parts
  (int_country_hourly_means) divided, and X_BW's summed over the country-years that pool (a worker or factory key
  names its country). The occupation cells of the wages and the mean gender pay gaps. Ephemeral: compiled into
  int_indicator_cells, like int_worker_counts.
#}
{{ config(materialized='ephemeral') }}
with country_means as ({{ pooled_parts(ref('int_country_hourly_means')) }}
)

select
    country, year, classif1, sex, n_workers, n_factories,
    cast(lcu_sum as double) / nullif(lcu_n, 0) as mean_lcu, cast(ppp_sum as double) / nullif(ppp_n, 0) as mean_ppp,
    cast(lcu_sum as double) as lcu_num, lcu_n as lcu_den,
    cast(ppp_sum as double) as ppp_num, ppp_n as ppp_den
from country_means
union all
select
    pool, year, classif1, sex, cast(sum(n_workers) as bigint), cast(sum(n_factories) as bigint),
    {{ mean_of_parts('lcu') }}, {{ mean_of_parts('ppp') }},
    cast(sum(lcu_sum) as double), sum(lcu_n),
    cast(sum(ppp_sum) as double), sum(ppp_n)
from country_means
where pool is not null
group by pool, year, classif1, sex
