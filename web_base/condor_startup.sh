#!/bin/bash
# condor_startup.sh - the glidein's last script: starts the worker that joins the pool, waits
# for it to end, and returns the worker's logs (gzip + base64 blocks on stderr, spec §6).
#
# Two workers:
# * a real HTCondor (CONDOR_DIR set by an unpacked condor tarball): configured from
#   glidein_config and run as condor_master for the glidein's lifetime;
# * the embedded pool's stand-in (no CONDOR_DIR, or param GLIDEIN_WORKER=standin): a small
#   bash loop that advertises a glidein slot ad to GLIDEIN_Collector over the embedded pool's
#   HTTP protocol, keeps it fresh, and invalidates it when it ends (lifetime or SIGTERM).
# Invoked as: condor_startup.sh <glidein_config>
#
# SPDX-License-Identifier: Apache-2.0

glidein_config=$1
# shellcheck source=add_config_line.source
source "$(grep -m1 '^ADD_CONFIG_LINE_SOURCE ' "$glidein_config" | cut -d ' ' -f 2-)" || exit 1
# shellcheck source=worker_ad.source
source "$(gconfig_get WORKER_AD_SOURCE)" || exit 1
# shellcheck source=worker_config.source
source "$(gconfig_get WORKER_CONFIG_SOURCE)" || exit 1

work_dir=$(dirname "$glidein_config")
error_gen=$(gconfig_get ERROR_GEN_PATH)
log_dir=$(gconfig_get GLIDEIN_LOG_DIR)
log_dir=${log_dir:-$work_dir/log}
mkdir -p "$log_dir" || exit 1

# failed TYPE DETAIL: the result document, the reason on stderr, the end of the glidein.
failed() {
    "$error_gen" -error condor_startup.sh "$1" "$2"
    echo "condor_startup.sh: $2" >&2
    exit 1
}
start_epoch=$(date +%s)
stop_on_term

log() {
    echo "$(date '+%m/%d/%y %H:%M:%S') $2" >>"$log_dir/$1"
}

# Lifetime: a short stand-in lifetime wins, then the entry's max walltime, then one hour.
lifetime=$(gconfig_get GLIDEIN_Standin_Lifetime)
[ -n "$lifetime" ] || lifetime=$(gconfig_get GLIDEIN_Max_Walltime)
[[ $lifetime =~ ^[0-9]+$ ]] || lifetime=3600
end_epoch=$((start_epoch + lifetime))

# emit_logs: every worker log as a "<name> / gzip | uuencode" block on stderr.
emit_logs() {
    local f
    for f in "$log_dir"/MasterLog "$log_dir"/StartdLog "$log_dir"/StarterLog* \
        "$log_dir"/StartdHistoryLog "$log_dir"/*.monitor; do
        [ -f "$f" ] || continue
        {
            echo "${f##*/}"
            echo "======== gzip | uuencode ============="
            echo "begin-base64 644 -"
            gzip -9 <"$f" | base64
            echo "===="
        } >&2
    done
}

