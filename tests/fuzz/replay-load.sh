#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Replays the loader's fuzz corpus (crashers found once stay fixed); prints TAP.
set -e
cd "${top_srcdir:?}/tests/fuzz"
exec "${top_builddir:?}/tests/fuzz/replay-load" corpus/load
