#!/bin/bash
# check_blacklist.sh - fails the glidein (WN_Resource) when this worker node is listed in
# the entry's live-editable nodes.blacklist (spec/config.md §8): one node a line, at column 0,
# in single quotes, as a host name or an IP address.
# Invoked as: check_blacklist.sh <glidein_config> <id>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
id=$2
# shellcheck source=add_config_line.source
source "$(awk '$1 == "ADD_CONFIG_LINE_SOURCE" { v = $2 } END { print v }' "$glidein_config")" || exit 1

blacklist=$(gconfig_get "$(gconfig_id_prefix "$id")BLACKLIST_FILE")
if [ -z "$blacklist" ] || [ ! -s "$blacklist" ]; then
    error_gen -ok check_blacklist.sh
    exit 0
fi

names=("$(uname -n)")
if command -v hostname >/dev/null 2>&1; then
    read -r -a addrs <<<"$(hostname -I 2>/dev/null)"
    names+=("${addrs[@]}")
fi
for name in "${names[@]}"; do
    [ -n "$name" ] || continue
    if grep -qxF "'$name'" "$blacklist"; then
        report_error WN_Resource "worker node $name is in the entry's nodes.blacklist"
    fi
done
error_gen -ok check_blacklist.sh
