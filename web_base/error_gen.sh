#!/bin/bash
# error_gen.sh - writes a validation script's result document otrb_output.xml in the
# current dir (spec/glidein_startup.md §5).
#   error_gen.sh -ok <name> [metric value]...
#   error_gen.sh -error <name> <type> "<detail>" [metric value]...
# Failure types: WN_Resource Network Config VO_Config Corruption VO_Proxy (upstream scripts also
# say Unknown); any single word is kept as given. Scripts find it as ERROR_GEN_PATH in
# glidein_config and run it: "$(gconfig_get ERROR_GEN_PATH)" -ok my_check.sh.
#
# SPDX-License-Identifier: Apache-2.0

xml_escape() {
    local s=$1
    s=${s//&/&amp;}
    s=${s//</&lt;}
    s=${s//>/&gt;}
    s=${s//\"/&quot;}
    printf '%s' "$s"
}

usage() {
    echo "Usage: error_gen.sh -ok NAME [METRIC VALUE]... | -error NAME TYPE DETAIL [METRIC VALUE]..." >&2
    exit 1
}

# metrics TS NAME VALUE...: one <metric> line per pair.
metrics() {
    local ts=$1
    shift
    while [ $# -ge 2 ]; do
        echo "    <metric name=\"$(xml_escape "$1")\" ts=\"$ts\" uri=\"local\">$(xml_escape "$2")</metric>"
        shift 2
    done
    [ $# -eq 0 ] || usage
}

[ $# -ge 2 ] || usage
mode=$1
name=$2
shift 2
ts=$(date +%Y-%m-%dT%H:%M:%S%:z)
case $mode in
    -ok)
        body="  <result>
    <status>OK</status>
$(metrics "$ts" "$@")
  </result>"
        ;;
    -error)
        [ $# -ge 2 ] || usage
        [[ $1 =~ ^[A-Za-z_]+$ ]] || { echo "error_gen.sh: bad failure type '$1'" >&2 && exit 1; }
        ftype=$1
        detail=$2
        shift 2
        body="  <result>
    <status>ERROR</status>
    <metric name=\"failure\" ts=\"$ts\" uri=\"local\">$ftype</metric>
$(metrics "$ts" "$@")
  </result>
  <detail>$(xml_escape "${detail//[$'\n\r']/ }")</detail>"
        ;;
    *) usage ;;
esac
tmp=$(mktemp otrb_output.xml.XXXXXX) || exit 1
{
    echo '<?xml version="1.0"?>'
    echo "<OSGTestResult id=\"$(xml_escape "$name")\" version=\"4.3.1\">"
    printf '%s\n' "$body" | sed '/^$/d'
    echo "</OSGTestResult>"
} >"$tmp" && mv -f "$tmp" otrb_output.xml
