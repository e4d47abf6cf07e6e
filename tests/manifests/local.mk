# tests/manifests: fixture tests (every valid/invalid manifest and example) and
# the differential test against python3-jsonschema.
check_PROGRAMS += tests/manifests/schema-verdict
tests_manifests_schema_verdict_SOURCES = tests/manifests/schema-verdict.c
tests_manifests_schema_verdict_LDADD = $(FIREC_LIBS)

TESTS += tests/manifests/check-fixtures.sh tests/manifests/differential.py
EXTRA_DIST += tests/manifests/check-fixtures.sh tests/manifests/differential.py tests/manifests/regen-expected.sh
# The fixtures themselves (dist-hook keeps the lists out of this file).
dist-hook: dist-fixtures
dist-fixtures:
	for d in tests/manifests/valid tests/manifests/invalid examples; do \
	  mkdir -p $(distdir)/$$d && cp -pR $(srcdir)/$$d/. $(distdir)/$$d/; \
	done
.PHONY: dist-fixtures
