#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# The bash completion (TAP): COMPREPLY for a few command lines, in a directory
# with manifests, other files and a subdirectory, and with two VMs in the state
# directory; and its lists of commands, actions and options against what
# firec-run's --help says, so that neither drifts.
: "${FIREC_RUN:?}" "${top_srcdir:?}"
n=0
ok() { n=$((n + 1)); echo "ok $n - $*"; }
not_ok() { n=$((n + 1)); echo "not ok $n - $*"; }

# shellcheck source=../../data/bash-completion/firec-run
. "$top_srcdir/data/bash-completion/firec-run"
work=$(mktemp -d "${TMPDIR:-/tmp}/firec-completion.XXXXXX") || exit 1
trap 'rm -rf "$work"' EXIT
mkdir "$work/cwd" && cd "$work/cwd" || exit 1
touch web.yaml db.yml fc.json notes.txt
mkdir sub
export FIREC_STATE_DIR=$work/state
mkdir -p "$FIREC_STATE_DIR/web-1" "$FIREC_STATE_DIR/db-2"

# completions WORD...: what completing the last WORD offers (the cursor at its
# end), sorted, on one line.
completions() {
  COMP_WORDS=("$FIREC_RUN" "$@")
  COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
  COMP_LINE="${COMP_WORDS[*]}"
  COMP_POINT=${#COMP_LINE}
  COMPREPLY=()
  _firec_run "$FIREC_RUN" "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}" 2>/dev/null
  printf '%s\n' "${COMPREPLY[@]}" | sed '/^$/d' | sort | tr '\n' ' ' | sed 's/ $//'
}
# expect "WANTED" WORD... (WANTED in any order)
# shellcheck disable=SC2086
expect() {
  local want got
  want=$(printf '%s\n' $1 | sort | tr '\n' ' ' | sed 's/ $//'); shift
  got=$(completions "$@")
  if [ "$got" = "$want" ]; then ok "firec-run $*<TAB>: $want"
  else not_ok "firec-run $*<TAB>: want \"$want\", got \"$got\""; fi
}

manifests="db.yml fc.json sub web.yaml"
# shellcheck disable=SC2154 # set by the completion
expect "$_firec_run_commands $manifests" ""
expect "status stop" st
expect "--help --version" -
expect "db-2 web-1 $manifests" status ""
expect "web-1 web.yaml" rm w
expect "web-1" stop --timeout 5 web-
expect "$manifests" run -o json ""
expect "" run web.yaml ""
expect "$manifests" validate web.yaml ""
expect "json text" run --output ""
expect "json text" apply --output = ""
expect "json yaml" render --output ""
expect "--base-dir --firecracker-config --help --output" render --
expect "--base-dir --detach --help --lock-timeout --output --quiet" web.yaml --
expect "sub" plan --base-dir ""
expect "fc.json sub" import ""
expect "create" snapshot ""
expect "--diff --force --help --keep-paused --mem --output --snapshot" snapshot create web-1 --
expect "db.yml fc.json notes.txt sub web.yaml" snapshot create web-1 --snapshot ""
expect "set stats" balloon ""
expect "db-2 web-1 $manifests" balloon set ""
expect "fc.json sub" mmds put web-1 ""
expect "drive iface" update web-1 ""
expect "--rate-limiter --rx-rate-limiter" update web-1 drive rootfs --r
expect "" update web-1 drive rootfs --rate-limiter ""
expect "db-2 web-1 $manifests" logs ""
expect "--follow --help --tail" logs --
expect "" logs --tail ""
expect "db-2 web-1 $manifests" attach ""
expect "db-2 web-1 $manifests" logs -f --tail 5 ""

# --- the lists, against firec-run --------------------------------------------
want=$("$FIREC_RUN" --help | sed -n '/^Commands:/,/^$/s/^  \([a-z][a-z]*\) .*/\1/p' | tr '\n' ' ' | sed 's/ $//')
# shellcheck disable=SC2086
got=$(printf '%s ' $_firec_run_commands | sed 's/ $//')
if [ "$got" = "$want" ]; then ok "the commands are those firec-run --help lists"
else not_ok "the commands are those firec-run --help lists (want \"$want\", got \"$got\")"; fi

# help_options WORD...: the long option each line of the Options section starts with.
help_options() {
  "$FIREC_RUN" "$@" --help | sed -n '/^Options:/,/^$/p' |
    sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z-]*\).*/\2/p' | sort | tr '\n' ' ' | sed 's/ $//'
}
# Options that take a value: their help line shows a metavariable (DIR, FORMAT, ...).
help_valued() {
  "$FIREC_RUN" "$@" --help | sed -n '/^Options:/,/^$/p' |
    sed -n 's/^ *\(-[a-zA-Z], \)\{0,1\}\(--[a-z][a-z-]*\) [A-Z][A-Z.]*\( .*\)\{0,1\}$/\2/p'
}
for c in $_firec_run_commands; do
  acts=$(_firec_run_actions "$c")
  want=$("$FIREC_RUN" "$c" --help | sed -n "s/^.*firec-run $c \([a-z][a-z]*\) \[OPTIONS\].*/\1/p" | tr '\n' ' ' | sed 's/ $//')
  if [ "$acts" = "$want" ]; then ok "$c: the actions are those its --help shows${acts:+ ($acts)}"
  else not_ok "$c: the actions are those its --help shows (want \"$want\", got \"$acts\")"; fi
  targets=("$c")
  [ -z "$acts" ] || targets=()
  for a in $acts; do targets+=("$c $a"); done
  for words in "${targets[@]}"; do
    # shellcheck disable=SC2086
    want=$(help_options $words)
    # shellcheck disable=SC2046
    got=$(printf '%s\n' $(_firec_run_options "$words") | sort | tr '\n' ' ' | sed 's/ $//')
    if [ "$got" = "$want" ]; then ok "$words: the options are those its --help lists"
    else not_ok "$words: the options are those its --help lists (want \"$want\", got \"$got\")"; fi
    # shellcheck disable=SC2086
    for o in $(help_valued $words); do
      _firec_run_takes_value "$o" || not_ok "$words: $o is completed as taking a value"
    done
  done
done
for o in --output --base-dir --firecracker-config --detach --replace --force --diff --help; do
  case $o in
    --output | --base-dir) _firec_run_takes_value "$o" || not_ok "$o takes a value" ;;
    *) _firec_run_takes_value "$o" && not_ok "$o takes no value" ;;
  esac
done
ok "options with a value, and flags, are told apart"

echo "1..$n"
