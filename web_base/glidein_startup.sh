#!/bin/bash
# glidein_startup.sh - the glidein (pilot job) of glideinwms-factory.
#
# Runs on a bare worker node with only bash, a POSIX userland and curl or wget (no python).
# It fetches its files from the factory's (and frontend's) web staging area, verifies each one
# against the signature chain rooted in the hashes on its command line, runs the validation
# scripts, then hands over to the last script (condor_startup.sh), which starts the worker.
# The protocol it follows is spec/glidein_startup.md.
#
# SPDX-License-Identifier: Apache-2.0

# "check && check || fail" is meant throughout: fail when any of the checks fails.
# shellcheck disable=SC2015

export LC_ALL=C
umask 0022

readonly PROG=glidein_startup.sh
start_epoch=$(date +%s)

usage_error() {
    echo "$PROG: $1" >&2
    cat >&2 <<'EOF'
Usage: glidein_startup.sh -name NAME -entry ENTRY -web URL -sign HASH -signentry HASH
         -descript FILE -descriptentry FILE [-v std|nodebug|fast|check] [-factory NAME]
         [-clientname NAME] [-schedd NAME] [-proxy URL|None|OSG] [-signtype sha1|sha256]
         [-dir .|Condor|OSG|TMPDIR|AUTO|PATH] [-slotslayout fixed|partitionable]
         [-clientweb URL -clientsign HASH -clientsigntype T -clientdescript FILE]
         [-clientgroup G -clientwebgroup URL -clientsigngroup HASH -clientdescriptgroup FILE]
         [-submitcredid ID] [-cluster N] [-subcluster N] [-multiglidein N] [-multirestart I]
         [-param_NAME VALUE]...
EOF
    exit 1
}

# Parameter values arrive escaped (.dot, .nbsp, ...) so that they survive every layer of
# quoting between the factory and here; decode them in one left-to-right pass.
decode_param() {
    local rest=$1 out="" code ch
    while [[ $rest == *.* ]]; do
        out+=${rest%%.*}
        rest=${rest#*.}
        ch=""
        if [[ $rest == *,* ]]; then
            code=${rest%%,*}
            case $code in
                dot) ch=. ;; comma) ch=, ;; amp) ch='&' ;; backslash) ch="\\" ;;
                pipe) ch='|' ;; fork) ch='`' ;; quot) ch='"' ;; singquot) ch="'" ;;
                eq) ch='=' ;; plus) ch='+' ;; minus) ch='-' ;; lt) ch='<' ;; gt) ch='>' ;;
                open) ch='(' ;; close) ch=')' ;; gopen) ch='{' ;; gclose) ch='}' ;;
                sopen) ch='[' ;; sclose) ch=']' ;; comment) ch='#' ;; dollar) ch='$' ;;
                star) ch='*' ;; question) ch='?' ;; not) ch='!' ;; tilde) ch='~' ;;
                colon) ch=: ;; semicolon) ch=';' ;; nbsp) ch=' ' ;;
            esac
        fi
        if [ -n "$ch" ]; then
            out+=$ch
            rest=${rest#*,}
        else
            out+=.
        fi
    done
    out+=$rest
    printf '%s' "${out//[$'\n\r']/ }"
}

############################################################
# Command line (spec §1)
operation_mode=std
sign_type=sha1
client_sign_type=sha1
work_dir_spec=.
proxy_url=None
slots_layout=partitionable
multi_glidein=""
multi_restart=""
glidein_name="" glidein_entry="" repository_url="" sign_sha="" sign_entry_sha=""
descript_file="" descript_entry_file="" glidein_factory="" client_name="" client_group=""
condorg_schedd="" condorg_cluster="" condorg_subcluster="" submit_cred_id=""
client_repository_url="" client_sign_sha="" client_descript_file=""
client_repository_group_url="" client_sign_group_sha="" client_descript_group_file=""
params_config=""

[ $# -gt 0 ] || usage_error "no arguments"
orig_args=("$@")
while [ $# -gt 0 ]; do
    opt=$1
    [ $# -ge 2 ] || usage_error "option '$opt' needs a value"
    val=$2
    shift 2
    case $opt in
        -v) operation_mode=$val ;;
        -name) glidein_name=$val ;;
        -entry) glidein_entry=$val ;;
        -clientname) client_name=$val ;;
        -clientgroup) client_group=$val ;;
        -schedd) condorg_schedd=$val ;;
        -proxy) proxy_url=$val ;;
        -factory) glidein_factory=$val ;;
        -web) repository_url=$val ;;
        -sign) sign_sha=$val ;;
        -signentry) sign_entry_sha=$val ;;
        -signtype) sign_type=$val ;;
        -descript) descript_file=$val ;;
        -descriptentry) descript_entry_file=$val ;;
        -clientweb) client_repository_url=$val ;;
        -clientsign) client_sign_sha=$val ;;
        -clientsigntype) client_sign_type=$val ;;
        -clientdescript) client_descript_file=$val ;;
        -clientwebgroup) client_repository_group_url=$val ;;
        -clientsigngroup) client_sign_group_sha=$val ;;
        -clientdescriptgroup) client_descript_group_file=$val ;;
        -dir) work_dir_spec=$val ;;
        -slotslayout) slots_layout=$val ;;
        -submitcredid) submit_cred_id=$val ;;
        -cluster) condorg_cluster=$val ;;
        -subcluster) condorg_subcluster=$val ;;
        -multiglidein) multi_glidein=$val ;;
        -multirestart) multi_restart=$val ;;
        -param_*)
            pname=${opt#-param_}
            [[ $pname =~ ^[A-Za-z0-9_]+$ ]] || usage_error "bad parameter name in '$opt'"
            params_config+="$pname $(decode_param "$val")"$'\n'
            ;;
        *) usage_error "unknown option '$opt'" ;;
    esac
