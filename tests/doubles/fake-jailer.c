/* SPDX-License-Identifier: Apache-2.0 */
/* fake-jailer: a test double of Firecracker's jailer (v1.5.1 or v1.16).
 *
 * It checks its argv like the real jailer, builds the same jail layout on
 * the host (without mount namespaces or pivot_root) and reproduces the
 * observable process semantics of each version: who writes the pid file,
 * which pid becomes Firecracker, what --daemonize and --new-pid-ns do, how
 * errors end the process. The exec'd binary learns its "chroot" from
 * FAKE_FIRECRACKER_ROOT.
 *
 * Devices: /dev/net/tun is the real device node (10:200, 0600, the VM's
 * uid:gid), as the real jailer makes it, so that the fake Firecracker opens
 * TAP devices through it exactly as the real one does and the kernel's
 * ownership rules apply (run unprivileged, the fake makes a placeholder file
 * instead). /dev/kvm and /dev/urandom are placeholder regular files: no guest
 * runs. --netns is joined for real (setns), as the real jailer does, so that
 * Firecracker's TAPs are those of that namespace.
 *
 * Environment: FAKE_FC_VERSION (1.5.1 | 1.16.0), FAKE_JAILER_CGROUP_ROOT
 * (a directory that plays the cgroup mount), FAKE_JAILER_NETNS_EINVAL (the
 * --netns file is not a network namespace: joining it fails with EINVAL, as
 * for a regular file with the real jailer).
 */
#include "config.h"

#include "fake-util.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sched.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static enum fk_version ver;
static const char *vstr;

static void jfail(const char *fmt, ...) FK_PRINTF(1, 2) __attribute__((noreturn));

/* 1.5.1 panics on every non-argument error; 1.13+ prints and exits 1. */
static void jfail(const char *fmt, ...)
{
	struct sbuf m;
	va_list ap;

	sb_init(&m);
	va_start(ap, fmt);
	sb_vprintf(&m, fmt, ap);
	va_end(ap);
	if (ver == FK_V1_5_1) {
		fprintf(stderr,
			"thread 'main' panicked at 'Jailer error: %s', src/jailer/src/main.rs:377:27\n"
			"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
			m.s);
		signal(SIGABRT, SIG_DFL);
		abort();
	}
	fprintf(stderr, "%s\nError: %s\n", m.s, m.s);
	exit(1);
}

/* Whether s is UTF-8 (what Rust's std::env::vars() insists on). */
static bool utf8(const unsigned char *s)
{
	while (*s) {
		int n = *s < 0x80	      ? 0
			: (*s & 0xe0) == 0xc0 ? 1
			: (*s & 0xf0) == 0xe0 ? 2
			: (*s & 0xf8) == 0xf0 ? 3
					      : -1;

		if (n < 0 || (n == 1 && *s < 0xc2))
			return false;
		for (s++; n > 0; n--, s++)
			if ((*s & 0xc0) != 0x80)
				return false;
	}
	return true;
}

/* Every release's jailer reads its environment with std::env::vars(), which
 * panics on a variable that is not UTF-8, before anything else. */
static void check_environment(void)
{
	for (char **e = environ; *e; e++)
		if (!utf8((const unsigned char *)*e)) {
			fprintf(stderr,
				"thread 'main' panicked at 'called `Result::unwrap()` on an `Err` value: "
				"\"%s\"', library/std/src/env.rs:171:83\n"
				"note: run with `RUST_BACKTRACE=1` environment variable to display a backtrace\n",
				strchr(*e, '=') ? strchr(*e, '=') + 1 : *e);
			signal(SIGABRT, SIG_DFL);
			abort();
		}
}

static const char *ioe(int err)
{
	static struct sbuf b;

	sb_reset(&b);
	sb_io_error(&b, err);
	return b.s;
}

static bool is_root(void)
{
	return geteuid() == 0;
}

