{#
  The ILOSTAT-shaped long table of sex-disaggregated indicators, disclosure control applied
  (macros/disclosure.sql): suppressed cells keep their counts but lose their value (obs_status C).
#}
with cells as (select * from {{ ref('int_indicator_cells') }}),

primary_control as (
    select
        *,
        case
            when basis = 'gap' and 'C' in ({{ primary_status('n_workers_f', 'n_factories_f') }}, {{ primary_status('n_workers_m', 'n_factories_m') }}) then 'C'
            when basis = 'factories' then {{ primary_status('null', 'n_factories') }}
            else {{ primary_status('n_workers', 'n_factories') }}
        end as primary_status
    from cells
),
secondary_control as (
    select
        *,
        max(case when sex in ('SEX_F', 'SEX_M') and primary_status = 'C' then 1 else 0 end)
            over (partition by ref_area, indicator, classif1, time) as one_sex_suppressed
    from primary_control
),
controlled as (
    select
        *,
        case when primary_status = 'C' or (sex in ('SEX_F', 'SEX_M') and one_sex_suppressed = 1) then 'C'
             else nullif(primary_status, '') end as status
    from secondary_control
),
-- X_BW less the published countries would give a lone suppressed country away: the pooled cell is then
-- suppressed too, and with it the pooled cell of the other sex (as above)
pooled_margin as (
    select
        *,
        sum(case when ref_area <> 'X_BW' and status = 'C' then 1 else 0 end)
            over (partition by indicator, sex, classif1, time) as countries_suppressed
    from controlled
),
pooled_control as (
    select
        *,
        case when status = 'C' or (ref_area = 'X_BW' and countries_suppressed = 1) then 'C'
             when ref_area = 'X_BW' and sex in ('SEX_F', 'SEX_M')
                 and max(case when sex in ('SEX_F', 'SEX_M') and countries_suppressed = 1 then 1 else 0 end)
                     over (partition by ref_area, indicator, classif1, time) = 1 then 'C'
             else status end as pooled_status
    from pooled_margin
)

select
    ref_area,
    indicator,
    sex,
    classif1,
    time,
    case when pooled_status = 'C' then null else obs_value end as obs_value,
    pooled_status as obs_status,
    unit,
    n_workers,
    n_factories
from pooled_control
