#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Every sub-command's --help (TAP): for each command `firec-run --help` lists,
# and each action of the commands that have some (snapshot create, balloon
# set, ...): exit 0, a usage line on stdout, and every long option the command
# accepts named in it. Which options a command accepts is asked of the command
# itself: each long option firec-run defines anywhere is tried on it, and
# getopt says "unrecognized option" for the ones it does not take.
: "${FIREC_RUN:?}" "${top_srcdir:?}"
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }

# Accepted on purpose without being shown: run --in-tmux is how a tmux-mode run
# starts its attached self inside the session.
hidden=" run:--in-tmux "

mapfile -t commands < <("$FIREC_RUN" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p')
if [ "${#commands[@]}" -ge 15 ]; then ok "firec-run --help lists ${#commands[@]} commands"
else not_ok "firec-run --help lists the commands (found ${#commands[@]})"; fi

# NAME TYPE for every long option in the sources' option tables.
mapfile -t defined < <(grep -ho '{ "[a-z][a-z-]*", *[a-z]*_argument' "$top_srcdir"/src/*.c |
  sed 's/{ "\([a-z-]*\)", *\([a-z]*\)_argument/\1 \2/' | sort -u)
if [ "${#defined[@]}" -ge 15 ]; then ok "the sources define ${#defined[@]} long options"
else not_ok "the sources define long options (found ${#defined[@]})"; fi

# check_help WORDS...: the help of `firec-run WORDS...` and the options it names.
check_help() {
  local what="$*" out err rc entry name type missing=""
  out=$("$FIREC_RUN" "$@" --help 2>"${TMPDIR:-/tmp}/help-err.$$"); rc=$?
  err=$(cat "${TMPDIR:-/tmp}/help-err.$$"); rm -f "${TMPDIR:-/tmp}/help-err.$$"
  if [ "$rc" -eq 0 ] && [ -z "$err" ] && [[ $out == "Usage: firec-run "* ]]; then ok "$what --help: exit 0, a usage on stdout"
  else not_ok "$what --help: exit 0, a usage on stdout (exit $rc, stderr: ${err:0:200})"; fi
  for entry in "${defined[@]}"; do
    name=${entry% *} type=${entry#* }
    local probe=(--"$name")
    [ "$type" = no ] || probe=(--"$name=x")
    "$FIREC_RUN" "$@" "${probe[@]}" --help 2>&1 >/dev/null | grep -q "unrecognized option" && continue
    [[ $hidden == *" ${1}:--$name "* ]] && continue
    grep -Eq -- "--$name([^a-z-]|$)" <<<"$out" || missing="$missing --$name"
  done
  if [ -z "$missing" ]; then ok "$what --help names every option it accepts"
  else not_ok "$what --help names every option it accepts (missing:$missing)"; fi
}

for c in "${commands[@]}"; do
  # A command with actions shows them as "Usage: firec-run CMD ACTION [OPTIONS] ...".
  mapfile -t actions < <("$FIREC_RUN" "$c" --help 2>/dev/null | sed -n "s/^.*firec-run $c \([a-z][a-z]*\) \[OPTIONS\].*/\1/p")
  if [ "${#actions[@]}" -eq 0 ]; then check_help "$c"; continue; fi
  if "$FIREC_RUN" "$c" --help >/dev/null 2>&1; then ok "$c --help: exit 0 and its actions (${actions[*]})"
  else not_ok "$c --help: exit 0"; fi
  for a in "${actions[@]}"; do check_help "$c" "$a"; done
done

# An unknown option is still a usage error (exit 2) that points to --help.
out=$("$FIREC_RUN" status --no-such-option x 2>&1); rc=$?
if [ "$rc" -eq 2 ] && [[ $out == *"firec-run status --help"* ]]; then ok "an unknown option: exit 2, pointing to --help"
else not_ok "an unknown option: exit 2, pointing to --help (exit $rc: $out)"; fi

echo "1..$n"