done

for required in glidein_name glidein_entry repository_url sign_sha sign_entry_sha \
    descript_file descript_entry_file; do
    [ -n "${!required}" ] || usage_error "missing required option for $required"
done
case $operation_mode in
    std | nodebug) failure_sleep=1199 ;;
    fast) failure_sleep=150 ;;
    check) failure_sleep=150 && set -x ;;
    *) usage_error "-v must be std, nodebug, fast or check, not '$operation_mode'" ;;
esac
# Hand runs (gwms-local-glidein) and tests shorten the linger on failure; factories never do.
[[ ${GWMS_GLIDEIN_FAILURE_SLEEP:-} =~ ^[0-9]+$ ]] && failure_sleep=$GWMS_GLIDEIN_FAILURE_SLEEP
for t in "$sign_type" "$client_sign_type"; do
    case $t in sha1 | sha256) ;; *) usage_error "unsupported signature type '$t'" ;; esac
done
if [ -n "$client_repository_url" ] && { [ -z "$client_sign_sha" ] || [ -z "$client_descript_file" ]; }; then
    usage_error "-clientweb needs -clientsign and -clientdescript"
fi
if [ -n "$client_repository_group_url" ]; then
    [ -n "$client_group" ] && [ -n "$client_sign_group_sha" ] && [ -n "$client_descript_group_file" ] ||
        usage_error "-clientwebgroup needs -clientgroup, -clientsigngroup and -clientdescriptgroup"
    [ -n "$client_repository_url" ] || usage_error "-clientwebgroup needs -clientweb"
fi
[[ ${slots_layout,,} == *fixed* ]] && slots_layout=fixed || slots_layout=partitionable
[[ -z $multi_glidein || $multi_glidein =~ ^[0-9]+$ ]] || usage_error "-multiglidein needs a number"
# shellcheck disable=SC2001  # the multi-line match is easier to read with sed
[ -n "$multi_glidein" ] || multi_glidein=$(echo "$params_config" | sed -n 's/^GLIDEIN_MULTIGLIDEIN \([0-9][0-9]*\)$/\1/p' | tail -n 1)

############################################################
# Multi-glidein: the parent only starts N copies of itself and waits for them.
if [ -n "$multi_glidein" ] && [ "$multi_glidein" -gt 1 ] && [ -z "$multi_restart" ]; then
    echo "=== Starting $multi_glidein glideins ==="
    pids=()
    trap 'kill -TERM "${pids[@]}" 2>/dev/null' TERM INT
    for i in $(seq 1 "$multi_glidein"); do
        bash "$0" "${orig_args[@]}" -multirestart "$i" &
        pids+=($!)
    done
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null; do wait "$pid"; done
    done
    exit 0
fi

############################################################
# Output helpers
now_iso() { date +%Y-%m-%dT%H:%M:%S%:z; }

