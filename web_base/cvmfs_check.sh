#!/bin/bash
# cvmfs_check.sh - checks the CVMFS repositories the glidein is asked for: GLIDEIN_CVMFS
# (upstream's entry attribute: REQUIRED, PREFERRED, OPTIONAL default, NEVER) says how much they
# matter, GLIDEIN_CVMFS_REPOS (comma separated, e.g. oasis.opensciencegrid.org,cms.cern.ch)
# which ones; GLIDEIN_CVMFS_ROOT (default /cvmfs) is where they are mounted. A repository is
# there when its dir can be listed (which also triggers autofs). Missing ones fail the glidein
# (WN_Resource) when REQUIRED; otherwise they are only published. Published (slot ad and
# glidein_config): HAS_CVMFS, and GLIDEIN_CVMFS_MISSING when some are missing.
# Invoked as: cvmfs_check.sh <glidein_config> <id>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
# shellcheck source=add_config_line.source
source "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)" || exit 1
error_gen=$(gconfig_get ERROR_GEN_PATH)
condor_vars_file=$(gconfig_get CONDOR_VARS_FILE)

level=$(gconfig_get GLIDEIN_CVMFS)
level=${level^^}
repos=$(gconfig_get GLIDEIN_CVMFS_REPOS)
if [ "$level" = NEVER ] || [ -z "$repos" ]; then
    "$error_gen" -ok cvmfs_check.sh cvmfs not_asked
    exit 0
fi
root=$(gconfig_get GLIDEIN_CVMFS_ROOT)
root=${root:-/cvmfs}
missing=""
for repo in ${repos//[,;:]/ }; do
    ls "$root/$repo/" >/dev/null 2>&1 || missing+=${missing:+,}$repo
done
if [ -n "$missing" ] && [ "$level" = REQUIRED ]; then
    "$error_gen" -error cvmfs_check.sh WN_Resource "CVMFS repositories not available under $root: $missing" missing "$missing"
    exit 1
fi
gconfig_add HAS_CVMFS "$([ -z "$missing" ] && echo True || echo False)"
add_condor_vars_line HAS_CVMFS C - + N Y -
if [ -n "$missing" ]; then
    gconfig_add GLIDEIN_CVMFS_MISSING "$missing"
    add_condor_vars_line GLIDEIN_CVMFS_MISSING S - + N Y -
fi
"$error_gen" -ok cvmfs_check.sh cvmfs "${missing:+missing }$repos"
