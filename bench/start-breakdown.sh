#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Context for figure 1 (bench/start-breakdown.py): the floor, the least any API
# client can do, and firec-run, on the manifest of bench/start-latency.sh, all
# timed by one process. No target: it splits firec-run's ratio to the floor into
# what the API path costs and what firec-run itself adds.
. "$(dirname "$0")/lib.sh"
prepare rootfs bench-breakdown || exit 1
m=$WORK/bench-breakdown/vm.json
# A tap of its own, as the floor's in bench/start-latency.sh.
bench_tap tap0 tap3
"$FIREC_RUN" render --firecracker-config "$m" 2>/dev/null | sed 's/"tap0"/"tap3"/' >"$WORK/config.json"
"$PYTHON3" -c 'import json,sys; [print(f["host_path"], f["vm_path"]) for f in json.load(open(sys.argv[1]))["x-firec-derived"]["files"]]' \
  <("$FIREC_RUN" render --output json "$m") >"$WORK/files"
sync
"$PYTHON3" "$here/start-breakdown.py" "$WORK/config.json" "$WORK/files" "$JAILER" "$FC" "$WORK" "$RUNS" \
  "$FIREC_RUN" "$m" bench-breakdown