xml_escape() {
    local s=$1
    s=${s//&/&amp;}
    s=${s//</&lt;}
    s=${s//>/&gt;}
    s=${s//\"/&quot;}
    printf '%s' "$s"
}

# add_config_line KEY VALUE: one line per key, as upstream scripts read glidein_config with
# `grep '^KEY '` (add_config_line.source does the same for the scripts).
add_config_line() {
    local tmp
    tmp=$(mktemp "$glidein_config.XXXXXX") && awk -v k="$1" '$1 != k' "$glidein_config" >"$tmp" &&
        echo "$1 $2" >>"$tmp" && mv -f "$tmp" "$glidein_config"
}

gconfig_get() {
    [ -f "$glidein_config" ] || return 0
    awk -v k="$1" '$1 == k { sub(/^[^ ]+ ?/, ""); v = $0 } END { printf "%s", v }' "$glidein_config"
}

failed_script=""
failure_detail=""
failure_type=""

# Final report (spec §6): stdout trailer and short XML; stderr encoded long XML.
write_summary() {
    local rc=$1 status=OK metric="" end_epoch
    end_epoch=$(date +%s)
    if [ "$rc" -ne 0 ]; then
        status=ERROR
        metric="    <metric name=\"TestID\" ts=\"$(now_iso)\" uri=\"local\">$(xml_escape "${failed_script:-glidein_startup.sh}")</metric>"$'\n'
        [ -z "$failure_type" ] ||
            metric+="    <metric name=\"failure\" ts=\"$(now_iso)\" uri=\"local\">$(xml_escape "$failure_type")</metric>"$'\n'
    fi
    local env_xml
    env_xml="    <env name=\"cwd\">$(xml_escape "${work_dir:-$PWD}")</env>
    <env name=\"client_name\">$(xml_escape "$client_name")</env>
    <env name=\"client_group\">$(xml_escape "$client_group")</env>
    <env name=\"user\">$(xml_escape "$(id -un 2>/dev/null)")</env>
    <env name=\"arch\">$(uname -m)</env>
    <env name=\"os\">$(uname -s)</env>
    <env name=\"hostname\">$(xml_escape "$(uname -n)")</env>"
    local detail=""
    [ -n "$failure_detail" ] && detail="  <detail>$(xml_escape "$failure_detail")</detail>"$'\n'
    local head="<?xml version=\"1.0\"?>
<OSGTestResult id=\"glidein_startup.sh\" version=\"4.3.1\">
  <operatingenvironment>
$env_xml"
    local result
    result="  </operatingenvironment>
  <test>
    <cmd>$(xml_escape "$0 $PROG_ARGS")</cmd>
    <tStart>$(date -d "@$start_epoch" +%Y-%m-%dT%H:%M:%S%:z)</tStart>
    <tEnd>$(date -d "@$end_epoch" +%Y-%m-%dT%H:%M:%S%:z)</tEnd>
  </test>
  <result>
    <status>$status</status>
$metric  </result>
$detail"
    echo "=== Glidein ending $(date) ($end_epoch) with code $rc after $((end_epoch - start_epoch)) ==="
    echo
    echo "=== XML description of glidein activity ==="
    printf '%s\n%s</OSGTestResult>\n' "$head" "$result"
    echo "=== End XML description of glidein activity ==="
    {
        echo "=== Encoded XML description of glidein activity ==="
        echo "begin-base64 644 -"
        {
            printf '%s\n' "$head"
            echo "    <env name=\"glidein_factory\">$(xml_escape "$glidein_factory")</env>"
            echo "    <env name=\"glidein_name\">$(xml_escape "$glidein_name")</env>"
            echo "    <env name=\"glidein_entry\">$(xml_escape "$glidein_entry")</env>"
            echo "    <env name=\"condorg_cluster\">$(xml_escape "$condorg_cluster")</env>"
            echo "    <env name=\"condorg_subcluster\">$(xml_escape "$condorg_subcluster")</env>"
            echo "    <env name=\"glidein_credential_id\">$(xml_escape "$submit_cred_id")</env>"
            printf '%s' "$result"
            echo "  <subtestlist>"
            [ -n "${work_dir:-}" ] && [ -f "$work_dir/otr_outlist.list" ] && sed 's/^/    /' "$work_dir/otr_outlist.list"
            echo "  </subtestlist>"
            echo "</OSGTestResult>"
        } | gzip -9 | base64
        echo "===="
        echo "=== End encoded XML description of glidein activity ==="
    } >&2
}

############################################################
# Children and termination: SIGTERM is forwarded to whatever child runs, and noted.
child_pid=""
sleep_pid=""
terminated=""
# shellcheck disable=SC2317  # called through trap
on_term() {
    terminated=1
    echo "$PROG: received a termination signal" >&2
    [ -n "$child_pid" ] && kill -TERM "$child_pid" 2>/dev/null
    [ -n "$sleep_pid" ] && kill -TERM "$sleep_pid" 2>/dev/null
}
trap on_term TERM INT

# run_child CMD...: run in the background (so SIGTERM can be forwarded), stdin /dev/null;
# the exit code lands in child_rc. A signal interrupts wait, so wait until the child is gone.
run_child() {
    "$@" </dev/null &
    child_pid=$!
    wait "$child_pid"
    while kill -0 "$child_pid" 2>/dev/null; do
        wait "$child_pid"
    done
    # The child is gone: this wait gives its own exit code, never that of a signal
    # that cut an earlier wait short (the child may end right after the signal).
    wait "$child_pid"
    child_rc=$?
    child_pid=""
}

# Sleep in the background so that a SIGTERM is acted on at once.
interruptible_sleep() {
    sleep "$1" &
    sleep_pid=$!
    wait "$sleep_pid" 2>/dev/null
    sleep_pid=""
}

glidein_exit() {
    local rc=$1
    if [ "$rc" -ne 0 ] && [ "${failure_sleep:-0}" -gt 0 ] && [ -z "$terminated" ]; then
        echo "Glidein failed; lingering $failure_sleep s so as not to be restarted at once." >&2
        local report
        report=$(gconfig_get REPORT_FAILED_FILE)
        if [ -f "$report" ]; then
            run_child bash "$report" "$glidein_config" "$failure_sleep" "${failed_script:-$PROG}" "$failure_detail"
        else
            interruptible_sleep "$failure_sleep"
        fi
    fi
    trap - TERM INT
    write_summary "$rc"
    if [ -n "${work_dir:-}" ] && [ -d "$work_dir" ]; then
        if [[ $(gconfig_get GLIDEIN_DEBUG_OPTIONS) == *nocleanup* ]]; then
            echo "Keeping the work dir $work_dir (nocleanup)" >&2
        else
            cd / && rm -rf -- "$work_dir"
        fi
    fi
    exit "$rc"
}

# fail SCRIPT MESSAGE [TYPE DETAIL]: record why the glidein cannot go on, and end it; a failing
# script's own failure type and detail (from its result document) are what the result says.
fail() {
    failed_script=$1
    failure_detail=${4:-$2}
    failure_type=$3
    echo "$PROG: ERROR: $2" >&2
    glidein_exit 1
}

# result_value FILE failure|detail: the failure metric or the detail text of a result document
# (a multi-line detail, as upstream's error_gen.sh writes it, joined; entities decoded).
result_value() {
    awk -v want="$2" '
        want == "failure" && /<metric name="failure"/ { sub(/.*<metric name="failure"[^>]*>/, ""); sub(/<\/metric>.*/, ""); print; exit }
        want == "detail" && /<detail>/ { on = 1; sub(/.*<detail>/, "") }
        want == "detail" && on { end = sub(/<\/detail>.*/, ""); gsub(/^[ \t]+|[ \t]+$/, ""); if ($0 != "") text = text (text == "" ? "" : " ") $0; if (end) { on = 0 } }
        END { if (want == "detail") { gsub(/&lt;/, "<", text); gsub(/&gt;/, ">", text); gsub(/&quot;/, "\"", text); gsub(/&amp;/, "\\&", text); print text } }' "$1"
}

############################################################
# Work dir and sanity checks, before anything else
PROG_ARGS="-name $glidein_name -entry $glidein_entry -web $repository_url"

min_free_kb() {
    df -Pk "$1" 2>/dev/null | awk 'NR == 2 { print $4 }'
}

dir_usable() {
    local d=$1 need_kb=$2 free
    [ -n "$d" ] && [ -d "$d" ] && [ -w "$d" ] || return 1
    free=$(min_free_kb "$d")
    [ -n "$free" ] && [ "$free" -ge "$need_kb" ]
}

case $work_dir_spec in
    . | "") base_dir=$PWD ;;
    Condor | CONDOR) base_dir=${_CONDOR_SCRATCH_DIR:-} ;;
    OSG) base_dir=${OSG_WN_TMP:-} ;;
    TMPDIR) base_dir=${TMPDIR:-} ;;
    AUTO)
        base_dir=""
        for v in _CONDOR_SCRATCH_DIR OSG_WN_TMP TG_NODE_SCRATCH TG_CLUSTER_SCRATCH SCRATCH TMPDIR TMP PWD; do
            if dir_usable "${!v:-}" 1000000; then
                base_dir=${!v}
                break
            fi
        done
        ;;
    *) base_dir=$work_dir_spec ;;
