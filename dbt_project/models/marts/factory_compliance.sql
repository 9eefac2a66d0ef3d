{#
  Transparency-Portal-style factory compliance: the latest assessment (largest Quest ID) of every
  factory with at least two assessments, with its findings on the publicly disclosed issues
  (Tags "Public Disclosure"). Factory-level by design: it names factories, never workers.
#}
with findings as (select * from {{ ref('stg_assessments') }} where question_type = 'NCQ' and is_public_disclosure),

assessments as (select distinct country, factory_id, assessment_id, assessment_start_date, cycle from {{ ref('stg_assessments') }}),

factories as (select * from {{ ref('stg_factories') }}),

ranked as (
    select
        *,
        count(*) over (partition by country, factory_id) as n_assessments,
        row_number() over (partition by country, factory_id order by assessment_id desc) as recency
    from assessments
)

select
    ranked.country,
    ranked.factory_id,
    factories.factory_name,
    ranked.assessment_id,
    ranked.assessment_start_date,
    ranked.cycle,
    ranked.n_assessments,
    findings.cluster_code,
    findings.cp_code,
    findings.question_id,
    findings.question_key,
    findings.question_label,
    findings.non_compliant
from ranked
inner join findings on findings.country = ranked.country and findings.assessment_id = ranked.assessment_id
left join factories on factories.country = ranked.country and factories.factory_id = ranked.factory_id
where ranked.recency = 1 and ranked.n_assessments >= 2
