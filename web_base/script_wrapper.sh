#!/bin/bash
# script_wrapper.sh - runs a periodic script (file list period > 0) as an HTCondor startd cron
# job, the way it ran at startup: <script> <glidein_config> <id>, in a private temp dir, its own
# output kept off the slot ad. The cron job's stdout is the ad update (attribute names get the
# job's PREFIX, GLIDEIN_PS_ by default):
#   OK = true|false, LAST_SCRIPT = "<name>", and on failure FAILED_LAST_REASON = "<detail>"
# glidein_config gets GLIDEIN_PS_FAILING_LIST (scripts whose last run failed), under a lock as
# several cron jobs may run at once.
# Invoked (from condor_config_startd_cron_include) as:
#   script_wrapper.sh <glidein_config> <id> <cron name> <script> [<prefix>]
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
s_id=$2
s_name=$3
s_fname=$4
# shellcheck source=add_config_line.source
source "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)" || exit 1

# ad_quote TEXT: a ClassAd string literal on one line.
ad_quote() {
    local v=${1//[$'\n\r\t']/ }
    v=${v//\\/\\\\}
    printf '"%s"' "${v//\"/\\\"}"
}

# failing_list add|del: keep this cron job's name in (or out of) GLIDEIN_PS_FAILING_LIST.
failing_list() {
    local list
    list=",$(gconfig_get GLIDEIN_PS_FAILING_LIST),"
    list=${list//,$s_name,/,}
    [ "$1" = del ] || list+="$s_name,"
    list=${list#,}
    gconfig_add_safe GLIDEIN_PS_FAILING_LIST "${list%,}"
}

tmp_dir=$(mktemp -d "$(dirname "$glidein_config")/ps_XXXXXX") || exit 1
trap 'rm -rf "$tmp_dir"' EXIT
cd "$tmp_dir" || exit 1
"$s_fname" "$glidein_config" "$s_id" </dev/null >&2
rc=$?
echo "LAST_SCRIPT = $(ad_quote "${s_fname##*/}")"
if [ "$rc" -eq 0 ]; then
    failing_list del
    echo "OK = true"
else
    reason="exit code $rc"
    [ -f otrb_output.xml ] && reason=$(sed -n 's:.*<detail>\(.*\)</detail>.*:\1:p' otrb_output.xml | head -n 1)
    failing_list add
    echo "OK = false"
    echo "FAILED_LAST_REASON = $(ad_quote "$reason")"
fi
echo "-"