esac
[ -n "$base_dir" ] || fail "$PROG" "no usable work directory for -dir '$work_dir_spec'"

missing=""
for cmd in awk sed grep tar gzip base64 mktemp df date id uname cut sort; do
    command -v "$cmd" >/dev/null 2>&1 || missing+=" $cmd"
done
for sum in sha1sum sha256sum; do
    if [ "$sign_type" = "${sum%sum}" ] || [ "$client_sign_type" = "${sum%sum}" ]; then
        command -v "$sum" >/dev/null 2>&1 || missing+=" $sum"
    fi
done
if command -v wget >/dev/null 2>&1; then
    downloader=wget
elif command -v curl >/dev/null 2>&1; then
    downloader=curl
else
    missing+=" curl|wget"
fi
[ -z "$missing" ] || fail "$PROG" "worker node lacks required commands:$missing"
[ -d "$base_dir" ] && [ -w "$base_dir" ] || fail "$PROG" "work base dir $base_dir is not a writable directory"
base_dir=$(cd "$base_dir" && pwd -P) || fail "$PROG" "cannot enter the work base dir"
free_kb=$(min_free_kb "$base_dir")
[ -n "$free_kb" ] && [ "$free_kb" -ge 50000 ] ||
    fail "$PROG" "only ${free_kb:-unknown} KB free in $base_dir, need 50000 KB to start"

work_dir=$(mktemp -d "$base_dir/glide_XXXXXX") || fail "$PROG" "cannot create a work dir in $base_dir"
cd "$work_dir" || fail "$PROG" "cannot enter $work_dir"
glidein_config=$work_dir/glidein_config
: >"$glidein_config"
mkdir -p main log condor_config.d || fail "$PROG" "cannot create subdirs of $work_dir"

if [ -r /proc/sys/kernel/random/uuid ]; then
    glidein_uuid=$(cat /proc/sys/kernel/random/uuid)
else
    glidein_uuid=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
fi

echo "=== Glidein starting $(date) ($start_epoch) ==="
echo "Glidein $glidein_uuid of $glidein_factory/$glidein_name/$glidein_entry for client $client_name"
echo "Running on $(uname -n) as $(id -un 2>/dev/null) in $work_dir"
echo "------- Initial environment (secrets masked) -------"
env | sort | sed -E 's/^([A-Za-z_]*(TOKEN|SECRET|PASSWORD|PASSWD|KEY)[A-Za-z_]*)=.*/\1=<masked>/I' |
    tee "$work_dir/log/environment.txt"
