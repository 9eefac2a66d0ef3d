{#
  Statistical disclosure control, the one place it is applied (spec/indicators.md).
  Input: a relation of indicator cells with n_workers (null for factory-based cells), n_factories,
  obs_value and, for gaps, n_workers_f / n_workers_m / n_factories_f / n_factories_m of the two sexes.
  Primary: worker-based cell < sdc_min_workers workers or < sdc_min_factories factories -> C;
           factory-based cell < sdc_min_factories factories -> C; < sdc_unreliable_workers workers -> U.
  Secondary: within one (ref_area, indicator, classif1, time), if SEX_F or SEX_M is suppressed the
           other sex is suppressed too (SEX_T minus one sex would reveal it); a gap is suppressed when
           the cell of either sex it rests on would be.
#}
{% macro primary_status(n_workers, n_factories) -%}
    case
        when {{ n_factories }} < {{ var('sdc_min_factories') }} then 'C'
        when {{ n_workers }} is not null and {{ n_workers }} < {{ var('sdc_min_workers') }} then 'C'
        when {{ n_workers }} is not null and {{ n_workers }} < {{ var('sdc_unreliable_workers') }} then 'U'
        else ''
    end
{%- endmacro %}