# print_stats: the .out's job statistics, in upstream's form (spec §6, §8): the user jobs each
# StarterLog* shows (started by "Create_Process succeeded", ended by "Process exited, ...,
# status=N" or "signal=N"), as real totals and normalized to one core (GLIDEIN_CPUS), good
# (exit 0 / other exit code) and bad (signal / other) apart; then the claims StartdLog shows.
# The stand-in runs no job: its block says 0.
print_stats() {
    local cpus logs=()
    cpus=$(gconfig_get GLIDEIN_CPUS)
    [[ $cpus =~ ^[1-9][0-9]*$ ]] || cpus=1
    for f in "$log_dir"/StarterLog*; do [ -f "$f" ] && logs+=("$f"); done
    echo "Total jobs/goodZ jobs/goodNZ jobs/badSignal jobs/badOther jobs below are normalized to 1 Core"
    echo "=== Stats of main ==="
    # Starter log lines: [MM/DD[/YY]] HH:MM:SS (pid:N) message
    awk -v cores="$cpus" '
        function when(d, t,   dp, tp) {
            split(d, dp, "/"); split(t, tp, ":")
            return mktime(sprintf("%04d %02d %02d %02d %02d %02d", dp[3] == "" ? strftime("%Y") : (dp[3] < 100 ? 2000 + dp[3] : dp[3]), dp[1], dp[2], tp[1], tp[2], tp[3]))
        }
        function share(n) { return int((n + cores - 1) / cores) }
        function pct(a, b) { return b == 0 ? 0 : a * 100 / b }
        FNR == 1 { started = 0 }
        / Create_Process succeeded, / { started = when($1, $2) }
        / Process exited, / {
            for (i = 1; i <= NF; i++) if ($i ~ /^(status|signal)=/) { split($i, how, "="); sub(/,$/, "", how[2]) }
            took = started > 0 ? when($1, $2) - started : 0
            kind = how[1] == "status" ? (how[2] == "0" ? "goodZ" : "goodNZ") : (how[1] == "signal" ? "badSignal" : "badOther")
            n[kind]++; t[kind] += took; jobs++; used += took; started = 0
            print $1, $2, "Terminated job", how[1], how[2], "duration", took
        }
        END {
            print "================="
            print "Normalization [parallelism] factor", cores
            print "(Real) Total jobs", jobs + 0, "utilization", int(used)
            print "(Normalized) Total jobs", share(jobs), "utilization", int(used / cores)
            split("goodZ goodNZ badSignal badOther", kinds, " ")
            for (k = 1; k <= 4; k++) {
                c = kinds[k]
                print "(Normalized) Total " c " jobs", share(n[c]), " (" pct(n[c], jobs) "%)", "utilization", int(t[c] / cores) " (" pct(t[c], used) "%)"
            }
        }' "${logs[@]}" /dev/null
    echo "=== End Stats of main ==="
    local claims
    claims=$(grep -c "Got activate_claim" "$log_dir/StartdLog" 2>/dev/null)
    echo "Total number of activations/claims: ${claims:-0}"
}

############################################################
# The stand-in worker

token_header=$work_dir/collector_auth_header

# post PATH BODY_FILE: to the pool's collectors, logged in StartdLog.
post() {
    post_to_collectors "$collectors" "$token_header" "$1" "$2" "$log_dir/StartdLog"
}

write_slot_ad() {
    local cpus mem_mb
    cpus=$(nproc 2>/dev/null || echo 1)
    mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo 2>/dev/null)
    {
        glidein_ad_attrs
        cat <<EOF
State = "Unclaimed"
Activity = "Idle"
SlotType = $([ "$(gconfig_get SLOTS_LAYOUT)" = fixed ] && echo '"Static"' || echo '"Partitionable"')
Cpus = ${cpus:-1}
Memory = ${mem_mb:-0}
IsGlideinStandin = true
DaemonStartTime = $start_epoch
GLIDEIN_ToDie = $end_epoch
ClassAdLifetime = $((3 * interval))
UpdateSequenceNumber = $sequence
EOF
    } >"$1"
    # The glidein's own attributes above win over same-named published variables.
    local name value extra
    extra=$(while read -r name _ value; do
        grep -qi "^$name = " "$1" || echo "$name = $value"
    done <"$published")
    [ -z "$extra" ] || echo "$extra" >>"$1"
}