echo "----------------------------------------------------"

############################################################
# Downloads
case $proxy_url in
    None | "") proxy_url="" ;;
    OSG)
        proxy_url=${OSG_SQUID_LOCATION:-}
        [ -n "$proxy_url" ] && [[ $proxy_url != *:* ]] && proxy_url+=":3128"
        ;;
esac
[ -z "$proxy_url" ] || [[ $proxy_url == http://* ]] || proxy_url="http://$proxy_url"

user_agent="$downloader/glidein/$glidein_entry/$condorg_schedd/$condorg_cluster.$condorg_subcluster/$client_name"

# fetch_once URL DEST NOCACHE: one transfer attempt, through the proxy if there is one.
fetch_once() {
    local url=$1 dest=$2 nocache=$3
    if [ "$downloader" = wget ]; then
        local args=(-q -T 30 -t 1 -U "$user_agent" -O "$dest")
        [ "$nocache" = 1 ] && args+=(--no-cache)
        if [ -n "$proxy_url" ]; then
            env http_proxy="$proxy_url" wget -e use_proxy=yes "${args[@]}" "$url"
        else
            env -u http_proxy -u HTTP_PROXY wget --no-proxy "${args[@]}" "$url"
        fi
    else
        local args=(-s -f -S --connect-timeout 30 --max-time 600 -A "$user_agent" -o "$dest")
        [ "$nocache" = 1 ] && args+=(-H "Cache-Control: no-cache" -H "Pragma: no-cache")
        if [ -n "$proxy_url" ]; then
            curl -x "$proxy_url" "${args[@]}" "$url" 2>/dev/null
        else
            curl --noproxy '*' "${args[@]}" "$url" 2>/dev/null
        fi
    fi
}

# fetch URL DEST [NOCACHE]: bounded retries with a growing pause.
fetch() {
    local attempt
    for attempt in 1 2 3; do
        fetch_once "$1" "$2" "${3:-0}" && return 0
        rm -f -- "$2"
        [ "$attempt" -lt 3 ] && interruptible_sleep $((attempt * 2))
        [ -n "$terminated" ] && break
    done
    echo "$PROG: download of $1 failed after $attempt attempts" >&2
    return 1
}

if [ -n "$proxy_url" ]; then
    probe=$(mktemp "$work_dir/log/proxy_probe.XXXXXX")
    if fetch_once "$repository_url/glidein_startup.sh" "$probe" 1; then
        echo "Using HTTP proxy $proxy_url"
    else
        echo "$PROG: WARNING: proxy $proxy_url does not work, downloading directly" >&2
        proxy_url=""
    fi
    rm -f -- "$probe"
fi

############################################################
# Signature chain (spec §2)
# Per id: base URL, local dir, hash of the signature file from the command line, hash type.
# id_keys: the id's glidein_config keys for its work dir, description and signature hash.
declare -A id_url id_dir id_sign id_descript id_sigtype id_sigfile id_keys
id_keys=([main]="GLIDEIN_WORK_DIR DESCRIPTION_FILE GLIDEIN_Signature"
    [entry]="GLIDEIN_ENTRY_WORK_DIR DESCRIPTION_ENTRY_FILE GLIDEIN_Entry_Signature"
    [client]="GLIDECLIENT_WORK_DIR GLIDECLIENT_DESCRIPTION_FILE GLIDECLIENT_Signature"
    [client_group]="GLIDECLIENT_GROUP_WORK_DIR GLIDECLIENT_DESCRIPTION_GROUP_FILE GLIDECLIENT_Group_Signature")
register_id() {
    id_url[$1]=$2
    id_dir[$1]=$3
    id_sign[$1]=$4
    id_descript[$1]=$5
    id_sigtype[$1]=$6
}
register_id main "$repository_url" main "$sign_sha" "$descript_file" "$sign_type"
register_id entry "$repository_url/entry_$glidein_entry" "entry_$glidein_entry" "$sign_entry_sha" "$descript_entry_file" "$sign_type"
ids=(main entry)
if [ -n "$client_repository_url" ]; then
    register_id client "$client_repository_url" client "$client_sign_sha" "$client_descript_file" "$client_sign_type"
    ids+=(client)
    if [ -n "$client_repository_group_url" ]; then
        register_id client_group "$client_repository_group_url" "client_group_$client_group" \
            "$client_sign_group_sha" "$client_descript_group_file" "$client_sign_type"
        ids+=(client_group)
    fi
fi

id_prefix() {
    case $1 in
        main) echo "" ;; entry) echo ENTRY_ ;; client) echo GLIDECLIENT_ ;; client_group) echo GLIDECLIENT_GROUP_ ;;
    esac
}

hash_of() {
    "${2}sum" <"$1" | cut -d ' ' -f 1
}

# A file name taken from a staged list must stay inside its dir.
safe_name() {
    [[ $1 =~ ^[A-Za-z0-9_][A-Za-z0-9_.+-]*$ ]]
}

