#!/bin/bash
# singularity_setup.sh - decides whether this glidein's jobs run in Apptainer/Singularity and, if
# so, checks that it works here; upstream's policy (spec/glidein_startup.md §9):
#   the Frontend's GLIDEIN_Singularity_Use (DISABLE_GWMS default, NEVER, OPTIONAL, PREFERRED,
#   REQUIRED) and the entry's GLIDEIN_SINGULARITY_REQUIRE (OPTIONAL default, NEVER, PREFERRED,
#   REQUIRED, REQUIRED_GWMS) combine into: conflict (fails, VO_Config), leave alone, never,
#   preferred (used if it works) or required (fails, WN_Resource, if it does not work).
# The binary: SINGULARITY_BIN (file or dir), OSG_SINGULARITY_BINARY, then apptainer or singularity
# in PATH, then the OSG CVMFS build. The image: SINGULARITY_IMAGES_DICT (name:path,...; default,
# rhel9, rhel8, rhel7 in that order) or SINGULARITY_IMAGE_DEFAULT; restricted to CVMFS unless
# SINGULARITY_IMAGE_RESTRICTIONS is "none"; a missing image fails only if
# SINGULARITY_IMAGE_REQUIRED is true. Published (slot ad and glidein_config): HAS_SINGULARITY,
# GWMS_SINGULARITY_STATUS, SINGULARITY_PATH, SINGULARITY_VERSION, GWMS_SINGULARITY_IMAGE.
# Jobs are wrapped by the Frontend's singularity wrapper (a wrapper file), which reads these.
# Invoked as: singularity_setup.sh <glidein_config> <id>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
# shellcheck source=add_config_line.source
source "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)" || exit 1
error_gen=$(gconfig_get ERROR_GEN_PATH)
condor_vars_file=$(gconfig_get CONDOR_VARS_FILE)

# advertise NAME VALUE TYPE: into glidein_config and, exported, into the slot ad.
advertise() {
    gconfig_add "$1" "$2"
    add_condor_vars_line "$1" "$3" - + N Y -
}

# combine FRONTEND FACTORY: FAIL|DISABLE|NEVER|PREFERRED|REQUIRED, then a reason.
combine() {
    local levels=NEVER,OPTIONAL,PREFERRED,REQUIRED
    [[ ,$levels,DISABLE_GWMS, == *",$1,"* ]] ||
        { echo "FAIL GLIDEIN_Singularity_Use is '$1', not one of $levels,DISABLE_GWMS" && return; }
    [[ ,$levels,REQUIRED_GWMS, == *",$2,"* ]] ||
        { echo "FAIL GLIDEIN_SINGULARITY_REQUIRE is '$2', not one of $levels,REQUIRED_GWMS" && return; }
    case $1/$2 in
        DISABLE_GWMS/REQUIRED_GWMS) echo "FAIL the entry requires Singularity, the VO disables it" ;;
        DISABLE_GWMS/*) echo "DISABLE the VO leaves Singularity alone" ;;
        NEVER/REQUIRED*) echo "FAIL the entry requires Singularity, the VO never uses it" ;;
        NEVER/*) echo "NEVER the VO never uses Singularity" ;;
        OPTIONAL/NEVER | OPTIONAL/OPTIONAL) echo "NEVER neither the VO nor the entry asks for Singularity" ;;
        REQUIRED/NEVER) echo "FAIL the VO requires Singularity, the entry never uses it" ;;
        */REQUIRED*) echo "REQUIRED Singularity is required" ;;
        REQUIRED/*) echo "REQUIRED the VO requires Singularity" ;;
        PREFERRED/NEVER) echo "NEVER the entry never uses Singularity" ;;
        *) echo "PREFERRED Singularity is used if it works" ;;
    esac
}

# without REASON: no Singularity; a failure if it was required.
without() {
    if [ "$status" = REQUIRED ]; then
        "$error_gen" -error singularity_setup.sh WN_Resource "$1" status "$status"
        exit 1
    fi
    advertise HAS_SINGULARITY False C
    advertise GWMS_SINGULARITY_STATUS "$status" S
    "$error_gen" -ok singularity_setup.sh use_singularity False reason "$1"
    exit 0
}

use=$(gconfig_get GLIDEIN_Singularity_Use)
require=$(gconfig_get GLIDEIN_SINGULARITY_REQUIRE)
read -r status reason <<<"$(combine "${use:-DISABLE_GWMS}" "${require:-OPTIONAL}")"
case $status in
    FAIL)
        "$error_gen" -error singularity_setup.sh VO_Config "$reason" attribute GLIDEIN_Singularity_Use
        exit 1
        ;;
    DISABLE) "$error_gen" -ok singularity_setup.sh use_singularity Undefined && exit 0 ;;
    NEVER) without "$reason" ;;
esac

# The image, checked before the binary, as the binary is tested with it.
image=""
images=$(gconfig_get SINGULARITY_IMAGES_DICT)
for platform in default rhel9 rhel8 rhel7; do
    for pair in ${images//,/ }; do
        [ -z "$image" ] && [ "${pair%%:*}" = "$platform" ] && image=${pair#*:}
    done
done
image=${image:-$(gconfig_get SINGULARITY_IMAGE_DEFAULT)}
image_problem=""
if [ -z "$image" ]; then
    image_problem="no Singularity image set (SINGULARITY_IMAGES_DICT, SINGULARITY_IMAGE_DEFAULT)"
elif [ "$(gconfig_get SINGULARITY_IMAGE_RESTRICTIONS)" != none ] && [[ $image != /cvmfs/* ]]; then
    image_problem="the Singularity image $image is not in CVMFS"
elif [ ! -e "$image" ]; then
    image_problem="the Singularity image $image does not exist"
fi
if [ -n "$image_problem" ]; then
    case $(gconfig_get SINGULARITY_IMAGE_REQUIRED) in
        [Tt]rue | TRUE | 1) without "$image_problem" ;;
    esac
    echo "singularity_setup.sh: $image_problem; jobs must bring their own" >&2
    image=""
fi

binary=""
hint=$(gconfig_get SINGULARITY_BIN)
for candidate in "$hint" "$hint/apptainer" "$hint/singularity" "$(gconfig_get OSG_SINGULARITY_BINARY)" \
    "$(command -v apptainer)" "$(command -v singularity)" /cvmfs/oasis.opensciencegrid.org/mis/apptainer/current/bin/apptainer; do
    if [ -z "$binary" ] && [ -n "$candidate" ] && [ -f "$candidate" ] && [ -x "$candidate" ]; then
        binary=$candidate
    fi
done
[ -n "$binary" ] || without "no working Apptainer/Singularity found (SINGULARITY_BIN, PATH=$PATH)"
version=$("$binary" --version 2>/dev/null | head -n 1) || without "$binary --version failed"
[ -n "$version" ] || without "$binary --version says nothing"
if [ -n "$image" ] && ! "$binary" exec --contain "$image" /bin/true </dev/null >/dev/null 2>&1; then
    without "$binary cannot run the image $image"
fi
advertise HAS_SINGULARITY True C
advertise GWMS_SINGULARITY_STATUS "$status" S
advertise SINGULARITY_PATH "$binary" S
advertise SINGULARITY_VERSION "$version" S
[ -z "$image" ] || advertise GWMS_SINGULARITY_IMAGE "$image" S
"$error_gen" -ok singularity_setup.sh use_singularity True version "$version"
