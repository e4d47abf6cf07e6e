#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# A file one VM writes is used by no other VM of the state root, also when
# the runs start at the same instant: of three `run -d` naming one output (or
# one writable drive), exactly one runs; the others fail (preflight, or when
# they name their files) with exit 3 and leave nothing; the winner's output is
# the file its record names.
: "${top_srcdir:?}"
. "$top_srcdir/tests/e2e/lib.sh" || exit 99
[ "$REAL" = 1 ] && skip_all "starts several VMs at once"

ROUNDS=${FIREC_TEST_RACE_ROUNDS:-5}
SHARED_LOG=$WORK/shared.log
for v in ra rb rc; do
  prepare rootfs "$v" || exit 99
  "$PYTHON3" - "$WORK/$v/vm.json" "$SHARED_LOG" "$v" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
m["spec"]["logger"] = {"log_path": sys.argv[2], "level": "Info"}
m["spec"]["run"]["mode"] = "daemon"
json.dump(m, open(sys.argv[1] + ".log", "w"))
# the writable drive of ra, for all three
for d in m["spec"]["drives"]:
    if d["drive_id"] == "rootfs":
        d["path_on_host"] = d["path_on_host"].replace("/%s/" % sys.argv[3], "/ra/")
del m["spec"]["logger"]
json.dump(m, open(sys.argv[1] + ".drive", "w"))
PY
done

output_is_winners() { # NAME: the shared log is the output its record names
  "$PYTHON3" - "$FIREC_STATE_DIR/$1/state.json" "$SHARED_LOG" <<'PY'
import json, os, sys
r = json.load(open(sys.argv[1]))
st = os.stat(sys.argv[2])
sys.exit(0 if any(o["path"] == sys.argv[2] and o["dev"] == st.st_dev and o["ino"] == st.st_ino
                  for o in r.get("outputs", [])) else 1)
PY
}

# race KIND: three runs at once; prints what went wrong (nothing when fine).
race() {
  local kind=$1 v rc winners="" losers=""
  declare -A pid
  for v in ra rb rc; do
    "$FIREC_RUN" run -d -q "$WORK/$v/vm.json.$kind" >/dev/null 2>"$WORK/err.$v" &
    pid[$v]=$!
  done
  for v in ra rb rc; do
    wait "${pid[$v]}"; rc=$?
    case $rc in
      0) winners="$winners $v" ;;
      3) losers="$losers $v"
         grep -q "is a file the VM r[abc] .*writes" "$WORK/err.$v" || echo "$v: exit 3 without naming the other VM: $(head -3 "$WORK/err.$v")" ;;
      *) echo "$v: exit $rc: $(head -3 "$WORK/err.$v")" ;;
    esac
  done
  set -- $winners
  [ $# = 1 ] || echo "$# VMs run:$winners"
  for v in $losers; do
    [ -z "$(leftovers "$v")" ] || echo "$v failed and left: $(leftovers "$v")"
  done
  [ "$kind" = log ] && [ $# = 1 ] && ! output_is_winners "$1" && echo "the shared log is not $1's output"
  for v in ra rb rc; do "$FIREC_RUN" rm -f "$v" >/dev/null 2>&1; done
}

for kind in log drive; do
  for absent in "" 1; do
    [ "$kind" = drive ] && [ -n "$absent" ] && continue
    what="the same $( [ $kind = log ] && echo "output${absent:+ (absent at first)}" || echo "writable drive")"
    problems=""
    for i in $(seq "$ROUNDS"); do
      [ -n "$absent" ] && rm -f "$SHARED_LOG"*
      p=$(race "$kind")
      [ -n "$p" ] && problems="$problems
round $i: $p"
    done
    if [ -z "$problems" ]; then ok "three runs at once with $what: one runs, two refuse and leave nothing ($ROUNDS rounds)"
    else not_ok "three runs at once with $what: one runs, two refuse and leave nothing"; echo "$problems" | sed 's/^/#   /'; fi
  done
done

done_testing