# descript_value ID KEY: the file name the description gives for KEY.
descript_value() {
    awk -v k="$2" '$1 == k { print $2; exit }' "${id_dir[$1]}/${id_descript[$1]}"
}

# verify_file ID NAME [LOCAL]: the file staged as NAME (saved as LOCAL, default NAME, in the
# id's dir) must have the hash the signature file gives NAME; unsigned or different = failure.
verify_file() {
    local id=$1 name=$2 local_name=${3:-$2} expected actual
    expected=$(awk -v n="$name" '$2 == n || $2 == "*" n { print $1; exit }' "${id_dir[$id]}/${id_sigfile[$id]}")
    [ -n "$expected" ] || fail "$name" "file $name of $id is not in its signature file ${id_sigfile[$id]}"
    actual=$(hash_of "${id_dir[$id]}/$local_name" "${id_sigtype[$id]}")
    [ "$actual" = "$expected" ] ||
        fail "$name" "signature mismatch for file $name of $id (${id_sigtype[$id]} $actual, signed $expected)"
    echo "Verified $id file $name"
}

for id in "${ids[@]}"; do
    dir=${id_dir[$id]}
    mkdir -p "$dir" || fail "$PROG" "cannot create $work_dir/$dir"
    safe_name "${id_descript[$id]}" || fail "$PROG" "bad description file name '${id_descript[$id]}' for $id"
    fetch "${id_url[$id]}/${id_descript[$id]}" "$dir/${id_descript[$id]}" ||
        fail "${id_descript[$id]}" "cannot download the $id description ${id_descript[$id]}"
    sig=$(descript_value "$id" signature)
    [ -n "$sig" ] && safe_name "$sig" || fail "${id_descript[$id]}" "the $id description names no valid signature file"
    [ "${id_sigtype[$id]}" = sha256 ] && sig="${sig%.sha1}.sha256"
    id_sigfile[$id]=$sig
    fetch "${id_url[$id]}/$sig" "$dir/$sig" || fail "$sig" "cannot download the $id signature file $sig"
    actual=$(hash_of "$dir/$sig" "${id_sigtype[$id]}")
    [ "$actual" = "${id_sign[$id]}" ] ||
        fail "$sig" "signature file $sig of $id does not match the hash given on the command line"
    echo "Verified $id file $sig"
    verify_file "$id" "${id_descript[$id]}"
done

last_script=$(descript_value main last_script)
[ -n "$last_script" ] && safe_name "$last_script" || fail "${id_descript[main]}" "the main description names no last_script"

############################################################
# glidein_config: startup values, then decoded parameters (spec §4)
{
    echo "GLIDEIN_UUID $glidein_uuid"
    echo "GLIDEIN_Factory $glidein_factory"
    echo "GLIDEIN_Name $glidein_name"
    echo "GLIDEIN_Entry_Name $glidein_entry"
    echo "GLIDECLIENT_Name $client_name"
    echo "GLIDECLIENT_Group $client_group"
    echo "CONDORG_CLUSTER $condorg_cluster"
    echo "CONDORG_SUBCLUSTER $condorg_subcluster"
    echo "CONDORG_SCHEDD $condorg_schedd"
    echo "GLIDEIN_CredentialIdentifier $submit_cred_id"
    echo "PROXY_URL ${proxy_url:-None}"
    echo "DEBUG_MODE $([ "$operation_mode" = nodebug ] && echo 0 || echo 1)"
    echo "GLIDEIN_STARTUP_PID $$"
    echo "TMP_DIR $work_dir/tmp"
    echo "GLIDEIN_LOG_DIR $work_dir/log"
    echo "GLIDEIN_WORKSPACE_ORIG $base_dir"
    echo "WRAPPER_LIST $work_dir/wrapper_list.lst"
    echo "GLIDEIN_CONDOR_CONFIG_DIR $work_dir/condor_config.d"
    # Per id, under upstream's names (get_id_selectors.source reads them).
    for id in "${ids[@]}"; do
        read -r dir_key descript_key sign_key <<<"${id_keys[$id]}"
        echo "$dir_key $work_dir/${id_dir[$id]}"
        echo "$descript_key ${id_descript[$id]}"
        echo "$sign_key ${id_sign[$id]}"
        echo "$(id_prefix "$id")SIGNATURE_FILE ${id_sigfile[$id]}"
        echo "$(id_prefix "$id")SIGN_TYPE ${id_sigtype[$id]}"
    done
    echo "SLOTS_LAYOUT $slots_layout"
    echo "GLIDEIN_INITIALIZED 0"
    echo "GLIDEIN_ADVERTISE_ONLY 0"
} >>"$glidein_config"
# Parameters come from the request: they may not redefine what the glidein itself set above.
while read -r pname pvalue; do
    [ -n "$pname" ] || continue
    if grep -q "^$pname " "$glidein_config"; then
        echo "$PROG: WARNING: ignoring parameter $pname, which would redefine a startup value" >&2
    else
        add_config_line "$pname" "$pvalue"
    fi
done <<<"$params_config"
mkdir -p tmp
: >wrapper_list.lst
: >otr_outlist.list

