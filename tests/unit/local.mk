# tests/unit: rules for this folder (included from Makefile.am)

check_PROGRAMS += tests/unit/test-schema
TESTS += tests/unit/test-schema
tests_unit_test_schema_SOURCES = tests/unit/test-schema.c tests/unit/tap.h
tests_unit_test_schema_LDADD = $(FIREC_LIBS)

check_PROGRAMS += tests/unit/test-yaml-load
TESTS += tests/unit/test-yaml-load
tests_unit_test_yaml_load_SOURCES = tests/unit/test-yaml-load.c tests/unit/tap.h
tests_unit_test_yaml_load_LDADD = $(FIREC_LIBS)

check_PROGRAMS += tests/unit/test-fcapi
TESTS += tests/unit/test-fcapi
tests_unit_test_fcapi_SOURCES = tests/unit/test-fcapi.c tests/unit/tap.h
tests_unit_test_fcapi_LDADD = $(FIREC_LIBS)

check_PROGRAMS += tests/unit/test-process
TESTS += tests/unit/test-process
tests_unit_test_process_SOURCES = tests/unit/test-process.c tests/unit/tap.h
tests_unit_test_process_LDADD = $(FIREC_LIBS)

check_PROGRAMS += tests/unit/test-resolve
TESTS += tests/unit/test-resolve
tests_unit_test_resolve_SOURCES = tests/unit/test-resolve.c tests/unit/tap.h
tests_unit_test_resolve_LDADD = $(FIREC_LIBS)

check_PROGRAMS += tests/unit/test-stage
TESTS += tests/unit/test-stage
tests_unit_test_stage_SOURCES = tests/unit/test-stage.c tests/unit/tap.h
tests_unit_test_stage_LDADD = $(FIREC_LIBS)
