{#
  The country programmes that publish a low-compliance list, with their rule (seed ref_low_compliance_lists, where
  published = true). A model of its own so that the mart low_compliance reads no seed: a national refresh loads no
  seeds (assets/dbt_models.py), and a published mart waiting on a seed would be skipped.
#}
select
    iso3 as country,
    min_assessments,
    sd_below,
    rule
from {{ ref('ref_low_compliance_lists') }}
where published
