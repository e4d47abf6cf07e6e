#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The serial console (TAP): a detached VM's console kept in a bounded log by
# its console keeper, `logs` (also after the VM ended, --tail, -f until the
# VM ends), the cap, a guest that is never stalled by its console, `attach`
# (input to the guest, Ctrl+] q, one attacher at a time, the terminal
# restored), an attached run's Ctrl+] q (the VM runs on detached) and Ctrl+] s,
# ^C to the guest, a SIGKILLed keeper, tmux mode, and rm removing it all.
. "$top_srcdir/tests/e2e/lib.sh"

drive() { PTY_LOG=$WORK/pty.log "$PYTHON3" "$top_srcdir/tests/e2e/pty-drive.py" "$@"; }
json_field() { "$PYTHON3" -c 'import json,sys; v=json.load(sys.stdin).get(sys.argv[1]); print("" if v is None else v)' "$1"; }
status_of() { "$FIREC_RUN" status --output json "$1" 2>/dev/null | json_field state; }
keeper_of() { pgrep -f -- "--console --state-dir $FIREC_STATE_DIR/$1( |$)"; }
log_size() { cat "$FIREC_STATE_DIR/$1"/console.log* 2>/dev/null | wc -c; }
# until_in_log NAME TEXT: up to 10 s for TEXT to show in `logs NAME`
until_in_log() {
  local i
  for i in $(seq 200); do "$FIREC_RUN" logs "$1" 2>/dev/null | grep -q -- "$2" && return 0; sleep 0.05; done
  return 1
}
hint='Ctrl\+\] q'

# --- a detached VM: logs, also after it ended; rm ---------------------------------
name=e2e-logs
prepare hello "$name"
FAKE_FC_GUEST_OUTPUT=800 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>"$WORK/$name/stderr"; rc=$?
check "run -d starts the VM (exit $rc)" test "$rc" -eq 0
check "a console keeper runs for it" test -n "$(keeper_of "$name")"
check "logs shows Firecracker's start message" until_in_log "$name" "Running Firecracker v$FC_VERSION"
if [ "$REAL" = 0 ]; then
  check "and what the guest wrote, to its last line" until_in_log "$name" "^guest output done"
fi
"$FIREC_RUN" logs -f "$name" >"$WORK/$name/follow" 2>&1 &
follow=$!
sleep 0.5
check "logs -f follows while the VM runs" kill -0 "$follow"
"$FIREC_RUN" stop "$name" 2>/dev/null
for i in $(seq 100); do kill -0 "$follow" 2>/dev/null || break; sleep 0.05; done
check "logs -f ends when the VM ends" sh -c "! kill -0 $follow 2>/dev/null"
wait "$follow"; rc=$?
check "... with exit 0 (got $rc), having printed the console" test "$rc" -eq 0 -a -n "$(grep "Running Firecracker" "$WORK/$name/follow")"
check "the keeper ends with the VM" sh -c "for i in \$(seq 100); do [ -z \"\$(pgrep -f -- '--console --state-dir $FIREC_STATE_DIR/$name( |\$)')\" ] && exit 0; sleep 0.05; done; exit 1"
check "logs after the VM ended still shows the start message" \
  sh -c "'$FIREC_RUN' logs '$name' | grep -q 'Running Firecracker v$FC_VERSION'"
check "the log is in the VM's state directory" test -s "$FIREC_STATE_DIR/$name/console.log"
"$FIREC_RUN" logs "$name" >"$WORK/$name/all"
check "logs --tail 1: the last line only" test "$("$FIREC_RUN" logs --tail 1 "$name")" = "$(tail -n 1 "$WORK/$name/all")"
check "logs --tail 3: the last three" test "$("$FIREC_RUN" logs --tail 3 "$name")" = "$(tail -n 3 "$WORK/$name/all")"
check "logs --tail 0: nothing" test -z "$("$FIREC_RUN" logs --tail 0 "$name")"
"$FIREC_RUN" rm "$name" 2>/dev/null
check "rm removes the log with everything else" clean_after "$name"
out=$("$FIREC_RUN" logs "$name" 2>&1); rc=$?
check "logs of a VM that is not there: exit 1, saying so (got $rc)" test "$rc" -eq 1 -a -n "$(echo "$out" | grep "no VM")"