static int mkdir_p(const char *path, mode_t mode)
{
	char buf[PATH_MAX];

	if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf)
		return errno = ENAMETOOLONG, -1;
	for (char *p = buf + 1; *p; p++)
		if (*p == '/') {
			*p = '\0';
			if (mkdir(buf, mode) < 0 && errno != EEXIST)
				return -1;
			*p = '/';
		}
	if (mkdir(buf, mode) < 0 && errno != EEXIST)
		return -1;
	return 0;
}

static void write_file(const char *path, const char *value, int flags)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | flags, 0644);

	if (fd < 0 || fk_write_all(fd, value, strlen(value)) < 0)
		jfail("Failed to write to %s: %s", path, ioe(errno));
	close(fd);
}

static bool bad_components(const char *p, bool allow_abs)
{
	const char *s = p;

	if (!allow_abs && *p == '/')
		return true;
	while (*s) {
		size_t n = strcspn(s, "/");
		if ((n == 1 && s[0] == '.') || (n == 2 && s[0] == '.' && s[1] == '.'))
			return true;
		s += n + (s[n] == '/');
	}
	return false;
}

struct cg {
	char *file, *value, *ctrl;
};

/* Cgroups against FAKE_JAILER_CGROUP_ROOT instead of the real cgroupfs.
 * v2: <root>/<parent>/<id>/{<file>,cgroup.procs}; v1:
 * <root>/<controller>/<parent>/<id>/{<file>,tasks}. */
static void apply_cgroups(struct cg *cgs, size_t n, int cgver, const char *parent, const char *id)
{
	const char *root = getenv("FAKE_JAILER_CGROUP_ROOT");
	char dir[PATH_MAX], path[PATH_MAX + 64], pid[32];

	/* One pid a line, as the real jailer writes it (writeln_special): a
	 * reader of cgroup.procs must find each pid of a shared file. */
	snprintf(pid, sizeof pid, "%d\n", (int)getpid());
	for (size_t i = 0; i < n; i++) {
		if (cgver == 2)
			snprintf(dir, sizeof dir, "%s/%s/%s", root, parent, id);
		else
			snprintf(dir, sizeof dir, "%s/%s/%s/%s", root, cgs[i].ctrl, parent, id);
		if (mkdir_p(dir, 0755) < 0)
			jfail("Failed to create directory %s: %s", dir, ioe(errno));
		snprintf(path, sizeof path, "%s/%s", dir, cgs[i].file);
		write_file(path, cgs[i].value, O_TRUNC);
	}
	for (size_t i = 0; i < n; i++) {
		if (cgver == 2)
			snprintf(path, sizeof path, "%s/%s/%s/cgroup.procs", root, parent, id);
		else
			snprintf(path, sizeof path, "%s/%s/%s/%s/tasks", root, cgs[i].ctrl, parent, id);
		write_file(path, pid, O_APPEND);
	}
}

static bool controller_available(const char *ctrl, int cgver)
{
	const char *root = getenv("FAKE_JAILER_CGROUP_ROOT");
	char path[PATH_MAX], buf[4096];
	ssize_t n;
	int fd;

	if (!root || !*root)
		return false;
	if (cgver == 1)
		return true;
	/* v2: listed in cgroup.controllers (a missing file lists every one) */
	snprintf(path, sizeof path, "%s/cgroup.controllers", root);
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return true;
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	for (char *tok = strtok(buf, " \n"); tok; tok = strtok(NULL, " \n"))
		if (strcmp(tok, ctrl) == 0)
			return true;
	return false;
}

