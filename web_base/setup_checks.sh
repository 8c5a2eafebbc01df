#!/bin/bash
# setup_checks.sh - checks that the worker node can host the worker: enough free disk in the
# work dir (GLIDEIN_MIN_DISK_MB, default 100), writable work and temp dirs, a sane clock.
# Invoked as: setup_checks.sh <glidein_config> <id>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
# shellcheck source=add_config_line.source
source "$(awk '$1 == "ADD_CONFIG_LINE_SOURCE" { v = $2 } END { print v }' "$glidein_config")" || exit 1

min_mb=$(gconfig_get GLIDEIN_MIN_DISK_MB)
min_mb=${min_mb:-100}
[[ $min_mb =~ ^[0-9]+$ ]] || report_error Config "GLIDEIN_MIN_DISK_MB is not a number: '$min_mb'"
work_dir=$(dirname "$glidein_config")
free_mb=$(df -Pk "$work_dir" | awk 'NR == 2 { print int($4 / 1024) }')
[ -n "$free_mb" ] || report_error WN_Resource "cannot measure the free disk of $work_dir"
[ "$free_mb" -ge "$min_mb" ] ||
    report_error WN_Resource "only $free_mb MB free in $work_dir, the glidein needs $min_mb MB"
for key in GLIDEIN_WORK_DIR TMP_DIR GLIDEIN_LOG_DIR; do
    dir=$(gconfig_get "$key")
    [[ -d $dir && -w $dir ]] || report_error WN_Resource "$key ($dir) is not a writable directory"
done
# A clock before 2020 breaks token and certificate lifetimes.
[ "$(date +%s)" -gt 1577836800 ] || report_error WN_Resource "the system clock is wrong: $(date)"
add_config_line GLIDEIN_FREE_DISK_MB "$free_mb"
error_gen -ok setup_checks.sh free_disk_mb "$free_mb"
