/* SPDX-License-Identifier: Apache-2.0 */
/* Test seams: the few places where the end-to-end tests need firec-run to do
   something a production binary must never do on request — fail a named step,
   signal itself at a step, or look for cgroups or huge pages in a fake tree. The
   production build links seam.c, whose answers are always "none"; the test build
   (tests/seam/firec-run, firec-supervise) links tests/seam/seam-env.c, which
   reads FIREC_TEST_FAULT, FIREC_CGROUP_ROOT and FIREC_SYSFS_ROOT. No environment variable changes
   what an installed firec-run does. */
#ifndef FIREC_SEAM_H
#define FIREC_SEAM_H

/* "fail:STEP", "SIGINT:STEP", "SIGTERM:STEP" or "SIGKILL:STEP"; NULL: none. A
   signal may also aim at a point inside a step: "SIGKILL:net.tap.eth0/created"
   (the TAP is made, its ifindex not yet recorded). */
const char *firec_seam_fault (void);

/* Where the cgroup hierarchies are mounted instead of what /proc/self/mounts
   says (v2: the directory itself; v1: one subdirectory per controller); NULL:
   the host's. */
const char *firec_seam_cgroup_root (void);

/* Where sysfs is (huge page pools) instead of /sys; NULL: /sys. */
const char *firec_seam_sysfs_root (void);

#endif