static void copy_exec(const char *src, const char *dst, uid_t uid, gid_t gid)
{
	char buf[65536];
	struct stat st;
	ssize_t n;
	int in, out;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0 || fstat(in, &st) < 0)
		jfail("Failed to copy %s to %s: %s", src, dst, ioe(errno));
	/* 1.15+: no symlink or hard-link games on the destination */
	out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | (ver == FK_V1_16 ? O_NOFOLLOW : 0),
		   st.st_mode & 07777);
	if (out < 0)
		jfail("Failed to copy %s to %s: %s", src, dst, ioe(errno));
	while ((n = read(in, buf, sizeof buf)) > 0)
		if (fk_write_all(out, buf, (size_t)n) < 0)
			jfail("Failed to copy %s to %s: %s", src, dst, ioe(errno));
	if (fchmod(out, st.st_mode & 07777) < 0)
		jfail("Failed to copy %s to %s: %s", src, dst, ioe(errno));
	if (ver == FK_V1_16 && is_root() && fchown(out, uid, gid) < 0)
		jfail("Failed to change owner for \"%s\": %s", dst, ioe(errno));
	close(in);
	close(out);
}

static void own(const char *path, uid_t uid, gid_t gid, mode_t mode)
{
	if (is_root() && chown(path, uid, gid) < 0)
		jfail("Failed to change owner for \"%s\": %s", path, ioe(errno));
	if (chmod(path, mode) < 0)
		jfail("Failed to change permissions on \"%s\": %s", path, ioe(errno));
}

/* mknod stand-in: a regular file created with O_EXCL, so a reused jail
 * fails the way the real mknod does; the real device node when rdev is not
 * 0 and we may make one. */
static int make_dev(const char *root, const char *dev, dev_t rdev, uid_t uid, gid_t gid)
{
	char path[PATH_MAX + 32];
	int fd;

	snprintf(path, sizeof path, "%s%s", root, dev);
	if (rdev && is_root()) {
		if (mknod(path, S_IFCHR | S_IRUSR | S_IWUSR, rdev) < 0)
			return -1;
		own(path, uid, gid, 0600);
		return 0;
	}
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0)
		return -1;
	close(fd);
	own(path, uid, gid, 0600);
	return 0;
}

static void drop_privileges(uid_t uid, gid_t gid)
{
	if (is_root() && (setgroups(0, NULL) < 0 || setgid(gid) < 0 || setuid(uid) < 0))
		jfail("Failed to exec into Firecracker: %s", ioe(errno));
}

/* FAKE_JAILER_PIDFILE_DELAY_MS: a slow jailer, for the tests where the jail's
 * uid writes the pid file first. */
static void pidfile_delay(void)
{
	const char *v = getenv("FAKE_JAILER_PIDFILE_DELAY_MS");
	if (v && *v)
		usleep((useconds_t)strtoul(v, NULL, 10) * 1000);
}

static void write_pid_file(const char *path, pid_t pid)
{
	char s[32];

	snprintf(s, sizeof s, "%d", (int)pid);
	write_file(path, s, O_EXCL);
}

