{#
  Every indicator cell of the catalogue (docs/indicators.md) before disclosure control, in the long shape:
  ref_area, indicator, sex, classif1, time, obs_value, unit, n_workers, n_factories, basis
  (`workers` | `factories` | `gap`), and for gaps the counts of each sex the gap rests on.
  `marts/indicators` applies disclosure control to these cells.
#}
with worker_months as (select * from {{ ref('int_worker_months') }} {{ without_excluded_countries() }}),
latest_findings as (select * from {{ ref('int_latest_assessments') }} {{ without_excluded_countries() }}),
picc as (select * from {{ ref('int_picc_year_end') }} {{ without_excluded_countries() }}),
survey as (select * from {{ ref('stg_worker_survey') }} {{ without_excluded_countries() }}),
factories as (select * from {{ ref('stg_factories') }} {{ without_excluded_countries() }}),
-- the country-years whose payroll covers fewer months than another country's that year: not pooled into X_BW
unpooled as (select country, year from {{ ref('int_coverage') }} where family = 'payroll' and not pooled),

months as {{ inline_cte() }} (
    select grouped.*, case when unpooled.country is null then 'X_BW' end as pool
    from ({{ grouped_worker_months() }}) as grouped
    left join unpooled on unpooled.country = grouped.country and unpooled.year = grouped.year
),

-- macros/worker_strata.sql; unit tests compute them from their worker-month fixtures
worker_strata as {{ inline_cte() }} (
    select strata.*, case when unpooled.country is null then 'X_BW' end as pool
    from (
        {%- if var('strata_from_months', false) %}
        {{ worker_strata_rows() }}
        {%- else %}
        select * from {{ ref('int_worker_strata') }} {{ without_excluded_countries() }}
        {%- endif %}
    ) as strata
    left join unpooled on unpooled.country = strata.country and unpooled.year = strata.year
),

{#-
  Exact medians of hourly earnings (the interpolated 50th percentile of worker-months) without holding
  every value in memory, which an engine's median aggregate does: at the full programme's scale that
  alone exceeded 4 GB. Two passes: count the values in narrow buckets (0.001 PPP or US dollars an hour;
  bucketing is monotone within a group, so bucket order is value order), find the buckets that hold the
  two middle ranks, then rank only the values of those buckets.
#}
{% set hourly_currencies = [
    ('LCU', 'hourly_earnings', 'hourly_earnings / coalesce(ppp_lcu_per_intl_usd, 1)'),
    ('USD', 'hourly_earnings / lcu_per_usd', 'hourly_earnings / lcu_per_usd'),
    ('PPP', 'hourly_earnings / ppp_lcu_per_intl_usd', 'hourly_earnings / ppp_lcu_per_intl_usd'),
] %}
hourly_values as {{ inline_cte() }} (
    {% for currency, value, dollars in hourly_currencies %}
    select country, pool, year, sex, '{{ currency }}' as currency, {{ value }} as value, floor(1000 * ({{ dollars }})) as bucket
    from months
    where {{ value }} is not null
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
value_buckets as (
    select * from (
    select {{ ref_area(pool='pool') }} as country, year, {{ sex_code() }} as sex, currency, bucket, count(*) as n_values
    from hourly_values
    group by grouping sets (
        (country, year, sex, currency, bucket), (country, year, currency, bucket), (pool, year, sex, currency, bucket), (pool, year, currency, bucket)
    )
    ) as grouped {{ pooled_groups_only() }}
),
-- the middle ranks, counted from 0, are floor and ceil of (n - 1) / 2; a bucket holds ranks n_below .. n_below + n_values - 1
middle_buckets as (
    select country, year, sex, currency, bucket, n_below, n_total
    from (
        select
            value_buckets.*,
            coalesce(sum(n_values) over (partition by country, year, sex, currency order by bucket rows between unbounded preceding and 1 preceding), 0) as n_below,
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
            partition by middle_buckets.country, middle_buckets.year, middle_buckets.sex, middle_buckets.currency, middle_buckets.bucket
            order by hourly_values.value
        ) as value_rank
    from hourly_values
    inner join middle_buckets
        on middle_buckets.year = hourly_values.year and middle_buckets.currency = hourly_values.currency
        and middle_buckets.bucket = hourly_values.bucket
        and middle_buckets.country in (hourly_values.country, hourly_values.pool) and middle_buckets.sex in ('SEX_' || hourly_values.sex, 'SEX_T')
),
hourly_medians as (
    select country, year, sex,
        {% for currency, value, dollars in hourly_currencies %}
        max(case when currency = '{{ currency }}' then low + (high - low) * ((n_total - 1) / 2.0 - floor((n_total - 1) / 2.0)) end)
            as median_hourly_{{ currency | lower }}{% if not loop.last %},{% endif %}
        {% endfor %}
    from (
        select country, year, sex, currency, n_total,
            max(case when value_rank = floor((n_total - 1) / 2.0) then value end) as low,
            max(case when value_rank = ceil((n_total - 1) / 2.0) then value end) as high
        from middle_values
        group by country, year, sex, currency, n_total
    ) as middle_pair
    group by country, year, sex
),

-- means and rates of worker-months
{% set ratio_statistics = [
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
    ('digital_rt', 'case when payment_method is not null then case when payment_method in (\'bank\', \'mobile\') then 1 else 0 end end', 100),
    ('ss_registered_rt', 'case when has_social_security then case when is_registered then 1 else 0 end end', 100),
    ('ss_paid_rt', 'case when has_social_security then case when is_contribution_paid then 1 else 0 end end', 100),
] %}
month_stats as (
    select * from (
    select
        {{ ref_area(pool='pool') }} as country,
        year,
        {{ sex_code() }} as sex,
        {{ exact_avg('earnings') }} as mean_monthly_lcu,
        {{ exact_avg('earnings / lcu_per_usd') }} as mean_monthly_usd,
        {{ exact_avg('earnings / ppp_lcu_per_intl_usd') }} as mean_monthly_ppp,
        {{ exact_avg('hourly_earnings') }} as mean_hourly_lcu,
        {{ exact_avg('hourly_earnings / lcu_per_usd') }} as mean_hourly_usd,
        {{ exact_avg('hourly_earnings / ppp_lcu_per_intl_usd') }} as mean_hourly_ppp,
        100 * avg(case when minimum_wage_due > 0 then case when basic_pay < minimum_wage_due then 1 else 0 end end) as minw_below_rt,
        {{ exact_avg('case when minimum_wage_due > 0 then basic_pay / minimum_wage_due end') }} as ear_to_minw_ratio,
        {{ exact_avg('overtime_hours') }} as ot_mean,
        100 * avg(case when overtime_limit_month is not null then case when overtime_hours > overtime_limit_month then 1 else 0 end end) as ot_excess_rt,
        100 * avg(case when payment_method is not null then case when payment_method in ('bank', 'mobile') then 1 else 0 end end) as digital_rt,
        100 * avg(case when has_social_security then case when is_registered then 1 else 0 end end) as ss_registered_rt,
        100 * avg(case when has_social_security then case when is_contribution_paid then 1 else 0 end end) as ss_paid_rt,
        100 * ({{ exact_sum('case when has_social_security then contribution_due end') }} - {{ exact_sum('case when has_social_security and contribution_due is not null then contribution_paid end') }})
            / nullif({{ exact_sum('case when has_social_security then contribution_due end') }}, 0) as ss_gap_rt,
        -- each mean or rate as numerator / denominator: the linear parts disclosure control audits
        {% for name, expression, scale in ratio_statistics %}
        {{ scale }} * {{ exact_sum(expression) }} as {{ name }}_num, count({{ expression }}) as {{ name }}_den,
        {% endfor %}
        100 * ({{ exact_sum('case when has_social_security then contribution_due end') }} - {{ exact_sum('case when has_social_security and contribution_due is not null then contribution_paid end') }}) as ss_gap_rt_num,
        {{ exact_sum('case when has_social_security then contribution_due end') }} as ss_gap_rt_den
    from months
    group by grouping sets ((country, year, sex), (country, year), (pool, year, sex), (pool, year))
    ) as grouped {{ pooled_groups_only() }}
),

worker_counts as (
    select * from (
    select
        {{ ref_area(pool='pool') }} as country,
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
    group by grouping sets ((country, year, sex), (country, year), (pool, year, sex), (pool, year))
    ) as grouped {{ pooled_groups_only() }}
),

wage_stats as (
    select
        month_stats.*,
        hourly_medians.median_hourly_lcu, hourly_medians.median_hourly_usd, hourly_medians.median_hourly_ppp,
        worker_counts.n_workers, worker_counts.n_factories,
        worker_counts.n_workers_minw, worker_counts.n_factories_minw,
        worker_counts.n_supervisors, worker_counts.n_factories_supervisors,
        worker_counts.n_workers_ss, worker_counts.n_factories_ss
    from month_stats
    inner join worker_counts
        on worker_counts.country = month_stats.country and worker_counts.year = month_stats.year and worker_counts.sex = month_stats.sex
    left join hourly_medians
        on hourly_medians.country = month_stats.country and hourly_medians.year = month_stats.year and hourly_medians.sex = month_stats.sex
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
    ('SS_REGISTERED_RT', '_Z', 'PCT', 'ss_registered_rt', 'n_workers_ss', 'n_factories_ss'),
    ('SS_CONTRIB_PAID_RT', '_Z', 'PCT', 'ss_paid_rt', 'n_workers_ss', 'n_factories_ss'),
    ('SS_CONTRIB_GAP_RT', '_Z', 'PCT', 'ss_gap_rt', 'n_workers_ss', 'n_factories_ss'),
] %}

wage_cells as (
    {% for indicator, classif1, unit, value, n_workers, n_factories in wage_cells %}
    select country as ref_area, '{{ indicator }}' as indicator, sex, '{{ classif1 }}' as classif1, year as time,
        {{ value }} as obs_value, '{{ unit }}' as unit, {{ n_workers }} as n_workers, {{ n_factories }} as n_factories,
        {% if indicator == 'EAR_MEDIAN_HOURLY' %}cast(null as double){% else %}{{ value }}_num{% endif %} as numerator,
        {% if indicator == 'EAR_MEDIAN_HOURLY' %}cast(null as double){% else %}{{ value }}_den{% endif %} as denominator
    from wage_stats where {{ value }} is not null{% if unit == 'LCU' %} and country <> 'X_BW'{% endif %}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

{% set breakdowns = [('_Z', "'_Z'"), ('yip', 'yip_group'), ('occupation', "'OCU_' || upper(occupation)")] %}
hourly_grouped as (
    {% for name, classif1 in breakdowns %}
    select * from (
    select {{ ref_area(pool='pool') }} as country, year, {{ classif1 }} as classif1, sex,
        count(distinct worker_key) as n_workers, count(distinct factory_key) as n_factories,
        {{ mean_of_parts('hourly_lcu') }} as mean_lcu, {{ mean_of_parts('hourly_ppp') }} as mean_ppp,
        cast(sum(hourly_lcu_sum) as double) as lcu_num, sum(hourly_lcu_n) as lcu_den,
        cast(sum(hourly_ppp_sum) as double) as ppp_num, sum(hourly_ppp_n) as ppp_den
    from worker_strata
    group by grouping sets ((country, year, {{ classif1 }}, sex), (pool, year, {{ classif1 }}, sex))
    ) as grouped {{ pooled_groups_only() }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
-- a country's gap is computed in its own currency; the pooled gap in PPP dollars (currencies differ)
hourly_by_sex as (
    select country, year, classif1, sex, n_workers, n_factories,
        case when country = 'X_BW' then mean_ppp else mean_lcu end as mean_hourly,
        case when country = 'X_BW' then ppp_num else lcu_num end as numerator,
        case when country = 'X_BW' then ppp_den else lcu_den end as denominator
    from hourly_grouped
),
median_by_sex as (
    select country, year, '_Z' as classif1, substr(sex, 5) as sex, n_workers, n_factories,
        case when country = 'X_BW' then median_hourly_ppp else median_hourly_lcu end as median_hourly
    from wage_stats
    where sex <> 'SEX_T'
),
occupation_cells as (
    select country as ref_area, 'EAR_MEAN_HOURLY' as indicator, 'SEX_' || sex as sex, classif1, year as time,
        mean_hourly as obs_value, 'LCU' as unit, n_workers, n_factories, numerator, denominator
    from hourly_by_sex
    where classif1 like 'OCU_%' and country <> 'X_BW'
),
-- a gap rests on the factories of both sexes together (their union, not the larger of the two)
gap_factories as (
    {% for name, classif1 in breakdowns %}
    select * from (
    select {{ ref_area(pool='pool') }} as country, year, {{ classif1 }} as classif1, count(distinct factory_key) as n_factories
    from worker_strata
    group by grouping sets ((country, year, {{ classif1 }}), (pool, year, {{ classif1 }}))
    ) as grouped {{ pooled_groups_only() }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),
{% set gaps = [('GPG_MEAN_HOURLY', 'mean_hourly', 'hourly_by_sex'), ('GPG_MEDIAN_HOURLY', 'median_hourly', 'median_by_sex')] %}
gap_cells as (
    {% for indicator, statistic, by_sex in gaps %}
    select
        women.country as ref_area, '{{ indicator }}' as indicator, 'SEX_T' as sex, women.classif1, women.year as time,
        100 * (men.{{ statistic }} - women.{{ statistic }}) / men.{{ statistic }} as obs_value, 'PCT' as unit,
        women.n_workers + men.n_workers as n_workers, both_sexes.n_factories,
        women.n_workers as n_workers_f, men.n_workers as n_workers_m, women.n_factories as n_factories_f, men.n_factories as n_factories_m,
        cast(null as double) as numerator, cast(null as double) as denominator
    from {{ by_sex }} as women
    inner join {{ by_sex }} as men
        on men.country = women.country and men.year = women.year and men.classif1 = women.classif1 and men.sex = 'M'
    inner join gap_factories as both_sexes
        on both_sexes.country = women.country and both_sexes.year = women.year and both_sexes.classif1 = women.classif1
    where women.sex = 'F' and men.{{ statistic }} > 0
    union all
    {% endfor %}
    -- ILO Global Wage Report factor-weighted gap: the gap within each factory x occupation stratum,
    -- weighted by the stratum's share of workers among strata that employ both sexes
    select
        country as ref_area, 'GPG_FACTOR_WEIGHTED', 'SEX_T', '_Z', year,
        {{ exact_sum('stratum_workers * stratum_gap') }} / sum(stratum_workers), 'PCT',
        sum(stratum_workers), count(distinct factory_key),
        sum(women), sum(men), count(distinct factory_key), count(distinct factory_key),
        {{ exact_sum('stratum_workers * stratum_gap') }}, sum(stratum_workers)
    from (
        select
            {{ ref_area(pool='pool') }} as country, year, factory_key, occupation,
            count(distinct worker_key) as stratum_workers,
            count(distinct case when sex = 'F' then worker_key end) as women,
            count(distinct case when sex = 'M' then worker_key end) as men,
            100 * ({{ mean_of_parts('hourly_lcu', "sex = 'M'") }} - {{ mean_of_parts('hourly_lcu', "sex = 'F'") }})
                / {{ mean_of_parts('hourly_lcu', "sex = 'M'") }} as stratum_gap
        from worker_strata
        group by grouping sets ((country, year, factory_key, occupation), (pool, year, factory_key, occupation))
    ) as strata
    where women > 0 and men > 0 and stratum_gap is not null and country is not null  -- country-years X_BW leaves out
    group by country, year
),

share_cells as (
    select total.country as ref_area, 'FEMALE_SHARE_WORKFORCE' as indicator, 'SEX_T' as sex, '_Z' as classif1, total.year as time,
        100 * cast(women.n_workers as double) / total.n_workers as obs_value, 'PCT' as unit, total.n_workers, total.n_factories,
        100 * cast(women.n_workers as double) as numerator, cast(total.n_workers as double) as denominator
    from wage_stats as total
    inner join wage_stats as women on women.country = total.country and women.year = total.year and women.sex = 'SEX_F'
    where total.sex = 'SEX_T'
    union all
    select total.country, 'FEMALE_SHARE_SUPERVISORS', 'SEX_T', '_Z', total.year,
        100 * cast(women.n_supervisors as double) / total.n_supervisors, 'PCT', total.n_supervisors, total.n_factories_supervisors,
        100 * cast(women.n_supervisors as double), cast(total.n_supervisors as double)
    from wage_stats as total
    inner join wage_stats as women on women.country = total.country and women.year = total.year and women.sex = 'SEX_F'
    where total.sex = 'SEX_T' and total.n_supervisors > 0
),

{% set survey_cells = [
    ('UNION_MEMBER_RT', 'union_member'),
    ('WS_CONCERN_DANGEROUS_EQUIPMENT_RT', 'concern_dangerous_equipment'),
    ('WS_CONCERN_ACCIDENTS_RT', 'concern_accidents'),
    ('WS_CONCERN_SEXUAL_HARASSMENT_RT', 'concern_sexual_harassment'),
    ('WS_CONCERN_VERBAL_ABUSE_RT', 'concern_verbal_abuse'),
] %}
{% set comfort_cells = [('WS_COMFORT_UNION_RT', 'comfort_union'), ('WS_COMFORT_PICC_RT', 'comfort_picc')] %}

survey_stats as (
    select
        {{ ref_area() }} as country, year,
        {{ sex_code() }} as sex
        {% for indicator, column in survey_cells %}
        , 100 * avg({{ column }}) as {{ column }}_rt
        , 100 * sum({{ column }}) as {{ column }}_num
        , count({{ column }}) as {{ column }}_n
        , count(distinct case when {{ column }} is not null then country || ':' || cast(factory_id as string) end) as {{ column }}_f
        {% endfor %}
        {% for indicator, column in comfort_cells %}
        , 100 * avg(case when {{ column }} between 1 and 5 then case when {{ column }} <= 2 then 1 else 0 end end) as {{ column }}_rt
        , 100 * sum(case when {{ column }} between 1 and 5 then case when {{ column }} <= 2 then 1 else 0 end end) as {{ column }}_num
        , count(case when {{ column }} between 1 and 5 then 1 end) as {{ column }}_n
        , count(distinct case when {{ column }} between 1 and 5 then country || ':' || cast(factory_id as string) end) as {{ column }}_f
        {% endfor %}
    from survey
    group by grouping sets ((country, year, sex), (country, year), (year, sex), (year))
),
survey_cells as (
    {% for indicator, column in survey_cells + comfort_cells %}
    select country as ref_area, '{{ indicator }}' as indicator, sex, '_Z' as classif1, year as time,
        {{ column }}_rt as obs_value, 'PCT' as unit, {{ column }}_n as n_workers, {{ column }}_f as n_factories,
        {{ column }}_num as numerator, {{ column }}_n as denominator
    from survey_stats where {{ column }}_n > 0
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

{% set compliance_levels = [('NC_CLUSTER_RT', 'cluster_code'), ('NC_CP_RT', 'cp_code')] %}
compliance_cells as (
    {% for indicator, level in compliance_levels %}
    select {{ ref_area() }} as ref_area, '{{ indicator }}' as indicator, 'SEX_T' as sex, {{ level }} as classif1, year as time,
        100 * avg(non_compliant) as obs_value, 'PCT' as unit, cast(null as bigint) as n_workers, count(*) as n_factories,
        100 * sum(non_compliant) as numerator, count(*) as denominator
    from (
        select country, year, factory_id, {{ level }}, max(non_compliant) as non_compliant
        from latest_findings
        group by country, year, factory_id, {{ level }}
    ) as factory_level
    group by grouping sets ((country, year, {{ level }}), (year, {{ level }}))
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

worker_reps as (
    select
        {{ ref_area() }} as country, year,
        100 * avg(case when sex = 'F' then 1 else 0 end) as female_share,
        100 * sum(case when sex = 'F' then 1 else 0 end) as female_num, count(*) as members_den,
        count(distinct country || ':' || member_pid) as n_members,
        count(distinct country || ':' || cast(factory_id as string)) as n_factories
    from picc
    where category = 'Workers'
    group by grouping sets ((country, year), (year))
),
-- the workforce of the same factories (distinct payroll workers of the year) for the parity ratio
rep_factories as (select distinct country, year, factory_id from picc where category = 'Workers'),
rep_workforce as (
    select
        {{ ref_area('rep_factories.country') }} as country, rep_factories.year,
        100 * cast(count(distinct case when strata.sex = 'F' then strata.worker_key end) as double) / count(distinct strata.worker_key) as female_share
    from rep_factories
    inner join worker_strata as strata
        on strata.country = rep_factories.country and strata.year = rep_factories.year and strata.factory_id = rep_factories.factory_id
    group by grouping sets ((rep_factories.country, rep_factories.year), (rep_factories.year))
),
picc_sides as (
    select country, year, factory_id,
        max(case when category = 'Workers' then 1 else 0 end) * max(case when category = 'Management' then 1 else 0 end) as both_sides
    from picc
    group by country, year, factory_id
),
active_factories as (
    select factories.country, years.year, factories.factory_id
    from factories
    inner join (select distinct country, year from picc) as years on years.country = factories.country
    where factories.is_active
),
picc_cells as (
    select country as ref_area, 'PICC_FEMALE_SHARE_WORKER_REPS' as indicator, 'SEX_T' as sex, '_Z' as classif1, year as time,
        female_share as obs_value, 'PCT' as unit, n_members as n_workers, n_factories, female_num as numerator, members_den as denominator
    from worker_reps
    union all
    select worker_reps.country, 'PICC_REPRESENTATION_PARITY', 'SEX_T', '_Z', worker_reps.year,
        worker_reps.female_share / rep_workforce.female_share, 'RATIO', worker_reps.n_members, worker_reps.n_factories,
        cast(null as double), cast(null as double)
    from worker_reps
    inner join rep_workforce on rep_workforce.country = worker_reps.country and rep_workforce.year = worker_reps.year
    where rep_workforce.female_share > 0
    union all
    select {{ ref_area('active_factories.country') }}, 'PICC_ACTIVE_RT', 'SEX_T', '_Z', active_factories.year,
        100 * avg(coalesce(picc_sides.both_sides, 0)), 'PCT', cast(null as bigint), count(*),
        100 * sum(coalesce(picc_sides.both_sides, 0)), count(*)
    from active_factories
    left join picc_sides
        on picc_sides.country = active_factories.country and picc_sides.year = active_factories.year
        and picc_sides.factory_id = active_factories.factory_id
    group by grouping sets ((active_factories.country, active_factories.year), (active_factories.year))
),

cells as (
    select *, 'workers' as basis from wage_cells
    union all
    select *, 'workers' from share_cells
    union all
    select *, 'workers' from occupation_cells
    union all
    select *, 'workers' from survey_cells
    union all
    select *, 'factories' from compliance_cells
    union all
    select *, 'workers' from picc_cells where indicator <> 'PICC_ACTIVE_RT'
    union all
    select *, 'factories' from picc_cells where indicator = 'PICC_ACTIVE_RT'
),

final as (
select
    ref_area, indicator, sex, classif1, cast(time as integer) as time, cast(obs_value as double) as obs_value, unit,
    cast(n_workers as bigint) as n_workers, cast(n_factories as bigint) as n_factories, basis,
    cast(null as bigint) as n_workers_f, cast(null as bigint) as n_workers_m,
    cast(null as bigint) as n_factories_f, cast(null as bigint) as n_factories_m,
    cast(numerator as double) as numerator, cast(denominator as double) as denominator
from cells
union all
select
    ref_area, indicator, sex, classif1, cast(time as integer), cast(obs_value as double), unit,
    cast(n_workers as bigint), cast(n_factories as bigint), 'gap',
    n_workers_f, n_workers_m, n_factories_f, n_factories_m,
    cast(numerator as double), cast(denominator as double)
from gap_cells
)

{#- the reference period of each cell (int_coverage): the payroll's months, the months payroll and social security
    both cover for the linked indicators; the other families rest on events of the year, which a note names #}
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
from final
left join {{ ref('int_coverage') }} as coverage
    on coverage.country = final.ref_area and coverage.year = final.time and coverage.family = case
    {%- for family, prefixes in month_families.items() %}{% for prefix in prefixes %}
        when final.indicator like '{{ prefix }}%' then '{{ family }}'
    {%- endfor %}{% endfor %}
    end
where obs_value is not null  -- a mean over no value (an occupation whose hours are all zero, say) is no cell
{#- unit tests (int_indicator_cells.yml) narrow the output to the cells they check: var only_cells = {column: [values]} #}
{%- for column, values in var('only_cells', {}).items() %}
and {{ column }} in ('{{ values | join("', '") }}')
{%- endfor %}
