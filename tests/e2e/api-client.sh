#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The API client (TAP): libcurl is loaded only by commands that talk to
# Firecracker, a request Firecracker never answered is not sent again, and
# Firecracker's own message reaches the user when it answers 400 and exits.
. "$top_srcdir/tests/e2e/lib.sh"

soname=$(sed -n 's/^#define FIREC_LIBCURL_SONAME "\(.*\)"$/\1/p' "$top_builddir/config.h")
check "configure found libcurl's soname ($soname)" test -n "$soname"
supervise=$top_builddir/firec-supervise

# --- no binary links libcurl; the dependency is declared for packagers -------
for bin in "$FIREC_RUN" "$supervise"; do
  check "ldd $(basename "$bin"): no libcurl" sh -c '! ldd "$1" | grep -q libcurl' _ "$bin"
  check "$(basename "$bin") declares $soname in .note.dlopen" \
    sh -c 'readelf -p .note.dlopen "$1" | grep -qF "\"soname\":[\"$2\"]"' _ "$bin" "$soname"
done

# --- only the commands that talk to Firecracker load it -----------------------
name=e2e-apiclient
prepare hello "$name" || { not_ok "prepared"; done_testing; exit 0; }
m=$WORK/$name/vm.json
"$FIREC_RUN" render --firecracker-config "$m" >"$WORK/fc-config.json" 2>/dev/null
loads_libcurl() { # loads_libcurl COMMAND...: LD_DEBUG's list of the files ld.so opened names libcurl
  LD_DEBUG=files LD_DEBUG_OUTPUT="$WORK/ld" "$@" </dev/null >/dev/null 2>&1
  local rc=1
  grep -q "file=$soname" "$WORK"/ld.* 2>/dev/null && rc=0
  rm -f "$WORK"/ld.*
  return $rc
}
doesnt() { ! "$@"; }
check "LD_DEBUG sees the libraries firec-run loads (libyaml)" sh -c \
  'LD_DEBUG=files "$1" --version 2>&1 >/dev/null | grep -q "file=libyaml"' _ "$FIREC_RUN"
for cmd in "--version" "validate $m" "plan $m" "render $m" "schema" "import $WORK/fc-config.json" "ps"; do
  # shellcheck disable=SC2086
  check "firec-run ${cmd%% *} does not load libcurl" doesnt loads_libcurl "$FIREC_RUN" $cmd
done
check "firec-run run loads libcurl" loads_libcurl "$FIREC_RUN" run -d -q "$m"
check "... and the VM runs" wait_running "$name" 5
check "firec-run pause (an API call) loads libcurl" loads_libcurl "$FIREC_RUN" pause "$name"
"$FIREC_RUN" rm -f "$name" >/dev/null 2>&1
check "rm leaves nothing" clean_after "$name"

# A run that fails early exits while the helper thread may still be loading
# libcurl: exit () must wait for it (its destructors ran under OpenSSL's init
# and crashed 7 times in 200 such runs).
codes=$(for i in $(seq 200); do
  FIREC_TEST_FAULT=fail:preflight.kvm "$FIREC_RUN" run -q "$m" </dev/null >/dev/null 2>&1; echo $?
done | sort | uniq -c | tr -s ' ')
check "200 runs failing in preflight while libcurl loads all exit 3 ($codes)" test "$codes" = " 200 3"

if [ "$REAL" = 1 ]; then
  done_testing
  exit 0
fi

# --- a request that got no answer is never sent again -------------------------
# The fake reads the PUT and closes the connection; libcurl re-sends a request
# once when a reused connection closes so. Each PUT must arrive exactly once.
for path in /machine-config /boot-source; do
  log=$WORK/$name/requests${path//\//-}.log
  : >"$log"; chmod 666 "$log"
  FAKE_FC_DROP_AT="PUT $path" FAKE_FC_REQUEST_LOG=$log timeout 60 "$FIREC_RUN" run -q "$m" </dev/null >/dev/null \
    2>"$WORK/$name/stderr"
  rc=$?
  check "PUT $path dropped without an answer: exit $rc" test "$rc" -eq 1
  check "... the error says so" grep -q "PUT $path on API socket .*: the connection closed without an answer" \
    "$WORK/$name/stderr"
  sent=$(grep -c "\"method\":\"PUT\",\"path\":\"$path\"" "$log")
  check "... the PUT reached Firecracker exactly once (got $sent)" test "$sent" -eq 1
  check "... nothing is left" clean_after "$name"
done

# --- Firecracker answers 400 and exits: its message reaches the user ----------
expect_message() { # expect_message WHAT STEP TEXT ENV...
  local what=$1 step=$2 text=$3 rc; shift 3
  env "$@" timeout 60 "$FIREC_RUN" run -q "$m" </dev/null >/dev/null 2>"$WORK/$name/stderr"
  rc=$?
  if [ "$rc" -eq 1 ] && grep -q "step $step failed" "$WORK/$name/stderr" && grep -qF -- "$text" "$WORK/$name/stderr" &&
    ! grep -q "closed without an answer" "$WORK/$name/stderr"; then
    ok "$what: exit 1, Firecracker's message is shown"
  else
    not_ok "$what: exit $rc, Firecracker's message is shown"; head -5 "$WORK/$name/stderr" | sed 's/^/#   /'
  fi
  check "... nothing is left" clean_after "$name"
}
expect_message "InstanceStart answered 400, then Firecracker exits" api.action.InstanceStart \
  "Firecracker answered 400: injected failure at PUT /actions:InstanceStart" \
  FAKE_FC_FAIL_EXIT_AT="PUT /actions:InstanceStart"

# A snapshot the fake cannot load: it answers 400 and exits, as Firecracker does.
snap=e2e-apisnap
prepare snapshot-restore "$snap" || not_ok "prepared $snap"
name=$snap m=$WORK/$snap/vm.json
expect_message "PUT /snapshot/load answered 400, then Firecracker exits" api.put.snapshot-load \
  "Firecracker answered 400: Load microVM snapshot error: Loading snapshot failed"
done_testing
