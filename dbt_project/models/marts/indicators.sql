{#
  The ILOSTAT-shaped long table of sex-disaggregated indicators: the cells of int_indicator_cells after
  disclosure control, which the Dagster asset disclosure/controlled_cells applies in Python
  (assets/disclosure/, docs/disclosure.md): suppressed cells (obs_status C) have neither value nor counts,
  values are rounded to their published precision, a year of fewer than 12 months is provisional (P), each cell
  says what it covers (int_coverage), and X_BW's gender pay gaps are the employment-weighted average of the
  published national gaps (assets/disclosure/control.py: pooled_gaps).
#}
{{ config(pre_hook="{{ register_disclosure_source() }}") }}
select
    cast(ref_area as string) as ref_area,
    cast(indicator as string) as indicator,
    cast(sex as string) as sex,
    cast(classif1 as string) as classif1,
    cast(time as integer) as time,
    cast(obs_value as double) as obs_value,
    cast(obs_status as string) as obs_status,
    cast(unit as string) as unit,
    cast(n_workers as bigint) as n_workers,
    cast(n_factories as bigint) as n_factories,
    cast(months_covered as integer) as months_covered,
    cast(coverage as string) as coverage
from {{ source('disclosure', 'controlled_cells') }}
