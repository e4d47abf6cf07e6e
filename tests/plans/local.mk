# tests/plans and tests/import: golden plans (argv and request bodies), their
# check against Firecracker's swagger, render/plan determinism, import round trips.
TESTS += tests/plans/plan-goldens.sh tests/plans/swagger-check.py tests/import/check-import.sh
EXTRA_DIST += tests/plans/plan-goldens.sh tests/plans/swagger-check.py tests/import/check-import.sh
dist-hook: dist-plan-data
dist-plan-data:
	for d in tests/plans/golden tests/import; do \
	  mkdir -p $(distdir)/$$d && cp -pR $(srcdir)/$$d/. $(distdir)/$$d/; \
	done
.PHONY: dist-plan-data
