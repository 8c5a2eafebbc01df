#!/bin/bash
# setup_checks.sh - checks that the worker node can host the worker: enough free disk in the
# work dir (GLIDEIN_MIN_DISK_MB, default 100), writable work and temp dirs, a sane clock.
# Invoked as: setup_checks.sh <glidein_config> <id>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
# shellcheck source=add_config_line.source
source "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)" || exit 1
error_gen=$(gconfig_get ERROR_GEN_PATH)

# failed TYPE DETAIL: the result document, then the end of this script.
failed() {
    "$error_gen" -error setup_checks.sh "$1" "$2"
    exit 1
}

min_mb=$(gconfig_get GLIDEIN_MIN_DISK_MB)
min_mb=${min_mb:-100}
[[ $min_mb =~ ^[0-9]+$ ]] || failed Config "GLIDEIN_MIN_DISK_MB is not a number: '$min_mb'"
work_dir=$(dirname "$glidein_config")
free_mb=$(df -Pk "$work_dir" | awk 'NR == 2 { print int($4 / 1024) }')
[ -n "$free_mb" ] || failed WN_Resource "cannot measure the free disk of $work_dir"
[ "$free_mb" -ge "$min_mb" ] ||
    failed WN_Resource "only $free_mb MB free in $work_dir, the glidein needs $min_mb MB"
# GLIDEIN_LOG_DIR is ours: under another startup it is not set and the work dir is checked.
for key in GLIDEIN_WORK_DIR TMP_DIR GLIDEIN_LOG_DIR; do
    dir=$(gconfig_get "$key")
    dir=${dir:-$work_dir}
    [[ -d $dir && -w $dir ]] || failed WN_Resource "$key ($dir) is not a writable directory"
done
# A clock before 2020 breaks token and certificate lifetimes.
[ "$(date +%s)" -gt 1577836800 ] || failed WN_Resource "the system clock is wrong: $(date)"
gconfig_add GLIDEIN_FREE_DISK_MB "$free_mb"
"$error_gen" -ok setup_checks.sh free_disk_mb "$free_mb"
