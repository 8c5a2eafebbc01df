#!/bin/bash
# report_failed.sh - while a failed glidein lingers (spec/glidein_startup.md §6), tells the pools
# it failed: a failed, unclaimable slot ad every 5 minutes to the frontend's collector
# (GLIDEIN_Collector) if GLIDEIN_Report_Failed allows it, and to the factory's
# (GLIDEIN_Factory_Collector) if GLIDEIN_Factory_Report_Failed does; invalidated at the end.
# Values: NEVER; ALIVEONLY (the ad says only that the glidein failed); ALWAYS (it also says
# which script failed and why). Defaults: NEVER, and ALIVEONLY for the factory when
# GLIDEIN_Factory_Collector is set.
# Invoked by glidein_startup.sh as: report_failed.sh <glidein_config> <linger s> <script> <detail>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
linger=$2
failed_script=$3
detail=$4
# shellcheck source=add_config_line.source
source "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)" || exit 1
# shellcheck source=worker_ad.source
source "$(gconfig_get WORKER_AD_SOURCE)" || exit 1

readonly REPORT_INTERVAL=300
work_dir=$(dirname "$glidein_config")
log_dir=$(gconfig_get GLIDEIN_LOG_DIR)
log_dir=${log_dir:-$work_dir/log}
mkdir -p "$log_dir"
log_file=$log_dir/FailureReportLog
header=$work_dir/collector_auth_header
end_epoch=$(($(date +%s) + linger))
stop_on_term

# Collector list -> the mode it is reported with, for each pool that wants reports.
declare -A modes
frontend_mode=$(gconfig_get GLIDEIN_Report_Failed)
factory_mode=$(gconfig_get GLIDEIN_Factory_Report_Failed)
factory_collector=$(gconfig_get GLIDEIN_Factory_Collector)
[ -n "$factory_mode" ] || { [ -n "$factory_collector" ] && factory_mode=ALIVEONLY; }
for pair in "${frontend_mode:-NEVER} $(gconfig_get GLIDEIN_Collector)" \
    "${factory_mode:-NEVER} $factory_collector"; do
    mode=${pair%% *}
    collectors=${pair#* }
    case $mode in
        ALIVEONLY | ALWAYS) [ -z "$collectors" ] || modes[$collectors]=$mode ;;
    esac
done

# failed_ad MODE: the glidein's identity, unclaimable, and with ALWAYS what failed.
failed_ad() {
    glidein_ad_attrs
    cat <<EOF
State = "Owner"
Activity = "Idle"
Start = false
GLIDEIN_Failed = true
ClassAdLifetime = $((2 * REPORT_INTERVAL))
EOF
    if [ "$1" = ALWAYS ]; then
        echo "GLIDEIN_Failed_Script = $(ad_string "$failed_script")"
        echo "GLIDEIN_Failure_Detail = $(ad_string "$detail")"
    fi
}

if [ "${#modes[@]}" -gt 0 ] && command -v curl >/dev/null 2>&1; then
    worker_auth_header "$header"
    while [ -z "$terminated" ]; do
        for collectors in "${!modes[@]}"; do
            failed_ad "${modes[$collectors]}" >"$work_dir/failed_ad"
            post_to_collectors "$collectors" "$header" \
                "/v1/collector/advertise?command=UPDATE_STARTD_AD" "$work_dir/failed_ad" "$log_file"
        done
        pause_until "$end_epoch" "$REPORT_INTERVAL"
        [ "$(date +%s)" -lt "$end_epoch" ] || break
    done
    invalidate_query >"$work_dir/failed_ad"
    for collectors in "${!modes[@]}"; do
        post_to_collectors "$collectors" "$header" \
            "/v1/collector/invalidate?command=INVALIDATE_STARTD_ADS" "$work_dir/failed_ad" "$log_file"
    done
    rm -f "$header"
else
    pause_until "$end_epoch" "$linger"
fi
exit 0
