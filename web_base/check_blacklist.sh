#!/bin/bash
# check_blacklist.sh - fails the glidein (WN_Resource) when this worker node is listed in the
# live-editable nodes.blacklist of its staging id: the factory entry's (spec/config.md §8) or
# the Frontend's (main or group), which stage their own copy. One node a line, at column 0, in
# single quotes, as a host name or an IP address; anything after the closing quote is ignored.
# Invoked as: check_blacklist.sh <glidein_config> <id>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
id=$2
# shellcheck source=add_config_line.source
source "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)" || exit 1
# shellcheck source=get_id_selectors.source
source "$(gconfig_get GET_ID_SELECTORS_SOURCE)" || exit 1
error_gen=$(gconfig_get ERROR_GEN_PATH)

blacklist=$(gconfig_get "$(get_prefix "$id")BLACKLIST_FILE")
if [ -z "$blacklist" ] || [ ! -s "$blacklist" ]; then
    "$error_gen" -ok check_blacklist.sh
    exit 0
fi

names=("$(uname -n)")
if command -v hostname >/dev/null 2>&1; then
    read -r -a addrs <<<"$(hostname -I 2>/dev/null)"
    names+=("${addrs[@]}")
fi
for name in "${names[@]}"; do
    [ -n "$name" ] || continue
    if awk -v n="'$name'" 'index($0, n) == 1 { found = 1 } END { exit !found }' "$blacklist"; then
        "$error_gen" -error check_blacklist.sh WN_Resource \
            "worker node $name is in the ${id}'s nodes.blacklist" node "$name"
        exit 1
    fi
done
"$error_gen" -ok check_blacklist.sh
