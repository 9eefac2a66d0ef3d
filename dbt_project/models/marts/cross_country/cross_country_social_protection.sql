{# Social protection, all countries side by side and pooled (X_BW). #}
{% set columns = [('ss_registered_rt', 'SS_REGISTERED_RT', '_Z'), ('ss_contrib_paid_rt', 'SS_CONTRIB_PAID_RT', '_Z'), ('ss_contrib_gap_rt', 'SS_CONTRIB_GAP_RT', '_Z')] %}
{{ wide_mart(columns, by_sex=true, pooled=true) }}
