# tests/doubles: rules for this folder (included from Makefile.am)
#
# Test doubles of Firecracker and its jailer. They never link libfirec, so
# they stay independent of the code they are used to test.

check_PROGRAMS += tests/doubles/fake-firecracker tests/doubles/fake-jailer

tests_doubles_fake_firecracker_SOURCES = \
	tests/doubles/fake-firecracker.c \
	tests/doubles/fake-serde.c tests/doubles/fake-serde.h \
	tests/doubles/fake-util.c tests/doubles/fake-util.h
tests_doubles_fake_firecracker_LDADD = $(CJSON_LIBS)

tests_doubles_fake_jailer_SOURCES = \
	tests/doubles/fake-jailer.c \
	tests/doubles/fake-util.c tests/doubles/fake-util.h
tests_doubles_fake_jailer_LDADD =

TESTS += tests/doubles/test-doubles.sh
EXTRA_DIST += tests/doubles/test-doubles.sh
