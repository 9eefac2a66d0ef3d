{#
  Findings with cluster / compliance-point codes ("Systems" merged into OSH by the seed) and one key and
  label per question: labels are cleaned ("\r\n", trailing " ?" / " *" removed), then the wordings that
  drift across tool versions map onto one question_key and canonical label (seed ref_question_labels).
#}
with source as (
    select
        *,
        trim({{ replace_all(replace_all('question_label', '[\r\n]+', ' '), '[ \t]*[?*][ \t]*$', '') }}) as clean_label
    from {{ source('extracts', 'assessments') }}
),

clusters as (select * from {{ ref('ref_clusters') }}),

points as (select * from {{ ref('ref_compliance_points') }}),

labels as (select * from {{ ref('ref_question_labels') }})

select
    source.country,
    source.assessment_id,
    source.factory_id,
    source.cycle,
    source.assessment_start_date,
    cast(extract(year from source.assessment_start_date) as integer) as year,
    source.cluster as cluster_label,
    clusters.cluster_code,
    source.compliance_point as cp_label,
    coalesce(points.cp_code, 'CP_' || upper({{ trim_chars(replace_all('source.compliance_point', '[^A-Za-z0-9]+', '_'), '_') }}))
        as cp_code,
    source.question_id,
    coalesce(labels.question_key, source.question_id) as question_key,
    coalesce(labels.canonical_label, source.clean_label) as question_label,
    source.question_type,
    source.finding,
    case when source.question_type = 'NCQ' then cast(source.finding as integer) end as non_compliant,
    coalesce(source.tags, '') like '%Public Disclosure%' as is_public_disclosure,
    source.tool_name
from source
left join clusters on clusters.cluster_label = source.cluster
left join points on points.cp_label = source.compliance_point
left join labels on labels.label_variant = source.clean_label
