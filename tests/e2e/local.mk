# tests/e2e: firec-run run against the test doubles (make check), or against the
# real binaries with `make check-real` (FIREC_TEST_FIRECRACKER, FIREC_TEST_JAILER
# and FIREC_TEST_GUEST set; root and /dev/kvm).
E2E_TESTS = tests/e2e/run-examples.sh tests/e2e/fault-matrix.sh tests/e2e/lifecycle.sh
TESTS += $(E2E_TESTS)
EXTRA_DIST += $(E2E_TESTS) tests/e2e/lib.sh tests/e2e/prepare.py

check-real: all
	@test -n "$$FIREC_TEST_FIRECRACKER" && test -n "$$FIREC_TEST_JAILER" && test -n "$$FIREC_TEST_GUEST" || \
	  { echo "check-real: set FIREC_TEST_FIRECRACKER, FIREC_TEST_JAILER and FIREC_TEST_GUEST"; exit 1; }
	$(MAKE) $(AM_MAKEFLAGS) check TESTS="$(E2E_TESTS)"
.PHONY: check-real
