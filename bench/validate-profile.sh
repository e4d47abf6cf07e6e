#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Figure 5, explained: where validate + plan of examples/jailer-full.yaml spends
# its instructions, per manifest and per phase, next to what libyaml alone costs
# for the same file (bench/yaml-floor: the event API, nothing built). Callgrind,
# difference method: N manifests minus 1, so that the one-time work (ld.so, the
# built-in schema, the first use of each regex) cancels out. Deterministic: the
# figures do not depend on the machine's load, only on the code and libraries.
. "$(dirname "$0")/lib.sh"
command -v valgrind >/dev/null && command -v callgrind_annotate >/dev/null ||
  { echo "validate profile: skipped (needs valgrind)"; exit 0; }
n=${FIREC_BENCH_PROFILE_PLANS:-21}
file=${FIREC_BENCH_PROFILE_FILE:-$top_srcdir/examples/jailer-full.yaml}

profile() { # profile PROGRAM RUNS OUT: a callgrind profile of PROGRAM FILE RUNS
  valgrind --tool=callgrind --callgrind-out-file="$3" "$top_builddir/bench/$1" "$file" "$2" >/dev/null 2>&1 ||
    { echo "validate profile: $1 failed under valgrind"; exit 1; }
}
# costs INCLUSIVE(yes|no) ONE MANY: "function cost-per-manifest" lines, names
# without their file and recursion suffix. Code inlined from a header shows as
# the same function in another file: self costs add up, inclusive ones do not.
costs() {
  for f in "$2" "$3"; do
    callgrind_annotate --threshold=100 --auto=no --inclusive="$1" "$f" 2>/dev/null |
      sed -n 's/^ *\([0-9,]*\) ([^)]*)  *\([^ []*\) *\[*\([^]]*\).*/\1 \2 \3/p' |
      awk -v run="$([ "$f" = "$2" ] && echo one || echo many)" '$2 != "PROGRAM" {
        gsub(",", "", $1); name = $2; sub(/.*:/, "", name); sub(/'"'"'[0-9]+$/, "", name)
        if (name ~ /^0x/) { obj = $3; sub(/.*\//, "", obj); name = "(static@" obj ")" }
        print run, name, $1 }'
  done | awk -v n="$n" -v sum="$([ "$1" = no ] && echo 1)" '
    { if (sum) c[$1, $2] += $3; else if ($3 > c[$1, $2]) c[$1, $2] = $3; names[$2] = 1 }
    END { for (k in names) printf "%s %.0f\n", k, (c["many", k] - c["one", k]) / (n - 1) }'
}
profile plan-bench 1 "$WORK/cg.1"; profile plan-bench "$n" "$WORK/cg.n"
profile yaml-floor 1 "$WORK/floor.1"; profile yaml-floor "$n" "$WORK/floor.n"
costs yes "$WORK/cg.1" "$WORK/cg.n" >"$WORK/incl"
costs no "$WORK/cg.1" "$WORK/cg.n" >"$WORK/self"
floor=$(costs no "$WORK/floor.1" "$WORK/floor.n" | awk '{ s += $2 } END { print s }')
get() { awk -v k="$1" '$1 == k { print $2; f = 1 } END { if (!f) print 0 }' "$WORK/incl"; }

total=$(awk '{ s += $2 } END { print s }' "$WORK/self")
libyaml=$(( $(get yaml_parser_initialize) + $(get yaml_parser_parse) + $(get yaml_event_delete) + $(get yaml_parser_delete) ))
echo "validate + plan instructions per manifest ($(basename "$file"), callgrind, ($n - 1) / $((n - 1))): $total (target <= 600000)"
printf '  %-62s %8s\n' \
  "load: libyaml (parser, events)" "$libyaml" \
  "load: firec's side (reading the file, the tree and its marks)" "$(( $(get firec_yaml_load_file) - libyaml ))" \
  "\${VAR} interpolation" "$(get firec_interpolate)" \
  "schema validation" "$(get firec_schema_validate)" \
  "semantic checks" "$(get firec_manifest_check_semantics)" \
  "resolve (defaults, host paths, binaries, derived names)" "$(get resolve_manifest)" \
  "plan build" "$(get firec_plan_build)" \
  "freeing the plan and the model" "$(( $(get firec_plan_free) + $(get firec_model_free) ))"
echo "  libyaml alone, the same file (bench/yaml-floor, event API): $floor per manifest;" \
  "the target leaves firec $(( 600000 - floor )) of its own"
echo "  the most expensive functions (self, per manifest):"
sort -k2,2nr "$WORK/self" | head -"${FIREC_BENCH_PROFILE_TOP:-15}" | awk '{ printf "    %-58s %8s\n", $1, $2 }'
