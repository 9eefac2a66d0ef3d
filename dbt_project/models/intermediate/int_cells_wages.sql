{#
  The wage cells (topic `wages` of seeds/ref_indicators.csv): mean monthly and hourly earnings and median hourly
  earnings in local currency, US and PPP dollars (the pooled X_BW in dollars only), mean hourly earnings by
  occupation, the minimum-wage, overtime and digital-payment rates. In the shape of int_indicator_cells, which
  unions the topics; ephemeral, compiled into it.
#}
{{ config(materialized='ephemeral') }}
with worker_months as (select * from {{ ref('int_worker_months') }} {{ without_excluded_countries() }}),

months as {{ inline_cte() }} ({{ with_payroll_pool(grouped_worker_months()) }}
),

{#
  Exact medians of hourly earnings (the interpolated 50th percentile of worker-months) without holding
  every value in memory, which an engine's median aggregate does: at the full programme's scale that
  alone exceeded 4 GB. Two passes: count the values in narrow buckets (0.001 PPP or US dollars an hour;
  bucketing is monotone within a group, so bucket order is value order; each country's counts are kept in
  int_hourly_value_buckets), find the buckets that hold the two middle ranks, then rank only the values of
  those buckets.
#}
hourly_values as {{ inline_cte() }} (
    {% for currency, value, dollars in hourly_currencies() %}
        select
            country, pool, year, sex, '{{ currency }}' as currency, {{ value }} as value,
            floor(1000 * ({{ dollars }})) as bucket
        from months
        where {{ value }} is not null
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

bucket_parts as ({{ pooled_parts(ref('int_hourly_value_buckets')) }}
),

value_buckets as (
    select * from (
        select
            {{ ref_area(pool='pool') }} as country, year, {{ sex_code() }} as sex, currency, bucket,
            cast(sum(n_values) as bigint) as n_values
        from bucket_parts
        group by grouping sets (
            (country, year, sex, currency, bucket), (country, year, currency, bucket),
            (pool, year, sex, currency, bucket), (pool, year, currency, bucket)
        )
    ) as grouped {{ pooled_groups_only() }}
),

-- the middle ranks, counted from 0, are floor and ceil of (n - 1) / 2;
-- a bucket holds ranks n_below .. n_below + n_values - 1
middle_buckets as (
    select country, year, sex, currency, bucket, n_below, n_total
    from (
        select
            value_buckets.*,
            coalesce(sum(n_values) over (
                partition by country, year, sex, currency order by bucket rows between unbounded preceding and 1 preceding
            ), 0) as n_below,
            sum(n_values) over (partition by country, year, sex, currency) as n_total
        from value_buckets
    ) as running
    where n_below <= ceil((n_total - 1) / 2.0) and n_below + n_values > floor((n_total - 1) / 2.0)
),

middle_values as (
    select
        middle_buckets.country, middle_buckets.year, middle_buckets.sex, middle_buckets.currency, middle_buckets.n_total,
        hourly_values.value,
        middle_buckets.n_below - 1 + row_number() over (
            partition by
                middle_buckets.country, middle_buckets.year, middle_buckets.sex, middle_buckets.currency,
                middle_buckets.bucket
            order by hourly_values.value
        ) as value_rank
    from hourly_values
    inner join middle_buckets
        on middle_buckets.year = hourly_values.year and middle_buckets.currency = hourly_values.currency
            and middle_buckets.bucket = hourly_values.bucket
            and middle_buckets.country in (hourly_values.country, hourly_values.pool)
            and middle_buckets.sex in ('SEX_' || hourly_values.sex, 'SEX_T')
),

hourly_medians as (
    select
        country, year, sex,
        {% for currency, value, dollars in hourly_currencies() %}
            max(case when currency = '{{ currency }}' then low + (high - low) * ((n_total - 1) / 2.0 - floor((n_total - 1) / 2.0)) end)
                as median_hourly_{{ currency | lower }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from (
        select
            country, year, sex, currency, n_total,
            max(case when value_rank = floor((n_total - 1) / 2.0) then value end) as low,
            max(case when value_rank = ceil((n_total - 1) / 2.0) then value end) as high
        from middle_values
        group by country, year, sex, currency, n_total
    ) as middle_pair
    group by country, year, sex
),

-- means and rates of worker-months from their per-country parts (int_month_parts), each also as numerator /
-- denominator: the linear parts disclosure control audits
month_parts as ({{ pooled_parts(ref('int_month_parts')) }}
),

month_stats as (
    select * from (
        select
            {{ ref_area(pool='pool') }} as country,
            year,
            {{ sex_code() }} as sex,
            {% for name, expression, scale in wage_month_statistics() %}
                {{ scale }} * {{ mean_of_parts(name) }} as {{ name }},
                {{ scale }} * cast(sum({{ name }}_sum) as double) as {{ name }}_num,
                cast(sum({{ name }}_n) as bigint) as {{ name }}_den{% if not loop.last %},{% endif %}
            {% endfor %}
        from month_parts
        group by grouping sets ((country, year, sex), (country, year), (pool, year, sex), (pool, year))
    ) as grouped {{ pooled_groups_only() }}
),

wage_stats as (
    select
        month_stats.*,
        hourly_medians.median_hourly_lcu, hourly_medians.median_hourly_usd, hourly_medians.median_hourly_ppp,
        worker_counts.n_workers, worker_counts.n_factories, worker_counts.n_workers_minw, worker_counts.n_factories_minw
    from month_stats
    inner join {{ ref('int_worker_counts') }} as worker_counts
        on worker_counts.country = month_stats.country and worker_counts.year = month_stats.year
            and worker_counts.sex = month_stats.sex
    left join hourly_medians
        on hourly_medians.country = month_stats.country and hourly_medians.year = month_stats.year
            and hourly_medians.sex = month_stats.sex
),

{% set wage_cells = [
    ('EAR_MEAN_MONTHLY', 'CUR_TYPE_LCU', 'LCU', 'mean_monthly_lcu', 'n_workers', 'n_factories'),
    ('EAR_MEAN_MONTHLY', 'CUR_TYPE_USD', 'USD', 'mean_monthly_usd', 'n_workers', 'n_factories'),
    ('EAR_MEAN_MONTHLY', 'CUR_TYPE_PPP', 'PPP_USD', 'mean_monthly_ppp', 'n_workers', 'n_factories'),
    ('EAR_MEAN_HOURLY', 'CUR_TYPE_LCU', 'LCU', 'mean_hourly_lcu', 'n_workers', 'n_factories'),
    ('EAR_MEAN_HOURLY', 'CUR_TYPE_USD', 'USD', 'mean_hourly_usd', 'n_workers', 'n_factories'),
    ('EAR_MEAN_HOURLY', 'CUR_TYPE_PPP', 'PPP_USD', 'mean_hourly_ppp', 'n_workers', 'n_factories'),
    ('EAR_MEDIAN_HOURLY', 'CUR_TYPE_LCU', 'LCU', 'median_hourly_lcu', 'n_workers', 'n_factories'),
    ('EAR_MEDIAN_HOURLY', 'CUR_TYPE_USD', 'USD', 'median_hourly_usd', 'n_workers', 'n_factories'),
    ('EAR_MEDIAN_HOURLY', 'CUR_TYPE_PPP', 'PPP_USD', 'median_hourly_ppp', 'n_workers', 'n_factories'),
    ('MINW_BELOW_RT', '_Z', 'PCT', 'minw_below_rt', 'n_workers_minw', 'n_factories_minw'),
    ('EAR_TO_MINW_RATIO', '_Z', 'RATIO', 'ear_to_minw_ratio', 'n_workers_minw', 'n_factories_minw'),
    ('HOW_OT_MEAN', '_Z', 'HOURS', 'ot_mean', 'n_workers', 'n_factories'),
    ('HOW_OT_EXCESS_RT', '_Z', 'PCT', 'ot_excess_rt', 'n_workers', 'n_factories'),
    ('EAR_DIGITAL_RT', '_Z', 'PCT', 'digital_rt', 'n_workers', 'n_factories'),
] %}
wage_cells as (
    {% for indicator, classif1, unit, value, n_workers, n_factories in wage_cells %}
        select
            country as ref_area, '{{ indicator }}' as indicator, sex, '{{ classif1 }}' as classif1, year as time,
            {{ value }} as obs_value, '{{ unit }}' as unit, {{ n_workers }}, {{ n_factories }},
            {% if indicator == 'EAR_MEDIAN_HOURLY' %}cast(null as double){% else %}{{ value }}_num{% endif %} as numerator,
            {% if indicator == 'EAR_MEDIAN_HOURLY' %}cast(null as double){% else %}{{ value }}_den{% endif %} as denominator
        from wage_stats where {{ value }} is not null{% if unit == 'LCU' %} and country <> 'X_BW'{% endif %}
        {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- mean hourly earnings by occupation, in local currency: countries only
occupation_cells as (
    select
        country as ref_area, 'EAR_MEAN_HOURLY' as indicator, 'SEX_' || sex as sex, classif1, year as time,
        mean_lcu as obs_value, 'LCU' as unit, n_workers, n_factories, lcu_num as numerator, lcu_den as denominator
    from {{ ref('int_hourly_means') }}
    where classif1 like 'OCU_%' and country <> 'X_BW'
)

{{ indicator_cells_select([('wage_cells', 'workers'), ('occupation_cells', 'workers')]) }}
