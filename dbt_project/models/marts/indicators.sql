{#
  The ILOSTAT-shaped long table of sex-disaggregated indicators: the cells of int_indicator_cells after
  disclosure control, which the Dagster asset disclosure/controlled_cells applies in Python
  (assets/disclosure/, docs/disclosure.md): suppressed cells (obs_status C) have neither value nor counts,
  values are rounded to their published precision.
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
    cast(n_factories as bigint) as n_factories
from {{ source('disclosure', 'controlled_cells') }}
