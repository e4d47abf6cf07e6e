# bench: the benchmark scripts (one per figure) and their helpers. `make bench`
# runs them (test doubles unless FIREC_BENCH_FIRECRACKER/JAILER/GUEST are set).
check_PROGRAMS += bench/plan-bench bench/stage-bench
bench_plan_bench_SOURCES = bench/plan-bench.c
bench_plan_bench_LDADD = $(FIREC_LIBS)
bench_stage_bench_SOURCES = bench/stage-bench.c
bench_stage_bench_LDADD = $(FIREC_LIBS)
FIREC_BENCH_LIST = bench/start-latency.sh bench/staging.sh bench/footprint.sh bench/concurrency.sh bench/validate-rate.sh
EXTRA_DIST += $(FIREC_BENCH_LIST) bench/lib.sh

bench: all $(check_PROGRAMS)
	@for s in $(FIREC_BENCH_LIST); do \
	  top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' PYTHON3='$(PYTHON3)' \
	    $(SHELL) $(srcdir)/$$s || exit 1; echo; \
	done
.PHONY: bench
