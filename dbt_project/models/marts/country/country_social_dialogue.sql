{# Social dialogue by country, year and sex (factory-based rates on the SEX_T row). #}
{% set columns = [('picc_active_rt', 'PICC_ACTIVE_RT', '_Z'), ('union_member_rt', 'UNION_MEMBER_RT', '_Z'), ('ws_comfort_union_rt', 'WS_COMFORT_UNION_RT', '_Z'), ('ws_comfort_picc_rt', 'WS_COMFORT_PICC_RT', '_Z'), ('ws_concern_sexual_harassment_rt', 'WS_CONCERN_SEXUAL_HARASSMENT_RT', '_Z'), ('ws_concern_verbal_abuse_rt', 'WS_CONCERN_VERBAL_ABUSE_RT', '_Z'), ('nc_foa_cb_rt', 'NC_CLUSTER_RT', 'CLU_FOA_CB')] %}
{{ wide_mart(columns, by_sex=true, pooled=false) }}
