#!/bin/bash
# cat_consts.sh - copies the constants file of one staging id (main, entry, client,
# client_group) into glidein_config, so that later scripts and the worker see them. A Frontend
# stages it too, for its own constants (GLIDECLIENT_Start, GLIDECLIENT_Group_Start, ...).
# Invoked as: cat_consts.sh <glidein_config> <id>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
id=$2
# shellcheck source=add_config_line.source
source "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)" || exit 1
# shellcheck source=get_id_selectors.source
source "$(gconfig_get GET_ID_SELECTORS_SOURCE)" || exit 1
error_gen=$(gconfig_get ERROR_GEN_PATH)

consts_key="$(get_prefix "$id")CONSTS_FILE"
consts_file=$(gconfig_get "$consts_key")
if [[ -z $consts_file || ! -r $consts_file ]]; then
    "$error_gen" -error cat_consts.sh Corruption "no readable $consts_key for id '$id'" attribute "$consts_key"
    exit 1
fi
count=0
while read -r name value; do
    [ -z "$name" ] || [[ $name == \#* ]] && continue
    if ! [[ $name =~ ^[A-Za-z0-9_]+$ ]]; then
        "$error_gen" -error cat_consts.sh Corruption "bad constant name '$name' in $consts_file"
        exit 1
    fi
    gconfig_add "$name" "$value"
    count=$((count + 1))
done <"$consts_file"
"$error_gen" -ok cat_consts.sh constants_added "$count"