run_standin() {
    collectors=$(gconfig_get GLIDEIN_Collector)
    [ -n "$collectors" ] || failed Config "no GLIDEIN_Collector to advertise the slot to"
    command -v curl >/dev/null 2>&1 || failed WN_Resource "the worker stand-in needs curl"
    interval=$(gconfig_get GLIDEIN_Standin_Update_Interval)
    [[ $interval =~ ^[1-9][0-9]*$ ]] || interval=60
    worker_auth_header "$token_header"
    slot_name=$(worker_slot_name)
    published=$work_dir/published_vars
    condor_var_rows "$work_dir/condor_vars.rows"
    awk -F'\t' '$1 == "Y" { print $2 " = " $3 }' "$work_dir/condor_vars.rows" >"$published"
    log MasterLog "worker stand-in starting for $lifetime s, collector $collectors"
    echo "=== Condor starting $(date) ($start_epoch) ==="
    local ad=$work_dir/slot_ad sequence=0 advertised=0
    while [ -z "$terminated" ]; do
        sequence=$((sequence + 1))
        write_slot_ad "$ad"
        if post "/v1/collector/advertise?command=UPDATE_STARTD_AD" "$ad"; then
            advertised=$((advertised + 1))
            log StartdLog "advertised $slot_name (update $sequence)"
        fi
        pause_until "$end_epoch" "$interval"
        [ "$(date +%s)" -lt "$end_epoch" ] || break
    done
    local why="its lifetime ended"
    [ -z "$terminated" ] || why="it was asked to stop"
    invalidate_query >"$ad"
    post "/v1/collector/invalidate?command=INVALIDATE_STARTD_ADS" "$ad" &&
        log StartdLog "invalidated $slot_name"
    log MasterLog "worker stand-in exiting: $why; $advertised successful updates"
    echo "=== Condor ended $(date) ($(date +%s)) after $(($(date +%s) - start_epoch)) ==="
    print_stats
    rm -f "$token_header"
    # Never reaching the collector is a failed glidein, not a quiet success.
    [ "$advertised" -gt 0 ]
}

############################################################
# A real HTCondor worker (needs an HTCondor tarball; tests use a stand-in condor_master)
run_condor() {
    local condor_dir=$1 local_dir=$work_dir/condor_local token
    mkdir -p "$local_dir/execute" "$local_dir/spool" "$local_dir/lock" || failed WN_Resource "cannot create $local_dir"
    # The pool token the factory delivered ($IDTOKENS_FILE, or GLIDEIN_CONDOR_TOKEN) goes, 0600,
    # into the tokens dir HTCondor reads.
    (umask 077 && mkdir -p "$local_dir/tokens.d") || failed WN_Resource "cannot create the tokens dir"
    token=${IDTOKENS_FILE:-$(gconfig_get GLIDEIN_CONDOR_TOKEN)}
    if [ -n "$token" ] && [ -r "$token" ]; then
        install -m 0600 "$token" "$local_dir/tokens.d/glidein.token" || failed WN_Resource "cannot install the pool token"
    fi
    export CONDOR_CONFIG=$work_dir/condor_config
    write_condor_config "$CONDOR_CONFIG" "$condor_dir" "$local_dir"
    # No _CONDOR_* settings of the site's own HTCondor may leak into ours.
    unset CONDOR_INHERIT "${!_CONDOR_@}" "${!_condor_@}"
    echo "Joining $collectors; retiring in $retire_time s, dying in $die_time s" >&2
    echo "=== Condor starting $(date) ($start_epoch) ==="
    # -r: the master shuts everything down after that many minutes, whatever the policy says.
    "$condor_dir/sbin/condor_master" -f -r $(((lifetime + 59) / 60)) &
    local pid=$!
    wait "$pid"
    local rc=$?
    if [ -n "$terminated" ]; then
        kill -TERM "$pid" 2>/dev/null
        wait "$pid"
        rc=$?
    fi
    echo "=== Condor ended $(date) ($(date +%s)) after $(($(date +%s) - start_epoch)) ==="
    print_stats
    # 99: the master ended on its DAEMON_SHUTDOWN, the normal end of a glidein.
    [ "$rc" -ne 99 ] || rc=0
    return $rc
}

condor_dir=$(gconfig_get CONDOR_DIR)
if [ "$(gconfig_get GLIDEIN_WORKER)" = standin ] || [ -z "$condor_dir" ]; then
    run_standin
else
    run_condor "$condor_dir"
fi
rc=$?
emit_logs
exit $rc