int main(int argc, char **argv)
{
	struct fk_arg args[] = {
	    {.name = "id", .takes_value = true, .required = true, .help = "Jail ID."},
	    {.name = "exec-file", .takes_value = true, .required = true, .help = "File path to exec into."},
	    {.name = "uid",
	     .takes_value = true,
	     .required = true,
	     .help = "The user identifier the jailer switches to after exec."},
	    {.name = "gid",
	     .takes_value = true,
	     .required = true,
	     .help = "The group identifier the jailer switches to after exec."},
	    {.name = "chroot-base-dir",
	     .takes_value = true,
	     .def = "/srv/jailer",
	     .help = "The base folder where chroot jails are located."},
	    {.name = "netns", .takes_value = true, .help = "Path to the network namespace this microVM should join."},
	    {.name = "daemonize",
	     .help = "Daemonize the jailer before exec, by invoking setsid(), and redirecting the standard I/O file "
		     "descriptors to /dev/null."},
	    {.name = "new-pid-ns", .help = "Exec into a new PID namespace."},
	    {.name = "cgroup",
	     .takes_value = true,
	     .multiple = true,
	     .help = "Cgroup and value to be set by the jailer. It must follow this format: <cgroup_file>=<value> (e.g "
		     "cpu.shares=10). This argument can be used multiple times to add multiple cgroups."},
	    {.name = "resource-limit",
	     .takes_value = true,
	     .multiple = true,
	     .help = "Resource limit values to be set by the jailer. It must follow this format: <resource>=<value> "
		     "(e.g no-file=1024). This argument can be used multiple times to add multiple resource limits."},
	    {.name = "cgroup-version",
	     .takes_value = true,
	     .def = "1",
	     .help = "Select the cgroup version used by the jailer."},
	    {.name = "parent-cgroup",
	     .takes_value = true,
	     .help = "Parent cgroup in which the cgroup of this microvm will be placed."},
	    {.name = "version", .help = "Print the binary version number."},
	};
	struct fk_args a = {.args = args, .nargs = sizeof args / sizeof args[0]};
	struct fk_arg *cgarg, *rlarg;
	struct sbuf disp, dbg;
	uint64_t start_us = fk_now_us(CLOCK_MONOTONIC), start_cpu_us = fk_now_us(CLOCK_PROCESS_CPUTIME_ID);
	char exec_path[PATH_MAX], base[PATH_MAX], chroot_dir[PATH_MAX * 2], dst[PATH_MAX * 3], pidfile[PATH_MAX];
	const char *id, *exec_name, *v, *parent;
	uint32_t uid, gid;
	struct cg cgs[64];
	size_t ncg = 0;
	int cg_version = 1;
	uint64_t nofile = 2048, fsize = 0;
	bool have_fsize = false, daemonize, newpid;
	int devnull = -1, exec_fd;
	struct stat st;

	fk_close_fds_from(3);
	check_environment();
	ver = fk_version_from_env(&vstr);

	sb_init(&disp);
	sb_init(&dbg);
	if (fk_args_parse(&a, argc, argv, ver == FK_V1_16, &disp, &dbg) < 0) {
		fprintf(stderr, "Failed to parse arguments: %s\nError: ArgumentParsing(%s)\n", disp.s, dbg.s);
		return 1;
	}
	if (a.help) {
		struct sbuf h;
		sb_init(&h);
		fk_args_help(&a, &h);
		printf("Jailer v%s\n\n%s\n\nAny arguments after the -- separator will be supplied to the jailed "
		       "binary.\n\n",
		       vstr, h.s);
		return 0;
	}
	if (a.version) {
		printf("Jailer v%s\n\n", vstr);
		return 0;
	}

	/* Env::new, in its order */
	id = fk_args_value(&a, "id");
	sb_reset(&disp);
	if (fk_validate_instance_id(id, &disp, &dbg) < 0)
		jfail("Invalid instance ID: %s", disp.s);
	v = fk_args_value(&a, "exec-file");
	if (!realpath(v, exec_path))
		jfail("Failed to canonicalize path %s: %s", v, ioe(errno));
	if (stat(exec_path, &st) < 0 || !S_ISREG(st.st_mode))
		jfail("%s is not a file", exec_path);
	exec_name = strrchr(exec_path, '/') + 1;
	if (ver == FK_V1_5_1 && !strstr(exec_name, "firecracker"))
		jfail("Invalid filename. The filename of `--exec-file` option must contain \"firecracker\": %s",
		      exec_name);
	v = fk_args_value(&a, "chroot-base-dir");
	if (!realpath(v, base))
		jfail("Failed to canonicalize path %s: %s", v, ioe(errno));
	if (stat(base, &st) < 0 || !S_ISDIR(st.st_mode))
		jfail("%s is not a directory", base);
	snprintf(chroot_dir, sizeof chroot_dir, "%s/%s/%s/root", strcmp(base, "/") ? base : "", exec_name, id);
	if (!fk_parse_u32(fk_args_value(&a, "uid"), &uid))
		jfail("Invalid uid: %s", fk_args_value(&a, "uid"));
	if (!fk_parse_u32(fk_args_value(&a, "gid"), &gid))
		jfail("Invalid gid: %s", fk_args_value(&a, "gid"));
	daemonize = fk_args_flag(&a, "daemonize");
	newpid = fk_args_flag(&a, "new-pid-ns");
	parent = fk_args_value(&a, "parent-cgroup") ? fk_args_value(&a, "parent-cgroup") : exec_name;
	if (bad_components(parent, false))
		jfail("Parent cgroup path is invalid. Path should not be absolute or contain '..' or '.'");
	cgarg = fk_args_get(&a, "cgroup");
	if (cgarg->nvalues) {
		const char *cv = fk_args_value(&a, "cgroup-version");
		int cgver = strcmp(cv, "1") == 0 ? 1 : strcmp(cv, "2") == 0 ? 2 : 0;

		if (!cgver)
			jfail("%s is an invalid cgroup version specifier", cv);
		for (size_t i = 0; i < cgarg->nvalues && ncg < 64; i++) {
			const char *s = cgarg->values[i], *eq = strchr(s, '=');
			if (!eq || strchr(eq + 1, '=') || !eq[1])
				jfail("Invalid format for cgroups: %s", s);
			cgs[ncg].file = fk_strdup(s);
			cgs[ncg].file[eq - s] = '\0';
			cgs[ncg].value = fk_strdup(eq + 1);
			if (bad_components(cgs[ncg].file, false))
				jfail("Cgroup invalid file: %s", s);
			cgs[ncg].ctrl = fk_strdup(cgs[ncg].file);
			cgs[ncg].ctrl[strcspn(cgs[ncg].ctrl, ".")] = '\0';
			if (!controller_available(cgs[ncg].ctrl, cgver)) {
				if (cgver == 2)
					jfail("Controller %s is unavailable", cgs[ncg].ctrl);
				jfail("Hierarchy not found: %s", cgs[ncg].ctrl);
			}
			ncg++;
		}
		cg_version = cgver;
	}
	rlarg = fk_args_get(&a, "resource-limit");
	for (size_t i = 0; i < rlarg->nvalues; i++) {
		const char *s = rlarg->values[i], *eq = strchr(s, '=');
		uint64_t n;
		if (!eq)
			jfail("Invalid format for resources limits: %s", s);
		if (!fk_parse_u64(eq + 1, &n))
			jfail("Invalid limit value for resource: %s: %s", eq + 1,
			      eq[1] ? "invalid digit found in string" : "cannot parse integer from empty string");
		if ((size_t)(eq - s) == 5 && strncmp(s, "fsize", 5) == 0)
			fsize = n, have_fsize = true;
		else if ((size_t)(eq - s) == 7 && strncmp(s, "no-file", 7) == 0)
			nofile = n;
		else
			jfail("Invalid resource argument: %.*s", (int)(eq - s), s);
	}

	if (mkdir_p(chroot_dir, 0755) < 0)
		jfail("Failed to create directory %s: %s", chroot_dir, ioe(errno));

	/* Env::run */
	snprintf(dst, sizeof dst, "%s/%s", chroot_dir, exec_name);
	copy_exec(exec_path, dst, uid, gid);
	if ((v = fk_args_value(&a, "netns"))) {
		int ns;
		if (getenv("FAKE_JAILER_NETNS_EINVAL"))
			jfail("Failed to join network namespace: netns: %s", ioe(EINVAL));
		ns = open(v, O_RDONLY | O_CLOEXEC);
		if (ns < 0)
			jfail("Failed to open file %s: %s", v, ioe(errno));
		if (setns(ns, CLONE_NEWNET) < 0)
			jfail("Failed to join network namespace: netns: %s", ioe(errno));
		close(ns);
	}
	{
		struct rlimit cur, rl;
		getrlimit(RLIMIT_NOFILE, &cur);
		rl.rlim_cur = rl.rlim_max = (rlim_t)nofile;
		/* unprivileged, the hard limit cannot be raised: stay under it */
		if (!is_root() && rl.rlim_max > cur.rlim_max)
			rl.rlim_cur = rl.rlim_max = cur.rlim_max;
		if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
			jfail("Failed to set limit for resource: no-file: %s", ioe(errno));
		if (have_fsize) {
			getrlimit(RLIMIT_FSIZE, &cur);
			rl.rlim_cur = rl.rlim_max = (rlim_t)fsize;
			if (!is_root() && rl.rlim_max > cur.rlim_max)
				rl.rlim_cur = rl.rlim_max = cur.rlim_max;
			if (setrlimit(RLIMIT_FSIZE, &rl) < 0)
				jfail("Failed to set limit for resource: fsize: %s", ioe(errno));
		}
	}
	if (ncg)
		apply_cgroups(cgs, ncg, cg_version, parent, id);
	else if (ver == FK_V1_16 && strcmp(fk_args_value(&a, "cgroup-version"), "2") == 0 &&
		 (v = getenv("FAKE_JAILER_CGROUP_ROOT")) && *v) {
		/* 1.6+: v2 without --cgroup joins an existing parent cgroup */
		char path[PATH_MAX * 2], pid[32];
		snprintf(path, sizeof path, "%s/%s", v, parent);
		if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) {
			snprintf(path, sizeof path, "%s/%s/cgroup.procs", v, parent);
			snprintf(pid, sizeof pid, "%d\n", (int)getpid());
			write_file(path, pid, O_APPEND);
		}
	}
	if (daemonize) {
		devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
		if (devnull < 0)
			jfail("Failed to open /dev/null: %s", ioe(errno));
	}

	/* the jail tree: "/", dev, dev/net, run (0700, uid:gid), then devices */
	{
		static const char *const dirs[] = {"", "/dev", "/dev/net", "/run"};
		char path[PATH_MAX * 2 + 16];
		for (size_t i = 0; i < 4; i++) {
			snprintf(path, sizeof path, "%s%s", chroot_dir, dirs[i]);
			if (mkdir_p(path, 0700) < 0)
				jfail("Failed to create directory %s: %s", path, ioe(errno));
			own(path, uid, gid, 0700);
		}
		if (make_dev(chroot_dir, "/dev/net/tun", makedev(10, 200), uid, gid) < 0)
			jfail("Failed to create /dev/net/tun via mknod inside the jail: %s", ioe(errno));
		if (make_dev(chroot_dir, "/dev/kvm", 0, uid, gid) < 0)
			jfail("Failed to create /dev/kvm via mknod inside the jail: %s", ioe(errno));
		if (make_dev(chroot_dir, "/dev/urandom", 0, uid, gid) < 0) {
			printf("Warning! Could not create /dev/urandom device inside jailer: Failed to create "
			       "/dev/urandom via mknod inside the jail: %s.\n",
			       ioe(errno));
			printf("MMDS version 2 will not be available to use.\n");
		}
	}

	/* The real jailer has pivoted into the jail by now: every process it
	 * forks from here on has the jail for its root, and the process a pid
	 * file names is in the jail when the file appears (firec-run checks
	 * that). The double can only change directory. */
	if (chdir(chroot_dir) < 0)
		jfail("Failed to chdir into chroot directory: %s", ioe(errno));
	/* the host path may not be searchable by uid: open the binary now */
	exec_fd = open(dst, O_PATH | O_CLOEXEC);
	if (exec_fd < 0)
		jfail("Failed to exec into Firecracker: %s", ioe(errno));

	if (daemonize) {
		if (ver == FK_V1_16) {
			pid_t p = fork();
			if (p < 0)
				jfail("Failed to daemonize: fork: %s", ioe(errno));
			if (p > 0)
				_exit(0);
			if (setsid() < 0)
				jfail("Failed to daemonize: setsid: %s", ioe(errno));
			p = fork();
			if (p < 0)
				jfail("Failed to daemonize: fork: %s", ioe(errno));
			if (p > 0)
				_exit(0);
		} else if (setsid() < 0) {
			jfail("Failed to daemonize: setsid: %s", ioe(errno));
		}
		if (dup2(devnull, 0) < 0 || dup2(devnull, 1) < 0 || dup2(devnull, 2) < 0)
			jfail("Failed to duplicate fd: %s", ioe(errno));
		close(devnull);
	}

	snprintf(pidfile, sizeof pidfile, "%s.pid", exec_name);
	pidfile_delay();
	/* The real jailer's clone child is in the jail (its root) from its first
	 * instant; the double's child is there (its working directory, as
	 * uid:gid) once both are true, so the jailer drops privileges before it
	 * forks. It writes the pid file into the jail root, its working
	 * directory, which is uid:gid's. */
	drop_privileges(uid, gid);
	if (newpid) {
		pid_t child = fork();
		if (child < 0)
			jfail("Failed cloning into a new child process: %s", ioe(errno));
		if (child > 0) {
			write_pid_file(pidfile, child);
			return 0;
		}
		/* PID 1 of a pid namespace ignores SIGTERM/SIGINT it has no handler for */
		setenv("FAKE_FC_IGNORE_SIGTERM",
		       getenv("FAKE_FC_IGNORE_SIGTERM") ? getenv("FAKE_FC_IGNORE_SIGTERM") : "1", 1);
		if (ver == FK_V1_16 && getsid(0) == getpid())
			(void)setsid();
	} else if (ver == FK_V1_16) {
		write_pid_file(pidfile, getpid());
	}

	/* exec "/<exec_name>" in the jail, as uid:gid, with only FAKE_* env */
	{
		char t1[32], t2[32], t3[32], rootenv[PATH_MAX * 2 + 32], argv0[PATH_MAX];
		char **nargv = fk_xcalloc(a.nextra + 10, sizeof *nargv);
		char **nenv;
		size_t k = 0, ne = 0, nenvmax = 2;

		for (char **e = environ; *e; e++)
			nenvmax++;
		nenv = fk_xcalloc(nenvmax, sizeof *nenv);
		snprintf(rootenv, sizeof rootenv, "FAKE_FIRECRACKER_ROOT=%s", chroot_dir);
		nenv[ne++] = rootenv;
		for (char **e = environ; *e; e++)
			if (strncmp(*e, "FAKE_", 5) == 0 && strncmp(*e, "FAKE_FIRECRACKER_ROOT=", 22) != 0)
				nenv[ne++] = *e;
		snprintf(argv0, sizeof argv0, "/%s", exec_name);
		snprintf(t1, sizeof t1, "%llu", (unsigned long long)start_us);
		snprintf(t2, sizeof t2, "%llu", (unsigned long long)start_cpu_us);
		snprintf(t3, sizeof t3, "%llu",
			 (unsigned long long)(fk_now_us(CLOCK_PROCESS_CPUTIME_ID) - start_cpu_us));
		nargv[k++] = argv0;
		nargv[k++] = (char *)"--id";
		nargv[k++] = (char *)id;
		nargv[k++] = (char *)"--start-time-us";
		nargv[k++] = t1;
		nargv[k++] = (char *)"--start-time-cpu-us";
		nargv[k++] = t2;
		nargv[k++] = (char *)"--parent-cpu-time-us";
		nargv[k++] = t3;
		for (size_t i = 0; i < a.nextra; i++)
			nargv[k++] = a.extra[i];
		syscall(SYS_execveat, exec_fd, "", nargv, nenv, AT_EMPTY_PATH);
		jfail("Failed to exec into Firecracker: %s", ioe(errno));
	}
}