############################################################
# Validation scripts (spec §5)
# augment_result NAME CMD RC TSTART TEND: turn the script's otrb_output.xml (or, when missing or
# inconsistent with its exit code, a generic one) into an otrx record in otr_outlist.list.
augment_result() {
    local name=$1 cmd=$2 rc=$3 tstart=$4 tend=$5 body="" want=OK
    [ "$rc" -eq 0 ] || want=ERROR
    if [ -f otrb_output.xml ] && grep -q "<status>$want</status>" otrb_output.xml; then
        body=$(awk '/<result>/ { on = 1 } /<\/OSGTestResult>/ { on = 0 } on' otrb_output.xml)
    else
        body="  <result>
    <status>$want</status>
    <metric name=\"failure\" ts=\"$tend\" uri=\"local\">WN_Resource</metric>
  </result>
  <detail>$(xml_escape "$name exited with code $rc and left no consistent result.")</detail>"
        [ "$rc" -eq 0 ] && body="  <result>
    <status>OK</status>
  </result>"
    fi
    {
        echo "<OSGTestResult id=\"$(xml_escape "$name")\" version=\"4.3.1\">"
        echo "  <operatingenvironment>"
        echo "    <env name=\"cwd\">$(xml_escape "$work_dir")</env>"
        echo "  </operatingenvironment>"
        echo "  <test>"
        echo "    <cmd>$(xml_escape "$cmd")</cmd>"
        echo "    <tStart>$tstart</tStart>"
        echo "    <tEnd>$tend</tEnd>"
        echo "  </test>"
        printf '%s\n' "$body"
        echo "</OSGTestResult>"
    } >otrx_output.xml
    cat otrx_output.xml >>otr_outlist.list
    rm -f otrb_output.xml
}

# run_script ID PATH TYPE: run a validation script (exec:s through the singularity wrapper when
# one was staged in main); its failure ends the glidein.
run_script() {
    local id=$1 path=$2 name rc tstart tend runner=()
    name=$(basename "$path")
    chmod u+x "$path"
    [[ $3 == exec:*s* && -f main/singularity_wrapper.sh ]] && runner=(bash main/singularity_wrapper.sh)
    echo "=== Executing $id/$name ==="
    rm -f otrb_output.xml
    tstart=$(now_iso)
    run_child "${runner[@]}" "$path" "$glidein_config" "$id"
    rc=$child_rc
    tend=$(now_iso)
    augment_result "$name" "$path $glidein_config $id" "$rc" "$tstart" "$tend"
    [ -z "$terminated" ] || fail "$name" "terminated while running $id/$name"
    if [ "$rc" -ne 0 ]; then
        local why
        why=$(result_value otrx_output.xml detail)
        fail "$name" "validation script $id/$name failed with code $rc${why:+: $why}" \
            "$(result_value otrx_output.xml failure)" "$why"
    fi
    echo "=== $id/$name passed ==="
}

# add_periodic_script ID PATH PERIOD PREFIX: after passing once, the script runs every PERIOD s
# as a startd cron job GLIDEIN_PS_<n> through main/script_wrapper.sh, whose output (attributes
# named with PREFIX, none for NOPREFIX) goes into the slot ad; condor_startup.sh appends the
# include file to the worker's configuration.
periodic_count=0
add_periodic_script() {
    local include=$work_dir/condor_config_startd_cron_include name
    periodic_count=$((periodic_count + 1))
    name=GLIDEIN_PS_$periodic_count
    chmod u+x main/script_wrapper.sh 2>/dev/null
    {
        echo "STARTD_CRON_JOBLIST = \$(STARTD_CRON_JOBLIST) $name"
        echo "STARTD_CRON_${name}_MODE = Periodic"
        echo "STARTD_CRON_${name}_KILL = True"
        echo "STARTD_CRON_${name}_PERIOD = ${3}s"
        echo "STARTD_CRON_${name}_EXECUTABLE = $work_dir/main/script_wrapper.sh"
        echo "STARTD_CRON_${name}_ARGS = $glidein_config $1 $name $2 $4"
        echo "STARTD_CRON_${name}_CWD = $work_dir"
        echo "STARTD_CRON_${name}_SLOTS = 1"
        echo "STARTD_CRON_${name}_JOB_LOAD = 0.01"
        [ "$4" = NOPREFIX ] || echo "STARTD_CRON_${name}_PREFIX = $4"
    } >>"$include"
    add_config_line GLIDEIN_condor_config_startd_cron_include "$include"
}

