{# OSH, all countries side by side and pooled (X_BW). #}
{% set columns = [('nc_osh_rt', 'NC_CLUSTER_RT', 'CLU_OSH'), ('nc_emergency_preparedness_rt', 'NC_CP_RT', 'CP_EMERGENCY_PREPAREDNESS'), ('nc_worker_protection_rt', 'NC_CP_RT', 'CP_WORKER_PROTECTION'), ('nc_working_time_rt', 'NC_CLUSTER_RT', 'CLU_WORKING_TIME'), ('ws_concern_dangerous_equipment_rt', 'WS_CONCERN_DANGEROUS_EQUIPMENT_RT', '_Z'), ('ws_concern_accidents_rt', 'WS_CONCERN_ACCIDENTS_RT', '_Z')] %}
{{ wide_mart(columns, by_sex=true, pooled=true) }}