if [ "$REAL" = 1 ]; then
  # A real guest cannot be made to write on cue here: the rest needs the doubles.
  done_testing; exit 0
fi

# --- the cap, and a guest never stalled by its console ----------------------------
name=e2e-cap
prepare hello "$name"
FAKE_FC_GUEST_OUTPUT=3000000 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
check "a guest writing 3 MB: its last line is kept" until_in_log "$name" "^guest output done"
size=$(log_size "$name")
check "the log holds at most 1 MiB ($size bytes)" test "$size" -le 1048576 -a "$size" -ge 524288
check "its first lines are gone" sh -c "'$FIREC_RUN' logs '$name' >'$WORK/$name/log' && ! grep -q 'guest line 00000000' '$WORK/$name/log'"
check "the VM still answers" test "$(status_of "$name")" = running
"$FIREC_RUN" rm -f "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"

# logs -f across the log's rotations: what it printed ends with exactly what is
# kept (no byte lost or doubled where console.log became console.log.1).
name=e2e-follow
prepare hello "$name"
FAKE_FC_GUEST_STREAM=1 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
"$FIREC_RUN" logs -f "$name" >"$WORK/$name/follow" 2>&1 &
follow=$!
sleep 0.3
"$FIREC_RUN" stop "$name" 2>/dev/null
wait "$follow"; rc=$?
"$FIREC_RUN" logs "$name" >"$WORK/$name/all"
size=$(wc -c <"$WORK/$name/all")
check "a streaming guest: the log was rotated ($size bytes kept, logs -f exit $rc)" \
  test "$rc" -eq 0 -a -s "$FIREC_STATE_DIR/$name/console.log.1" -a "$size" -ge 524288
check "logs -f printed everything across the rotations: it ends with what is kept" \
  cmp -s <(tail -c "$size" "$WORK/$name/follow") "$WORK/$name/all"
"$FIREC_RUN" rm "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"

name=e2e-frozen
prepare hello "$name"
FAKE_FC_GUEST_STREAM=1 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
keeper=$(keeper_of "$name")
kill -STOP "$keeper"
sleep 1 # the guest fills whatever the console buffers, many times over
check "a stopped keeper does not stall the guest: the API answers" \
  sh -c "[ \"\$(timeout 5 '$FIREC_RUN' status --output json '$name' | grep -c '\"running\"')\" = 1 ]"
before=$(log_size "$name")
kill -CONT "$keeper"
# (up to 10 s: a loaded machine may not schedule it at once)
grew() { local i; for i in $(seq 100); do [ "$(log_size "$name")" -ne "$before" ] && return 0; sleep 0.1; done; return 1; }
check "the keeper goes on once it runs again" grew
"$FIREC_RUN" rm -f "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"

# --- attach ----------------------------------------------------------------------
name=e2e-attach
prepare hello "$name"
"$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
drive "expect:$hint" termios:raw "send:hello-guest\r" "expect:hello-guest" "touch:$WORK/attached" \
  "waitfile:$WORK/second-done" "send:\x1dq" exit:0 termios:cooked -- "$FIREC_RUN" attach "$name" \
  2>"$WORK/$name/drive" &
driver=$!
for i in $(seq 200); do [ -e "$WORK/attached" ] && break; sleep 0.05; done
check "attach: what is typed reaches the guest (and its echo the terminal)" test -e "$WORK/attached"
out=$(timeout 10 "$FIREC_RUN" attach "$name" </dev/null 2>&1); rc=$?
check "a second attach: exit 4 (got $rc)" test "$rc" -eq 4
check "... saying one attacher at a time, and who has it" grep -q "attached by pid [0-9]* already (one at a time)" <<<"$out"
touch "$WORK/second-done"
wait "$driver"; rc=$?
check "Ctrl+] q detaches (exit 0) and the terminal is as it was" test "$rc" -eq 0 || sed 's/^/#   /' "$WORK/$name/drive"
check "the VM runs on" test "$(status_of "$name")" = running
check "what was typed is in its log" sh -c "'$FIREC_RUN' logs '$name' | grep -q hello-guest"
rm -f "$WORK/attached" "$WORK/second-done"
drive "expect:$hint" "pidfile:$WORK/attach.pid" "touch:$WORK/attached" "sleep:0.3" termios:cooked exit:0 \
  -- "$FIREC_RUN" attach "$name" 2>"$WORK/$name/drive" &