# untar_file ID PATH TARGET CONFIG_OUT: unpack into the subdir untar.cfg names for the
# target; the result dir lands in untar_dir.
untar_file() {
    local id=$1 path=$2 target=$3 config_out=$4 untar_cfg subdir dest
    untar_cfg=$(gconfig_get "$(id_prefix "$id")UNTAR_CFG_FILE")
    subdir=""
    [ -n "$untar_cfg" ] && subdir=$(awk -v t="$target" '$1 == t { print $2; exit }' "$untar_cfg")
    [ -n "$subdir" ] && safe_name "$subdir" || fail "$target" "no valid untar dir for $target in $id untar.cfg"
    dest=${id_dir[$id]}/$subdir
    mkdir -p "$dest" && tar -xzf "$path" -C "$dest" --no-same-owner || fail "$target" "cannot unpack $target"
    if [ "$config_out" = CONDOR_DIR ]; then
        local entries=("$dest"/*)
        if [ "${#entries[@]}" -eq 1 ] && [ -d "${entries[0]}" ]; then
            mv "${entries[0]}" "$dest.flat" && rmdir "$dest" && mv "$dest.flat" "$dest" ||
                fail "$target" "cannot flatten $target"
        fi
    fi
    untar_dir=$work_dir/$dest
}

# process_list ID LIST_KEY OPTIONAL: walk one file list (spec §2 step 4, §3).
process_list() {
    local id=$1 key=$2 optional=$3 list dir prefix
    dir=${id_dir[$id]}
    prefix=$(id_prefix "$id")
    list=$(descript_value "$id" "$key")
    if [ -z "$list" ]; then
        [ "$optional" = 1 ] && return 0
        fail "${id_descript[$id]}" "the $id description has no $key"
    fi
    safe_name "$list" || fail "$list" "bad list file name '$list' in the $id description"
    fetch "${id_url[$id]}/$list" "$dir/$list" || fail "$list" "cannot download $id $key $list"
    verify_file "$id" "$list"
    echo "--- Processing $id $key ($list)"
    local target real type period cprefix cond config_out path use
    while read -r target real type period cprefix cond config_out; do
        [ -z "$target" ] || [[ $target == \#* ]] && continue
        safe_name "$target" && safe_name "$real" || fail "$list" "bad file name in $id $list: '$target' '$real'"
        if [ "${cond:-TRUE}" != TRUE ] && [ "$(gconfig_get "$cond")" != 1 ]; then
            continue
        fi
        if [[ $target =~ ^gconditional_([A-Za-z0-9]+)_ ]]; then
            use=$(gconfig_get "GLIDEIN_USE_${BASH_REMATCH[1]}")
            [ -n "$use" ] || continue
        fi
        # Saved under the target (logical) name, as scripts and last_script refer to it.
        path=$dir/$target
        if [ "$type" = nocache ]; then
            fetch "${id_url[$id]}/$real" "$path" 1 || fail "$real" "cannot download $id file $real"
        else
            fetch "${id_url[$id]}/$real" "$path" || fail "$real" "cannot download $id file $real"
            verify_file "$id" "$real" "$target"
        fi
        local out_value=$work_dir/$path
        case $type in
            regular | nocache) [[ $target != *.sh ]] || chmod u+x "$path" ;;
            exec | exec:*)
                if [ "$target" != "$last_script" ]; then
                    run_script "$id" "$work_dir/$path" "$type"
                    [[ ${period:-0} =~ ^[1-9][0-9]*$ ]] &&
                        add_periodic_script "$id" "$work_dir/$path" "$period" "${cprefix:-GLIDEIN_PS_}"
                fi
                ;;
            wrapper) echo "$work_dir/$path" >>wrapper_list.lst ;;
            untar)
                untar_file "$id" "$path" "$target" "$config_out"
                out_value=$untar_dir
                ;;
            config | config:c) mv "$path" condor_config.d/ && out_value=$work_dir/condor_config.d/$target ;;
            *) fail "$list" "unknown file type '$type' for $real in $id $list" ;;
        esac
        if [ -n "$config_out" ] && [ "$config_out" != FALSE ]; then
            add_config_line "$prefix$config_out" "$out_value"
        fi
    done <"$dir/$list"
}

process_list main file_list 0
[ -n "$client_repository_url" ] && process_list client preentry_file_list 0
[ -n "$client_repository_group_url" ] && process_list client_group preentry_file_list 0
[ -n "$client_repository_url" ] && process_list client aftergroup_preentry_file_list 1
process_list entry file_list 0
process_list main precvmfs_file_list 0
process_list main at_file_list 0
[ -n "$client_repository_url" ] && process_list client file_list 0
[ -n "$client_repository_group_url" ] && process_list client_group file_list 0
[ -n "$client_repository_url" ] && process_list client aftergroup_file_list 1
process_list main after_file_list 0

############################################################
# Last script: starts the worker (spec §2 step 6)
last_path=$work_dir/main/$last_script
[ -f "$last_path" ] || fail "$last_script" "last_script $last_script was not in any main file list"
add_config_line GLIDEIN_INITIALIZED 1
echo "=== Last script starting $(date) ($(date +%s)) after validating for $(($(date +%s) - start_epoch)) ==="
chmod u+x "$last_path"
rm -f otrb_output.xml
tstart=$(now_iso)
run_child "$last_path" "$glidein_config"
rc=$child_rc
augment_result "$last_script" "$last_path $glidein_config" "$rc" "$tstart" "$(now_iso)"
if [ "$rc" -ne 0 ]; then
    failed_script=$last_script
    failure_type=$(result_value otrx_output.xml failure)
    failure_detail=$(result_value otrx_output.xml detail)
    failure_detail=${failure_detail:-$last_script exited with code $rc}
fi
glidein_exit "$rc"
#EOF
