#!/bin/bash
# condor_platform_select.sh - picks the one HTCondor tarball this node can run among those the
# main untar.cfg lists (condor_bin_<version>-<os>-<arch>.tgz, spec/glidein_startup.md §3) and
# sets CONDOR_PLATFORM_<version>-<os>-<arch> to 1, so that only that tarball is downloaded
# (its cond_download). An exact OS/arch match wins over "default". No tarball at all is fine:
# the embedded pool's worker stand-in needs none.
# Invoked as: condor_platform_select.sh <glidein_config> <id>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
# shellcheck source=add_config_line.source
source "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)" || exit 1
error_gen=$(gconfig_get ERROR_GEN_PATH)

untar_cfg=$(gconfig_get UNTAR_CFG_FILE)
platforms=()
if [ -r "$untar_cfg" ]; then
    while read -r target _; do
        [[ $target =~ ^condor_bin_(.+)\.tgz$ ]] && platforms+=("${BASH_REMATCH[1]}")
    done <"$untar_cfg"
fi
if [ "${#platforms[@]}" -eq 0 ]; then
    "$error_gen" -ok condor_platform_select.sh condor_platform none
    exit 0
fi

# This node's names: e.g. rhel9 (also for EL rebuilds), debian12, and the machine arch.
arch=$(uname -m)
os_names=()
if [ -r /etc/os-release ]; then
    # shellcheck disable=SC1091  # the node's own file
    os_id=$(. /etc/os-release && echo "${ID:-} ${ID_LIKE:-}|${VERSION_ID%%.*}")
    major=${os_id#*|}
    for name in ${os_id%|*}; do
        case $name in
            rhel | centos | almalinux | rocky | fedora) os_names+=("rhel$major") ;;
            *) os_names+=("$name$major") ;;
        esac
    done
fi

chosen=""
for wanted_os in "${os_names[@]}" default; do
    for wanted_arch in "$arch" default; do
        for platform in "${platforms[@]}"; do
            p_arch=${platform##*-}
            rest=${platform%-*}
            p_os=${rest##*-}
            if [ -z "$chosen" ] && [ "$p_os" = "$wanted_os" ] && [ "$p_arch" = "$wanted_arch" ]; then
                chosen=$platform
            fi
        done
    done
done
if [ -z "$chosen" ]; then
    "$error_gen" -error condor_platform_select.sh WN_Resource \
        "no HTCondor tarball for this node (${os_names[*]:-unknown os}, $arch) among: ${platforms[*]}"
    exit 1
fi
gconfig_add "CONDOR_PLATFORM_$chosen" 1
"$error_gen" -ok condor_platform_select.sh condor_platform "$chosen"