driver=$!
for i in $(seq 200); do [ -s "$WORK/attach.pid" ] && [ -e "$WORK/attached" ] && break; sleep 0.05; done
kill -TERM "$(cat "$WORK/attach.pid")"
wait "$driver"; rc=$?
check "SIGTERM detaches too, restoring the terminal" test "$rc" -eq 0 || sed 's/^/#   /' "$WORK/$name/drive"
check "the VM runs on" test "$(status_of "$name")" = running
drive "expect:$hint" "touch:$WORK/attached2" "expect:has ended" termios:cooked exit:0 \
  -- "$FIREC_RUN" attach "$name" 2>"$WORK/$name/drive" &
driver=$!
for i in $(seq 200); do [ -e "$WORK/attached2" ] && break; sleep 0.05; done
"$FIREC_RUN" stop "$name" 2>/dev/null
wait "$driver"; rc=$?
check "attach ends when the VM ends, restoring the terminal (exit $rc)" test "$rc" -eq 0 || sed 's/^/#   /' "$WORK/$name/drive"
out=$(timeout 10 "$FIREC_RUN" attach "$name" </dev/null 2>&1); rc=$?
check "attach to an ended VM: exit 1, pointing to logs (got $rc)" test "$rc" -eq 1 -a -n "$(echo "$out" | grep "firec-run logs")"
"$FIREC_RUN" rm "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"

# --- a SIGKILLed keeper ------------------------------------------------------------
name=e2e-keeper-kill
prepare hello "$name"
FAKE_FC_GUEST_STREAM=1 "$FIREC_RUN" run -d -q "$WORK/$name/vm.json" 2>/dev/null
pid=$("$FIREC_RUN" status --output json "$name" | json_field pid)
kill -KILL "$(keeper_of "$name")"
sleep 0.5
check "SIGKILL of the keeper does not kill the VM" kill -0 "$pid"
check "which still answers" test "$(status_of "$name")" = running
out=$(timeout 10 "$FIREC_RUN" attach "$name" </dev/null 2>&1); rc=$?
check "attach says the console cannot be reached (exit $rc)" test "$rc" -eq 1 -a -n "$(echo "$out" | grep "keeper")"
"$FIREC_RUN" rm "$name" 2>/dev/null; rc=$?
check "rm still removes everything (exit $rc)" test "$rc" -eq 0
check "nothing is left" clean_after "$name"

# --- an attached run: the escape ---------------------------------------------------
name=e2e-attached-detach
prepare hello "$name"
FAKE_FC_GUEST_OUTPUT=800 drive "expect:$hint" "expect:guest output done" termios:raw "send:\x03" "expect:\x03" \
  "send:\x1dq" "expect:runs on" exit:0 termios:cooked -- "$FIREC_RUN" run -q "$WORK/$name/vm.json" \
  2>"$WORK/$name/drive"; rc=$?
check "an attached run shows the escape and the console; ^C goes to the guest; Ctrl+] q: exit 0" test "$rc" -eq 0 || sed 's/^/#   /' "$WORK/$name/drive"
check "the VM runs on, detached" test "$(status_of "$name")" = running
check "as a daemon VM" test "$("$FIREC_RUN" status --output json "$name" | json_field mode)" = daemon
check "still with its console" sh -c "'$FIREC_RUN' logs '$name' | grep -q 'guest output done'"
"$FIREC_RUN" rm "$name" 2>/dev/null
check "rm leaves nothing" clean_after "$name"

