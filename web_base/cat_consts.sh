#!/bin/bash
# cat_consts.sh - appends the constants file of one staging id (main, entry, client,
# client_group) to glidein_config, so that later scripts and the worker see them.
# Invoked as: cat_consts.sh <glidein_config> <id>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
id=$2
# shellcheck source=add_config_line.source
source "$(awk '$1 == "ADD_CONFIG_LINE_SOURCE" { v = $2 } END { print v }' "$glidein_config")" || exit 1

consts_key="$(gconfig_id_prefix "$id")CONSTS_FILE"
consts_file=$(gconfig_get "$consts_key")
[[ -n $consts_file && -r $consts_file ]] ||
    report_error Corruption "no readable $consts_key for id '$id'"
count=0
while read -r name value; do
    [ -z "$name" ] || [[ $name == \#* ]] && continue
    [[ $name =~ ^[A-Za-z0-9_]+$ ]] || report_error Corruption "bad constant name '$name' in $consts_file"
    add_config_line "$name" "$value"
    count=$((count + 1))
done <"$consts_file"
error_gen -ok cat_consts.sh constants_added "$count"
