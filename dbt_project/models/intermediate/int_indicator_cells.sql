{#
  Every indicator cell of the catalogue (docs/indicators.md) before disclosure control, in the long shape:
  ref_area, indicator, sex, classif1, time, obs_value, unit, n_workers, n_factories, basis
  (`workers` | `factories` | `gap`), for gaps the counts of each sex the gap rests on, numerator and denominator,
  months_covered and coverage. One model per topic (int_cells_<topic>, ephemeral: compiled into this one query,
  so that rebuilding this model alone rebuilds every cell); disclosure control (assets/disclosure/) reads this table.
#}
select * from {{ ref('int_cells_wages') }}
union all
select * from {{ ref('int_cells_gender_gaps') }}
union all
select * from {{ ref('int_cells_osh') }}
union all
select * from {{ ref('int_cells_social_dialogue') }}
union all
select * from {{ ref('int_cells_social_protection') }}