# Ctrl+] q when the record cannot say "detached" (its directory made
# immutable): the console says why, and the supervision goes on; once the
# record can be written, Ctrl+] q detaches.
name=e2e-attached-nodetach
prepare hello "$name"
sd=$FIREC_STATE_DIR/$name
if chattr +i "$WORK/$name" 2>/dev/null && chattr -i "$WORK/$name"; then
  drive "expect:$hint" "touch:$WORK/$name/ready" "waitfile:$WORK/$name/locked" "send:\x1dq" "expect:cannot detach" \
    "touch:$WORK/$name/said" "waitfile:$WORK/$name/unlocked" "send:\x1dq" "expect:runs on" exit:0 termios:cooked \
    -- "$FIREC_RUN" run -q "$WORK/$name/vm.json" 2>"$WORK/$name/drive" &
  driver=$!
  for i in $(seq 200); do [ -e "$WORK/$name/ready" ] && break; sleep 0.05; done
  chattr +i "$sd"; touch "$WORK/$name/locked"
  for i in $(seq 200); do [ -e "$WORK/$name/said" ] && break; sleep 0.05; done
  check "Ctrl+] q with a record that cannot be written: the console says it cannot detach" test -e "$WORK/$name/said"
  check "and the run supervises on, attached" test "$(status_of "$name")" = running
  chattr -i "$sd"; touch "$WORK/$name/unlocked"
  wait "$driver"; rc=$?
  check "a second Ctrl+] q detaches (exit $rc)" test "$rc" -eq 0 || sed 's/^/#   /' "$WORK/$name/drive"
  check "as a daemon VM" test "$("$FIREC_RUN" status --output json "$name" | json_field mode)" = daemon
  "$FIREC_RUN" rm "$name" 2>/dev/null
  check "rm leaves nothing" clean_after "$name"
else
  for what in "the console says it cannot detach" "it supervises on" "a second Ctrl+] q detaches" "as a daemon VM" \
    "rm leaves nothing"; do skip "Ctrl+] q, record not writable: $what" "no chattr +i on this file system"; done
fi

# An attached run whose standard output goes away (its pipe's reader ended):
# the supervision goes on, the VM too.
name=e2e-attached-pipe
prepare hello "$name"
(FAKE_FC_GUEST_STREAM=1 "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null 2>"$WORK/$name/stderr" | head -c 100 >/dev/null) &
runner=$!
wait_running "$name"; sleep 0.5
check "an attached run whose output pipe broke supervises on" test "$(status_of "$name")" = running
"$FIREC_RUN" stop "$name" 2>/dev/null; rc=$?
wait "$runner"
check "stop still goes through it (exit $rc), which removes everything" clean_after "$name"

name=e2e-attached-stop
prepare hello "$name"
drive "expect:$hint" "send:\x1ds" exit:0 termios:cooked -- "$FIREC_RUN" run -q "$WORK/$name/vm.json" \
  2>"$WORK/$name/drive"; rc=$?
check "Ctrl+] s stops an attached run's VM (exit $rc)" test "$rc" -eq 0 || sed 's/^/#   /' "$WORK/$name/drive"
check "which removes everything, as at the end of an attached VM" clean_after "$name"

# --- tmux mode: the console is the session's pane ----------------------------------
# A tmux server that runs already, with an environment of its own (a user's):
# the session still gets firec-run's (the state root, the test seams).
if command -v tmux >/dev/null; then
  name=e2e-tmux-console
  other=e2e-other-$$
  env -i PATH=/usr/bin:/bin tmux new-session -d -s "$other" sleep 600
  prepare hello "$name"
  "$PYTHON3" -c 'import json,sys; m=json.load(open(sys.argv[1])); m["spec"]["run"]["mode"]="tmux"; json.dump(m, open(sys.argv[1],"w"))' "$WORK/$name/vm.json"
  FAKE_FC_GUEST_OUTPUT=800 "$FIREC_RUN" run -q "$WORK/$name/vm.json" </dev/null >/dev/null 2>&1
  for i in $(seq 100); do tmux capture-pane -p -t "=$name:" 2>/dev/null | grep -q "guest output done" && break; sleep 0.05; done
  check "tmux mode: the guest's console is in the session's pane" sh -c "tmux capture-pane -p -t '=$name:' | grep -q 'guest output done'"
  check "and in logs" sh -c "'$FIREC_RUN' logs '$name' | grep -q 'guest output done'"
  "$FIREC_RUN" stop "$name" 2>/dev/null
  for i in $(seq 100); do tmux has-session -t "=$name" 2>/dev/null || break; sleep 0.05; done
  check "stop ends it and leaves nothing" clean_after "$name"
  tmux kill-session -t "=$other"
fi
done_testing
