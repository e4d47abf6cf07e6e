# tests/fuzz: rules for this folder (included from Makefile.am)

# The load target: make check replays its corpus with any compiler (a crasher
# found once stays fixed); --enable-fuzzing builds the libFuzzer binary too.
check_PROGRAMS += tests/fuzz/replay-load
tests_fuzz_replay_load_SOURCES = tests/fuzz/replay.c tests/fuzz/fuzz-load.c
tests_fuzz_replay_load_LDADD = $(FIREC_LIBS)
dist_check_SCRIPTS += tests/fuzz/replay-load.sh
TESTS += tests/fuzz/replay-load.sh
# The whole directory, so that a new seed needs no edit here.
EXTRA_DIST += tests/fuzz/corpus/load

if ENABLE_FUZZING
# libfirec.a is built without coverage instrumentation, which would leave
# libFuzzer blind inside the loader: the code under test is compiled into the
# target again, with it. FIREC_LIBS still supplies whatever else gets called.
FUZZ_LOADER_SOURCES = src/libfirec/yaml-load.c src/libfirec/doc.c src/libfirec/diag.c \
	src/libfirec/error.c src/libfirec/util.c src/libfirec/schema.c src/libfirec/schema-data.c \
	src/libfirec/manifest.c src/libfirec/resolve.c
noinst_PROGRAMS += tests/fuzz/fuzz-load
tests_fuzz_fuzz_load_SOURCES = tests/fuzz/fuzz-load.c $(FUZZ_LOADER_SOURCES)
tests_fuzz_fuzz_load_CFLAGS = $(AM_CFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_load_LDFLAGS = $(AM_LDFLAGS) -fsanitize=fuzzer
tests_fuzz_fuzz_load_LDADD = $(FIREC_LIBS)
endif
