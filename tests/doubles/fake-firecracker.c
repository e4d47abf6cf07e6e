/* SPDX-License-Identifier: Apache-2.0 */
/* fake-firecracker: a test double of the Firecracker VMM (v1.5.1 or v1.16).
 *
 * It runs no guest. It speaks the API the way the real binary does, strictly,
 * so that firec-run's tests catch every request the real one would reject:
 * micro_http's framing, serde's body checks (fake-serde), the pre/post-boot
 * rules and the side effects firec-run depends on (files opened at PUT time,
 * sockets bound, snapshot files written, exit on Ctrl+Alt+Del).
 *
 * Network interfaces open their TAP device at PUT time as the real binary
 * does (open /dev/net/tun, TUNSETIFF with IFF_TAP | IFF_NO_PI | IFF_VNET_HDR
 * by name, TUNSETOFFLOAD, TUNSETVNETHDRSZ), as the uid the fake jailer gave
 * it, so ownership, "busy" and missing-device errors are the kernel's. The
 * deviation: /dev/net/tun is opened in the fake's root like every path, and
 * there the fake jailer made it the real device node (it makes no other).
 *
 * The API is one table: routes (method × path × versions × body schema ×
 * phase × handler) and, per version, the serde field lists. Behaviour knobs
 * come from FAKE_* environment variables; see test-doubles.sh and the
 * header comment of each section.
 */
#include "config.h"

#include "fake-serde.h"
#include "fake-util.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/openat2.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <cJSON.h>

#define MAX_CONNS 10
#define V151 1u
#define V116 2u
#define VALL (V151 | V116)

/* ================================================================ state */

enum vm_state { ST_NOT_STARTED, ST_RUNNING, ST_PAUSED };

struct held_fd {
	char *key;
	int fd;
};

static struct {
	enum fk_version ver;
	const char *vstr;
	const char *id;
	int rootfd; /* FAKE_FIRECRACKER_ROOT, or -1 */
	enum vm_state state;
	bool booted;
	bool boot_res; /* a boot-path resource was configured */
	cJSON *boot_source, *machine, *cpu_config, *logger, *metrics, *mmds_config;
	cJSON *vsock, *balloon, *entropy, *serial, *hotplug;
	cJSON *drives, *nets, *pmems;
	cJSON *mmds;
	struct held_fd held[256];
	size_t nheld;
	int log_fd, metrics_fd, reqlog_fd;
	int log_level; /* 0 off .. 5 trace */
	bool show_level, show_origin;
	size_t payload_limit, mmds_limit;
	uint64_t exit_at_ms; /* 0: not scheduled */
	uint64_t hint_cmd;
	bool hinting;
	bool exit_after_reply;
	int kept_snap_fds[2]; /* FAKE_FC_SNAPSHOT_HOSTILE=keep; -1: none */
} S = {.kept_snap_fds = {-1, -1}};

static bool v116(void)
{
	return S.ver == FK_V1_16;
}

static uint64_t now_ms(void)
{
	return fk_now_us(CLOCK_MONOTONIC) / 1000u;
}

static bool env_true(const char *name)
{
	const char *v = getenv(name);
	return v && strcmp(v, "1") == 0;
}

/* ============================================================== logging */

static void fc_log(int level, const char *fmt, ...) FK_PRINTF(2, 3);

static void fc_log(int level, const char *fmt, ...)
{
	static const char *const names[] = {"OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
	struct sbuf b;
	struct timespec ts;
	struct tm tm;
	char when[64];
	va_list ap;

	if (level > S.log_level)
		return;
	clock_gettime(CLOCK_REALTIME, &ts);
	gmtime_r(&ts.tv_sec, &tm);
	strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%S", &tm);
	sb_init(&b);
	sb_printf(&b, "%s.%09ld [%s:main", when, ts.tv_nsec, S.id ? S.id : "anonymous-instance");
	if (S.show_level)
		sb_printf(&b, ":%s", names[level]);
	if (S.show_origin)
		sb_puts(&b, ":src/fake-firecracker.c:0");
	sb_puts(&b, "] ");
	va_start(ap, fmt);
	sb_vprintf(&b, fmt, ap);
	va_end(ap);
	sb_putc(&b, '\n');
	(void)fk_write_all(S.log_fd >= 0 ? S.log_fd : STDOUT_FILENO, b.s, b.len);
	sb_free(&b);
}

static void die_error(int code, const char *fmt, ...) FK_PRINTF(2, 3);

/* The real binary logs the error, prints `Error: ...` on stderr and exits. */
static void die_error(int code, const char *fmt, ...)
{
	struct sbuf b;
	va_list ap;

	sb_init(&b);
	va_start(ap, fmt);
	sb_vprintf(&b, fmt, ap);
	va_end(ap);
	fc_log(1, "%s", b.s);
	fprintf(stderr, "Error: %s\n", b.s);
	exit(code);
}

static void write_metrics(void)
{
	char line[160];
	int n;

	if (S.metrics_fd < 0)
		return;
	n = snprintf(line, sizeof line, "{\"utc_timestamp_ms\":%llu,\"fake\":true}\n",
		     (unsigned long long)(fk_now_us(CLOCK_REALTIME) / 1000u));
	(void)fk_write_all(S.metrics_fd, line, (size_t)n);
}

static void exit_vmm(int code)
{
	fc_log(3, "Vmm is stopping.");
	write_metrics();
	if (v116())
		fc_log(code ? 1 : 3, "Firecracker exiting %s. exit_code=%d", code ? "with error" : "successfully",
		       code);
	else if (code == 0)
		fc_log(3, "Firecracker exited successfully");
	exit(code);
}

/* ======================================================= paths ("chroot") */

/* Every path Firecracker sees is resolved in FAKE_FIRECRACKER_ROOT the way a
 * chroot resolves it: RESOLVE_IN_ROOT clamps `..` at the root and resolves
 * absolute symlinks inside it, so nothing outside can be reached. */
static int root_open(const char *path, int flags, mode_t mode)
{
	struct open_how how;
	long fd;

	if (S.rootfd < 0)
		return open(path, flags | O_CLOEXEC, mode);
	memset(&how, 0, sizeof how);
	how.flags = (uint64_t)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
	fd = syscall(SYS_openat2, S.rootfd, path, &how, sizeof how);
	return (int)fd;
}

/* Opens the directory of path; *base gets the last component. */
static int root_parent(const char *path, char *base, size_t basesz)
{
	const char *slash = strrchr(path, '/');
	char dir[4096];

	if (!slash) {
		snprintf(dir, sizeof dir, ".");
		snprintf(base, basesz, "%s", path);
	} else {
		size_t n = (size_t)(slash - path);
		if (n >= sizeof dir)
			return errno = ENAMETOOLONG, -1;
		memcpy(dir, path, n);
		dir[n] = '\0';
		if (n == 0)
			snprintf(dir, sizeof dir, "/");
		snprintf(base, basesz, "%s", slash + 1);
	}
	if (!*base || strcmp(base, ".") == 0 || strcmp(base, "..") == 0)
		return errno = EINVAL, -1;
	return root_open(dir, O_PATH | O_DIRECTORY, 0);
}

/* The address of base in the directory dfd, through /proc/self/fd: a bind or
 * connect there needs no change of the working directory, which the host
 * reads to tell the VM's processes (the doubles' jailer only changes
 * directory where the real one pivots into the jail). */
static int sun_at(int dfd, const char *base, struct sockaddr_un *sa)
{
	memset(sa, 0, sizeof *sa);
	sa->sun_family = AF_UNIX;
	if ((size_t)snprintf(sa->sun_path, sizeof sa->sun_path, "/proc/self/fd/%d/%s", dfd, base) >=
	    sizeof sa->sun_path)
		return errno = ENAMETOOLONG, -1;
	return 0;
}

/* Creates a listening Unix socket at path (bind fails if it exists). */
static int root_listen(const char *path, int backlog)
{
	char base[256];
	struct sockaddr_un sa;
	int dfd, sfd, rc, saved;

	dfd = root_parent(path, base, sizeof base);
	if (dfd < 0)
		return -1;
	if (sun_at(dfd, base, &sa) < 0) {
		close(dfd);
		return -1;
	}
	sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sfd < 0)
		abort();
	rc = bind(sfd, (struct sockaddr *)&sa, sizeof sa);
	saved = errno;
	close(dfd);
	if (rc < 0 || listen(sfd, backlog) < 0) {
		close(sfd);
		errno = rc < 0 ? saved : errno;
		return -1;
	}
	return sfd;
}

/* Connects to the Unix socket at path, resolved in the root like a chroot
 * would (a Uffd page-fault handler's socket). */
static int root_connect(const char *path)
{
	char base[256];
	struct sockaddr_un sa;
	int dfd, sfd, rc, saved;

	dfd = root_parent(path, base, sizeof base);
	if (dfd < 0)
		return -1;
	if (sun_at(dfd, base, &sa) < 0) {
		close(dfd);
		return -1;
	}
	sfd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (sfd < 0)
		abort();
	rc = connect(sfd, (struct sockaddr *)&sa, sizeof sa);
	saved = errno;
	close(dfd);
	if (rc < 0) {
		close(sfd);
		return errno = saved, -1;
	}
	return sfd;
}

static void root_unlink(const char *path)
{
	char base[256];
	int dfd = root_parent(path, base, sizeof base);

	if (dfd >= 0) {
		(void)unlinkat(dfd, base, 0);
		close(dfd);
	}
}

static void hold_fd(const char *key, int fd)
{
	for (size_t i = 0; i < S.nheld; i++)
		if (strcmp(S.held[i].key, key) == 0) {
			if (S.held[i].fd >= 0)
				close(S.held[i].fd);
			S.held[i].fd = fd;
			return;
		}
	if (S.nheld == sizeof S.held / sizeof S.held[0])
		abort();
	S.held[S.nheld].key = fk_strdup(key);
	S.held[S.nheld++].fd = fd;
}

static int held(const char *key)
{
	for (size_t i = 0; i < S.nheld; i++)
		if (strcmp(S.held[i].key, key) == 0)
			return S.held[i].fd;
	return -1;
}

/* ============================================================== schemas */

static const char *const v_cache[] = {"Unsafe", "Writeback", NULL};
static const char *const v_engine[] = {"Async", "Sync", NULL};
static const char *const v_cputpl[] = {"C3", "T2", "T2S", "None", "T2CL", "T2A", NULL};
static const char *const v_huge[] = {"None", "2M", NULL};
static const char *const v_mmdsver[] = {"V1", "V2", NULL};
static const char *const v_action[] = {"FlushMetrics", "InstanceStart", "SendCtrlAltDel", NULL};
static const char *const v_vmstate[] = {"Paused", "Resumed", NULL};
static const char *const v_snaptype[] = {"Diff", "Full", NULL};
static const char *const v_backend[] = {"File", "Uffd", NULL};

#define F(n, k, o)                                                                                                     \
	{                                                                                                              \
		n, k, o, NULL, SK_BOOL, NULL                                                                           \
	}
#define FS(n, o, s)                                                                                                    \
	{                                                                                                              \
		n, SK_STRUCT, o, s, SK_BOOL, NULL                                                                      \
	}
#define FE(n, o, v)                                                                                                    \
	{                                                                                                              \
		n, SK_ENUM, o, NULL, SK_BOOL, v                                                                        \
	}
#define FQ(n, o, e, s)                                                                                                 \
	{                                                                                                              \
		n, SK_SEQ, o, s, e, NULL                                                                               \
	}
#define END                                                                                                            \
	{                                                                                                              \
		NULL, SK_BOOL, SO_REQ, NULL, SK_BOOL, NULL                                                             \
	}
#define STRUCT(var, nm, deny, ...)                                                                                     \
	static const struct sfield var##_f[] = {__VA_ARGS__, END};                                                     \
	static const struct sstruct var = {"struct " nm, deny, var##_f}

STRUCT(st_bucket, "TokenBucketConfig", false, F("size", SK_U64, SO_REQ), F("one_time_burst", SK_U64, SO_OPTION),
       F("refill_time", SK_U64, SO_REQ));
STRUCT(st_rl, "RateLimiterConfig", true, FS("bandwidth", SO_OPTION, &st_bucket), FS("ops", SO_OPTION, &st_bucket));
STRUCT(st_boot, "BootSourceConfig", true, F("kernel_image_path", SK_STRING, SO_REQ),
       F("initrd_path", SK_STRING, SO_OPTION), F("boot_args", SK_STRING, SO_OPTION));
STRUCT(st_mc151, "MachineConfig", true, F("vcpu_count", SK_VCPU151, SO_REQ), F("mem_size_mib", SK_USIZE, SO_REQ),
       F("smt", SK_BOOL, SO_DEFAULT), FE("cpu_template", SO_OPTION, v_cputpl),
       F("track_dirty_pages", SK_BOOL, SO_DEFAULT));
STRUCT(st_mc116, "MachineConfig", true, F("vcpu_count", SK_U8, SO_REQ), F("mem_size_mib", SK_USIZE, SO_REQ),
       F("smt", SK_BOOL, SO_DEFAULT), FE("cpu_template", SO_OPTION, v_cputpl),
       F("track_dirty_pages", SK_BOOL, SO_DEFAULT), FE("huge_pages", SO_DEFAULT, v_huge));
STRUCT(st_mcu151, "MachineConfigUpdate", true, F("vcpu_count", SK_VCPU151, SO_OPTION),
       F("mem_size_mib", SK_USIZE, SO_OPTION), F("smt", SK_BOOL, SO_OPTION), FE("cpu_template", SO_OPTION, v_cputpl),
       F("track_dirty_pages", SK_BOOL, SO_OPTION));
STRUCT(st_mcu116, "MachineConfigUpdate", true, F("vcpu_count", SK_U8, SO_OPTION),
       F("mem_size_mib", SK_USIZE, SO_OPTION), F("smt", SK_BOOL, SO_OPTION), FE("cpu_template", SO_OPTION, v_cputpl),
       F("track_dirty_pages", SK_BOOL, SO_OPTION), FE("huge_pages", SO_OPTION, v_huge));
STRUCT(st_cpu, "CustomCpuTemplate", true, FQ("kvm_capabilities", SO_DEFAULT, SK_ANY, NULL),
       FQ("cpuid_modifiers", SO_DEFAULT, SK_ANY, NULL), FQ("msr_modifiers", SO_DEFAULT, SK_ANY, NULL));
STRUCT(st_drive151, "BlockDeviceConfig", true, F("drive_id", SK_STRING, SO_REQ), F("path_on_host", SK_STRING, SO_REQ),
       F("is_root_device", SK_BOOL, SO_REQ), F("partuuid", SK_STRING, SO_OPTION), F("is_read_only", SK_BOOL, SO_REQ),
       FE("cache_type", SO_DEFAULT, v_cache), FS("rate_limiter", SO_OPTION, &st_rl),
       FE("io_engine", SO_DEFAULT, v_engine));
STRUCT(st_drive116, "BlockDeviceConfig", true, F("drive_id", SK_STRING, SO_REQ), F("partuuid", SK_STRING, SO_OPTION),
       F("is_root_device", SK_BOOL, SO_REQ), FE("cache_type", SO_DEFAULT, v_cache),
       F("is_read_only", SK_BOOL, SO_OPTION), F("path_on_host", SK_STRING, SO_OPTION),
       FS("rate_limiter", SO_OPTION, &st_rl), FE("io_engine", SO_OPTION, v_engine), F("socket", SK_STRING, SO_OPTION));
STRUCT(st_pdrive, "BlockDeviceUpdateConfig", true, F("drive_id", SK_STRING, SO_REQ),
       F("path_on_host", SK_STRING, SO_OPTION), FS("rate_limiter", SO_OPTION, &st_rl));
STRUCT(st_net151, "NetworkInterfaceConfig", true, F("iface_id", SK_STRING, SO_REQ),
       F("host_dev_name", SK_STRING, SO_REQ), F("guest_mac", SK_MAC, SO_OPTION),
       FS("rx_rate_limiter", SO_OPTION, &st_rl), FS("tx_rate_limiter", SO_OPTION, &st_rl));
STRUCT(st_net116, "NetworkInterfaceConfig", true, F("iface_id", SK_STRING, SO_REQ),
       F("host_dev_name", SK_STRING, SO_REQ), F("guest_mac", SK_MAC, SO_OPTION), F("mtu", SK_U16, SO_OPTION),
       FS("rx_rate_limiter", SO_OPTION, &st_rl), FS("tx_rate_limiter", SO_OPTION, &st_rl));
STRUCT(st_pnet, "NetworkInterfaceUpdateConfig", true, F("iface_id", SK_STRING, SO_REQ),
       FS("rx_rate_limiter", SO_OPTION, &st_rl), FS("tx_rate_limiter", SO_OPTION, &st_rl));
STRUCT(st_pmem, "PmemConfig", true, F("id", SK_STRING, SO_REQ), F("path_on_host", SK_STRING, SO_REQ),
       F("root_device", SK_BOOL, SO_DEFAULT), F("read_only", SK_BOOL, SO_DEFAULT),
       FS("rate_limiter", SO_OPTION, &st_rl));
STRUCT(st_ppmem, "PmemDeviceUpdateConfig", true, F("id", SK_STRING, SO_REQ), FS("rate_limiter", SO_OPTION, &st_rl));
STRUCT(st_vsock, "VsockDeviceConfig", true, F("vsock_id", SK_STRING, SO_OPTION), F("guest_cid", SK_U32, SO_REQ),
       F("uds_path", SK_STRING, SO_REQ));
STRUCT(st_balloon151, "BalloonDeviceConfig", true, F("amount_mib", SK_U32, SO_REQ),
       F("deflate_on_oom", SK_BOOL, SO_REQ), F("stats_polling_interval_s", SK_U16, SO_DEFAULT));
STRUCT(st_balloon116, "BalloonDeviceConfig", true, F("amount_mib", SK_U32, SO_REQ),
       F("deflate_on_oom", SK_BOOL, SO_REQ), F("stats_polling_interval_s", SK_U16, SO_DEFAULT),
       F("free_page_hinting", SK_BOOL, SO_DEFAULT), F("free_page_reporting", SK_BOOL, SO_DEFAULT));
STRUCT(st_bupd, "BalloonUpdateConfig", true, F("amount_mib", SK_U32, SO_REQ));
STRUCT(st_bstats, "BalloonUpdateStatsConfig", true, F("stats_polling_interval_s", SK_U16, SO_REQ));
STRUCT(st_hint, "StartHintingCmd", false, F("acknowledge_on_stop", SK_BOOL, SO_DEFAULT));
STRUCT(st_entropy, "EntropyDeviceConfig", true, FS("rate_limiter", SO_OPTION, &st_rl));
STRUCT(st_serial, "SerialConfig", true, F("serial_out_path", SK_PATH, SO_OPTION),
       FS("rate_limiter", SO_OPTION, &st_bucket));
STRUCT(st_logger151, "LoggerConfig", true, F("log_path", SK_PATH, SO_OPTION), F("level", SK_LEVEL, SO_OPTION),
       F("show_level", SK_BOOL, SO_OPTION), F("show_log_origin", SK_BOOL, SO_OPTION));
STRUCT(st_logger116, "LoggerConfig", true, F("log_path", SK_PATH, SO_OPTION), F("level", SK_LEVEL, SO_OPTION),
       F("show_level", SK_BOOL, SO_OPTION), F("show_log_origin", SK_BOOL, SO_OPTION),
       F("module", SK_STRING, SO_OPTION));
STRUCT(st_metrics, "MetricsConfig", false, F("metrics_path", SK_PATH, SO_REQ));
STRUCT(st_mmdscfg151, "MmdsConfig", true, FE("version", SO_DEFAULT, v_mmdsver),
       FQ("network_interfaces", SO_REQ, SK_STRING, NULL), F("ipv4_address", SK_IPV4, SO_OPTION));
STRUCT(st_mmdscfg116, "MmdsConfig", true, FE("version", SO_DEFAULT, v_mmdsver),
       FQ("network_interfaces", SO_REQ, SK_STRING, NULL), F("ipv4_address", SK_IPV4, SO_OPTION),
       F("imds_compat", SK_BOOL, SO_DEFAULT));
STRUCT(st_hotplug, "MemoryHotplugConfig", true, F("total_size_mib", SK_USIZE, SO_REQ),
       F("block_size_mib", SK_USIZE, SO_DEFAULT), F("slot_size_mib", SK_USIZE, SO_DEFAULT));
STRUCT(st_hotupd, "MemoryHotplugSizeUpdate", true, F("requested_size_mib", SK_USIZE, SO_REQ));
STRUCT(st_action, "ActionBody", true, FE("action_type", SO_REQ, v_action));
STRUCT(st_vm, "Vm", true, FE("state", SO_REQ, v_vmstate));
STRUCT(st_snapc151, "CreateSnapshotParams", true, FE("snapshot_type", SO_DEFAULT, v_snaptype),
       F("snapshot_path", SK_PATH, SO_REQ), F("mem_file_path", SK_PATH, SO_REQ), F("version", SK_SEMVER, SO_OPTION));
STRUCT(st_snapc116, "CreateSnapshotParams", true, FE("snapshot_type", SO_DEFAULT, v_snaptype),
       F("snapshot_path", SK_PATH, SO_REQ), F("mem_file_path", SK_PATH, SO_REQ));
STRUCT(st_membe, "MemBackendConfig", true, F("backend_path", SK_PATH, SO_REQ), FE("backend_type", SO_REQ, v_backend));
STRUCT(st_netovr, "NetworkOverride", false, F("iface_id", SK_STRING, SO_REQ), F("host_dev_name", SK_STRING, SO_REQ));
STRUCT(st_vsockovr, "VsockOverride", false, F("uds_path", SK_STRING, SO_REQ));
STRUCT(st_snapl151, "LoadSnapshotConfig", true, F("snapshot_path", SK_PATH, SO_REQ),
       F("mem_file_path", SK_PATH, SO_OPTION), FS("mem_backend", SO_OPTION, &st_membe),
       F("enable_diff_snapshots", SK_BOOL, SO_DEFAULT), F("resume_vm", SK_BOOL, SO_DEFAULT));
STRUCT(st_snapl116, "LoadSnapshotConfig", true, F("snapshot_path", SK_PATH, SO_REQ),
       F("mem_file_path", SK_PATH, SO_OPTION), FS("mem_backend", SO_OPTION, &st_membe),
       F("enable_diff_snapshots", SK_BOOL, SO_DEFAULT), F("track_dirty_pages", SK_BOOL, SO_DEFAULT),
       F("resume_vm", SK_BOOL, SO_DEFAULT), FQ("network_overrides", SO_DEFAULT, SK_STRUCT, &st_netovr),
       FS("vsock_override", SO_OPTION, &st_vsockovr), F("clock_realtime", SK_BOOL, SO_DEFAULT));
/* --config-file: top-level keys are not denied, nested objects are. */
STRUCT(st_vmm151, "VmmConfig", false, FS("balloon", SO_OPTION, &st_balloon151),
       FQ("drives", SO_REQ, SK_STRUCT, &st_drive151), FS("boot-source", SO_REQ, &st_boot),
       F("cpu-config", SK_PATH, SO_OPTION), FS("logger", SO_OPTION, &st_logger151),
       FS("machine-config", SO_OPTION, &st_mc151), FS("metrics", SO_OPTION, &st_metrics),
       FS("mmds-config", SO_OPTION, &st_mmdscfg151), FQ("network-interfaces", SO_DEFAULT, SK_STRUCT, &st_net151),
       FS("vsock", SO_OPTION, &st_vsock), FS("entropy", SO_OPTION, &st_entropy));
STRUCT(st_vmm116, "VmmConfig", false, FS("balloon", SO_OPTION, &st_balloon116),
       FQ("drives", SO_REQ, SK_STRUCT, &st_drive116), FS("boot-source", SO_REQ, &st_boot),
       {"cpu-config", SK_STR_OR_OBJ, SO_OPTION, &st_cpu, SK_BOOL, NULL}, FS("logger", SO_OPTION, &st_logger116),
       FS("machine-config", SO_OPTION, &st_mc116), FS("metrics", SO_OPTION, &st_metrics),
       FS("mmds-config", SO_OPTION, &st_mmdscfg116), FQ("network-interfaces", SO_DEFAULT, SK_STRUCT, &st_net116),
       FS("vsock", SO_OPTION, &st_vsock), FS("entropy", SO_OPTION, &st_entropy),
       FQ("pmem", SO_DEFAULT, SK_STRUCT, &st_pmem), FS("memory-hotplug", SO_OPTION, &st_hotplug));

/* Values the real structs serialize for defaulted fields (GET /vm/config). */
static const struct {
	const char *field;
	const char *json;
} defaults[] = {
    {"cache_type", "\"Unsafe\""},   {"io_engine", "\"Sync\""},	      {"smt", "false"},
    {"track_dirty_pages", "false"}, {"huge_pages", "\"None\""},	      {"stats_polling_interval_s", "0"},
    {"free_page_hinting", "false"}, {"free_page_reporting", "false"}, {"version", "\"V1\""},
    {"imds_compat", "false"},	    {"root_device", "false"},	      {"read_only", "false"},
    {"block_size_mib", "2"},	    {"slot_size_mib", "128"},
};
/* Option fields serialized with skip_serializing_if = "Option::is_none". */
static const char *const skip_if_none[] = {"boot_args", "cpu_template", "vsock_id", NULL};

static bool in_list(const char *const *l, const char *s)
{
	for (; *l; l++)
		if (strcmp(*l, s) == 0)
			return true;
	return false;
}

/* The config as the real struct would serialize it: every field, in order. */
static cJSON *normalize(const struct sstruct *st, const struct jnode *v)
{
	cJSON *o = cJSON_CreateObject();

	for (const struct sfield *f = st->fields; f->name; f++) {
		const struct jnode *x = jget(v, f->name);
		cJSON *val = NULL;

		if (x && x->t != JT_NULL) {
			val = (f->kind == SK_STRUCT && x->t == JT_OBJ) ? normalize(f->sub, x) : jnode_to_cjson(x);
		} else if (f->opt == SO_DEFAULT || f->opt == SO_REQ) {
			for (size_t i = 0; i < sizeof defaults / sizeof defaults[0]; i++)
				if (strcmp(defaults[i].field, f->name) == 0)
					val = cJSON_Parse(defaults[i].json);
			if (!val && f->kind == SK_SEQ)
				val = cJSON_CreateArray();
		} else if (in_list(skip_if_none, f->name)) {
			continue;
		}
		cJSON_AddItemToObject(o, f->name, val ? val : cJSON_CreateNull());
	}
	return o;
}

/* ================================================================ json */

static const char *jstr(const struct jnode *o, const char *k)
{
	const struct jnode *v = jget(o, k);
	return v && v->t == JT_STR ? v->s : NULL;
}

static bool jbool(const struct jnode *o, const char *k, bool def)
{
	const struct jnode *v = jget(o, k);
	return v && v->t == JT_BOOL ? v->b : def;
}

static bool jhas(const struct jnode *o, const char *k)
{
	const struct jnode *v = jget(o, k);
	return v && v->t != JT_NULL;
}

static uint64_t ju64(const struct jnode *o, const char *k, uint64_t def)
{
	const struct jnode *v = jget(o, k);
	return v && v->t == JT_NUM && v->is_int && !v->neg ? v->u : def;
}

static const char *cstr(const cJSON *o, const char *k)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static double cnum(const cJSON *o, const char *k, double def)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
	return cJSON_IsNumber(v) ? v->valuedouble : def;
}

static bool cbool(const cJSON *o, const char *k)
{
	return cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(o, k));
}

static void set_item(cJSON **slot, cJSON *v)
{
	cJSON_Delete(*slot);
	*slot = v;
}

/* Array element whose key field equals id, or NULL; *idx gets its index. */
static cJSON *find_by(cJSON *arr, const char *key, const char *id, int *idx)
{
	int i = 0;
	cJSON *e;

	cJSON_ArrayForEach(e, arr)
	{
		const char *s = cstr(e, key);
		if (s && strcmp(s, id) == 0) {
			if (idx)
				*idx = i;
			return e;
		}
		i++;
	}
	return NULL;
}

static void upsert(cJSON *arr, const char *key, const char *id, cJSON *item)
{
	int idx;

	if (find_by(arr, key, id, &idx))
		cJSON_ReplaceItemInArray(arr, idx, item);
	else
		cJSON_AddItemToArray(arr, item);
}

static void rfc7396_merge(cJSON **target, const cJSON *patch)
{
	const cJSON *p;

	if (!cJSON_IsObject(patch)) {
		set_item(target, cJSON_Duplicate(patch, true));
		return;
	}
	if (!cJSON_IsObject(*target))
		set_item(target, cJSON_CreateObject());
	cJSON_ArrayForEach(p, patch)
	{
		cJSON *cur = cJSON_DetachItemFromObjectCaseSensitive(*target, p->string);

		if (cJSON_IsNull(p)) {
			cJSON_Delete(cur);
			continue;
		}
		if (!cur)
			cur = cJSON_CreateNull();
		rfc7396_merge(&cur, p);
		cJSON_AddItemToObject(*target, p->string, cur);
	}
}

/* ============================================================ responses */

struct resp {
	int status;
	struct sbuf body;
	bool deprecated;
};

static int reply_json(struct resp *rs, int status, cJSON *j)
{
	char *s = cJSON_PrintUnformatted(j);

	rs->status = status;
	sb_reset(&rs->body);
	sb_puts(&rs->body, s);
	free(s);
	cJSON_Delete(j);
	return 0;
}

static int vfault(struct resp *rs, int status, const char *cat, const char *fmt, va_list ap) FK_PRINTF(4, 0);

static int vfault(struct resp *rs, int status, const char *cat, const char *fmt, va_list ap)
{
	struct sbuf m;

	sb_init(&m);
	if (cat && v116())
		sb_puts(&m, cat);
	sb_vprintf(&m, fmt, ap);
	rs->status = status;
	sb_reset(&rs->body);
	sb_puts(&rs->body, "{\"fault_message\":");
	sb_json_str(&rs->body, m.s);
	sb_puts(&rs->body, "}");
	fc_log(1, "Received Error. Status code: %d %s. Message: %s", status,
	       status == 413 ? "Payload too large" : "Bad Request", m.s);
	sb_free(&m);
	return -1;
}

/* 400 {"fault_message": [cat in 1.16] + message} */
static int fault(struct resp *rs, const char *cat, const char *fmt, ...) FK_PRINTF(3, 4);

static int fault(struct resp *rs, const char *cat, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfault(rs, 400, cat, fmt, ap);
	va_end(ap);
	return rc;
}

static int fault_status(struct resp *rs, int status, const char *cat, const char *fmt, ...) FK_PRINTF(4, 5);

static int fault_status(struct resp *rs, int status, const char *cat, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfault(rs, status, cat, fmt, ap);
	va_end(ap);
	return rc;
}

static const char *io_err(int err)
{
	static struct sbuf b;

	sb_reset(&b);
	sb_io_error(&b, err);
	return b.s;
}

/* =============================================================== handlers */

struct req {
	const char *method;
	const char *id;		  /* id from the path, or NULL */
	const struct jnode *body; /* validated body, or NULL */
	const struct sstruct *st; /* its schema */
};

typedef int handler_fn(const struct req *rq, struct resp *rs);

static const char *const state_names[] = {"Not started", "Running", "Paused"};

static cJSON *machine_json(void)
{
	cJSON *m = cJSON_Duplicate(S.machine, true);

	if (cJSON_IsNull(cJSON_GetObjectItemCaseSensitive(m, "cpu_template")))
		cJSON_DeleteItemFromObjectCaseSensitive(m, "cpu_template");
	return m;
}

static int h_info(const struct req *rq, struct resp *rs)
{
	cJSON *o = cJSON_CreateObject();

	(void)rq;
	cJSON_AddStringToObject(o, "id", S.id);
	cJSON_AddStringToObject(o, "state", state_names[S.state]);
	cJSON_AddStringToObject(o, "vmm_version", S.vstr);
	cJSON_AddStringToObject(o, "app_name", "Firecracker");
	return reply_json(rs, 200, o);
}

static int h_version(const struct req *rq, struct resp *rs)
{
	cJSON *o = cJSON_CreateObject();

	(void)rq;
	cJSON_AddStringToObject(o, "firecracker_version", S.vstr);
	return reply_json(rs, 200, o);
}

static cJSON *dup_or_null(const cJSON *v)
{
	return v ? cJSON_Duplicate(v, true) : cJSON_CreateNull();
}

static cJSON *full_config(void)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddItemToObject(o, "balloon", dup_or_null(S.balloon));
	cJSON_AddItemToObject(o, "drives", cJSON_Duplicate(S.drives, true));
	cJSON_AddItemToObject(o, "boot-source", dup_or_null(S.boot_source));
	cJSON_AddItemToObject(o, "cpu-config", dup_or_null(S.cpu_config));
	cJSON_AddItemToObject(o, "logger", dup_or_null(S.logger));
	cJSON_AddItemToObject(o, "machine-config", machine_json());
	cJSON_AddItemToObject(o, "metrics", dup_or_null(S.metrics));
	cJSON_AddItemToObject(o, "mmds-config", dup_or_null(S.mmds_config));
	cJSON_AddItemToObject(o, "network-interfaces", cJSON_Duplicate(S.nets, true));
	cJSON_AddItemToObject(o, "vsock", dup_or_null(S.vsock));
	cJSON_AddItemToObject(o, "entropy", dup_or_null(S.entropy));
	if (v116()) {
		cJSON_AddItemToObject(o, "pmem", cJSON_Duplicate(S.pmems, true));
		cJSON_AddItemToObject(o, "memory-hotplug", dup_or_null(S.hotplug));
	}
	return o;
}

static int h_vm_config(const struct req *rq, struct resp *rs)
{
	(void)rq;
	return reply_json(rs, 200, full_config());
}

static int h_get_machine(const struct req *rq, struct resp *rs)
{
	(void)rq;
	return reply_json(rs, 200, machine_json());
}

static int check_machine(const cJSON *m, struct resp *rs)
{
	double vcpus = cnum(m, "vcpu_count", 1);
	bool smt = cbool(m, "smt");
	double mem = cnum(m, "mem_size_mib", 128);

	if (v116() && (vcpus < 1 || vcpus > 32 || (smt && vcpus > 1 && (int)vcpus % 2)))
		return fault(rs, "Machine config error: ",
			     "The number of vCPUs must be greater than 0, less than 32 and must be 1 or an even number "
			     "if SMT is enabled.");
	if (!v116() && smt && vcpus > 1 && (int)vcpus % 2)
		return fault(
		    rs, NULL,
		    "The vCPU number is invalid! The vCPU number can only be 1 or an even number when SMT is enabled.");
	if (mem < 1 ||
	    (v116() && cstr(m, "huge_pages") && strcmp(cstr(m, "huge_pages"), "2M") == 0 && (long long)mem % 2))
		return fault(rs, "Machine config error: ", "The memory size (MiB) is invalid.");
	if (S.balloon && cnum(S.balloon, "amount_mib", 0) > mem)
		return fault(rs, "Machine config error: ", "IncompatibleBalloonSize");
	return 0;
}

static int h_put_machine(const struct req *rq, struct resp *rs)
{
	cJSON *m = normalize(rq->st, rq->body);

	/* HEAD keeps cpu_template when it is left out; 1.5.1 resets it */
	if (v116() && !jhas(rq->body, "cpu_template") && S.machine)
		cJSON_ReplaceItemInObjectCaseSensitive(
		    m, "cpu_template", dup_or_null(cJSON_GetObjectItemCaseSensitive(S.machine, "cpu_template")));
	if (check_machine(m, rs) < 0) {
		cJSON_Delete(m);
		return -1;
	}
	set_item(&S.machine, m);
	S.boot_res = true;
	return 0;
}

static int h_patch_machine(const struct req *rq, struct resp *rs)
{
	cJSON *m = cJSON_Duplicate(S.machine, true);

	for (size_t k = 0; k < rq->body->n; k++)
		if (rq->body->kids[k]->t != JT_NULL)
			cJSON_ReplaceItemInObjectCaseSensitive(m, rq->body->keys[k], jnode_to_cjson(rq->body->kids[k]));
	if (check_machine(m, rs) < 0) {
		cJSON_Delete(m);
		return -1;
	}
	set_item(&S.machine, m);
	S.boot_res = true;
	return 0;
}

static int h_boot_source(const struct req *rq, struct resp *rs)
{
	const char *kernel = jstr(rq->body, "kernel_image_path");
	const char *initrd = jstr(rq->body, "initrd_path");
	int kfd, ifd = -1;

	kfd = root_open(kernel, O_RDONLY, 0);
	if (kfd < 0)
		return fault(rs, "Boot source error: ", "The kernel file cannot be opened: %s", io_err(errno));
	if (initrd) {
		ifd = root_open(initrd, O_RDONLY, 0);
		if (ifd < 0) {
			int err = errno;
			close(kfd);
			return fault(rs, "Boot source error: ",
				     "The initrd file cannot be opened due to invalid path or invalid permissions. %s",
				     io_err(err));
		}
	}
	hold_fd("kernel", kfd);
	hold_fd("initrd", ifd);
	set_item(&S.boot_source, normalize(rq->st, rq->body));
	S.boot_res = true;
	return 0;
}

static int h_cpu_config(const struct req *rq, struct resp *rs)
{
	(void)rs;
	set_item(&S.cpu_config, jnode_to_cjson(rq->body));
	return 0;
}

static int open_drive(const char *key, const char *path, bool ro, struct resp *rs)
{
	int fd = root_open(path, ro ? O_RDONLY : O_RDWR, 0);

	if (fd < 0) {
		struct sbuf d;
		int err = errno;

		if (!v116())
			return fault(rs, NULL, "Invalid block device path: %s", path);
		sb_init(&d);
		sb_io_error_debug(&d, err);
		fault(rs,
		      "Drive config error: ", "Unable to create the virtio block device: VirtioBackingFile(%s, \"%s\")",
		      d.s, path);
		sb_free(&d);
		return -1;
	}
	hold_fd(key, fd);
	return 0;
}

static int h_put_drive(const struct req *rq, struct resp *rs)
{
	const char *path = jstr(rq->body, "path_on_host");
	char key[128];
	cJSON *e;

	if (jbool(rq->body, "is_root_device", false)) {
		cJSON_ArrayForEach(e, S.drives) if (cbool(e, "is_root_device") &&
						    strcmp(cstr(e, "drive_id"), rq->id) !=
							0) return fault(rs, "Drive config error: ",
									"A root block device already exists!");
		cJSON_ArrayForEach(e, S.pmems) if (cbool(e, "root_device")) return fault(
		    rs, "Drive config error: ",
		    "Attempt to add block as a root device while the root device defined as a pmem device");
	}
	snprintf(key, sizeof key, "drive:%s", rq->id);
	if (path && open_drive(key, path, jbool(rq->body, "is_read_only", false), rs) < 0)
		return -1;
	if (!path && !jhas(rq->body, "socket"))
		return fault(rs,
			     "Drive config error: ", "Unable to create the virtio block device: missing path_on_host");
	upsert(S.drives, "drive_id", rq->id, normalize(rq->st, rq->body));
	S.boot_res = true;
	return 0;
}

static int h_patch_drive(const struct req *rq, struct resp *rs)
{
	cJSON *d = find_by(S.drives, "drive_id", rq->id, NULL);
	const char *path = jstr(rq->body, "path_on_host");
	char key[128];

	if (!d)
		return fault(rs, "Drive config error: ",
			     "Unable to patch the block device: DeviceNotFound Please verify the request arguments.");
	snprintf(key, sizeof key, "drive:%s", rq->id);
	if (path && open_drive(key, path, cbool(d, "is_read_only"), rs) < 0)
		return -1;
	if (path)
		cJSON_ReplaceItemInObjectCaseSensitive(d, "path_on_host", cJSON_CreateString(path));
	if (jhas(rq->body, "rate_limiter"))
		cJSON_ReplaceItemInObjectCaseSensitive(d, "rate_limiter",
						       normalize(&st_rl, jget(rq->body, "rate_limiter")));
	return 0;
}

static int h_put_pmem(const struct req *rq, struct resp *rs)
{
	const char *path = jstr(rq->body, "path_on_host");
	char key[128];
	struct stat st;
	int fd;
	cJSON *e;

	if (jbool(rq->body, "root_device", false)) {
		cJSON_ArrayForEach(e, S.drives) if (cbool(e, "is_root_device")) return fault(
		    rs, "Pmem config error: ", "A root block device already exists!");
	}
	fd = root_open(path, jbool(rq->body, "read_only", false) ? O_RDONLY : O_RDWR, 0);
	if (fd < 0)
		return fault(rs, "Pmem config error: ", "Unable to open the backing file: %s", io_err(errno));
	if (fstat(fd, &st) == 0 && st.st_size == 0) {
		close(fd);
		return fault(rs, "Pmem config error: ", "BackingFileZeroSize");
	}
	snprintf(key, sizeof key, "pmem:%s", rq->id);
	hold_fd(key, fd);
	upsert(S.pmems, "id", rq->id, normalize(rq->st, rq->body));
	S.boot_res = true;
	return 0;
}

static int h_patch_pmem(const struct req *rq, struct resp *rs)
{
	cJSON *d = find_by(S.pmems, "id", rq->id, NULL);

	if (!d)
		return fault(rs, NULL, "Device not found");
	if (jhas(rq->body, "rate_limiter"))
		cJSON_ReplaceItemInObjectCaseSensitive(d, "rate_limiter",
						       normalize(&st_rl, jget(rq->body, "rate_limiter")));
	return 0;
}

static int h_delete_pci(const struct req *rq, struct resp *rs)
{
	(void)rq;
	return fault(rs, NULL, "PCI is not enabled");
}

static void lower_mac(char *out, const char *mac)
{
	size_t i;

	for (i = 0; mac && mac[i] && i < 31; i++)
		out[i] = (char)((mac[i] >= 'A' && mac[i] <= 'F') ? mac[i] - 'A' + 'a' : mac[i]);
	out[i] = '\0';
}

/* Tap::open_named and Net::new of Firecracker 1.5.1: -1 with the message of
 * the step that failed in *what (for the caller's fault). */
static int open_tap(const char *name, const char **what)
{
	struct ifreq ifr;
	unsigned int offload = TUN_F_CSUM | TUN_F_UFO | TUN_F_TSO4 | TUN_F_TSO6;
	int vnet_hdr_size = 12; /* struct virtio_net_hdr_v1 */
	int fd = root_open("/dev/net/tun", O_RDWR | O_NONBLOCK, 0);

	*what = "Open tap device failed: Couldn't open /dev/net/tun: ";
	if (fd < 0)
		return -1;
	memset(&ifr, 0, sizeof ifr);
	snprintf(ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | IFF_VNET_HDR;
	*what = "Open tap device failed: Error while creating ifreq structure: ";
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		goto fail;
	*what = "Setting tap interface offload flags failed: Error while setting the offload flags: ";
	if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)offload) < 0)
		goto fail;
	*what = "Setting vnet header size failed: Error while setting size of the vnet header: ";
	if (ioctl(fd, TUNSETVNETHDRSZ, &vnet_hdr_size) < 0)
		goto fail;
	return fd;
fail : {
	int saved = errno;
	close(fd);
	errno = saved;
	return -1;
}
}

static int net_open_failed(struct resp *rs, const char *tap, const char *what, int err)
{
	bool ifreq = strstr(what, "ifreq") != NULL;

	return fault(rs, "Network config error: ", "Could not create the network device: %s%s%s%s%s", what, io_err(err),
		     ifreq ? ". Invalid TUN/TAP Backend provided by " : "", ifreq ? tap : "",
		     ifreq ? ". Check our documentation on setting up the network devices." : "");
}

static int h_put_net(const struct req *rq, struct resp *rs)
{
	const char *mac = jstr(rq->body, "guest_mac");
	const char *tap = jstr(rq->body, "host_dev_name");
	uint64_t mtu = ju64(rq->body, "mtu", 1500);
	const char *what;
	char key[128];
	int fd;
	cJSON *e;

	if (mtu < 68)
		return fault(rs, "Network config error: ", "The MTU is invalid: %llu", (unsigned long long)mtu);
	cJSON_ArrayForEach(e, S.nets)
	{
		const char *other = cstr(e, "iface_id");
		char a[32], b[32];

		if (strcmp(other, rq->id) == 0)
			continue;
		if (mac && cstr(e, "guest_mac")) {
			lower_mac(a, mac);
			lower_mac(b, cstr(e, "guest_mac"));
			if (strcmp(a, b) == 0)
				return fault(rs, "Network config error: ", "The MAC address is already in use: %s", a);
		}
	}
	/* an update drops the old device (and its TAP) before the new one opens */
	snprintf(key, sizeof key, "net:%s", rq->id);
	hold_fd(key, -1);
	fd = open_tap(tap, &what);
	if (fd < 0)
		return net_open_failed(rs, tap, what, errno);
	hold_fd(key, fd);
	upsert(S.nets, "iface_id", rq->id, normalize(rq->st, rq->body));
	S.boot_res = true;
	return 0;
}

static int h_patch_net(const struct req *rq, struct resp *rs)
{
	cJSON *n = find_by(S.nets, "iface_id", rq->id, NULL);
	static const char *const rls[] = {"rx_rate_limiter", "tx_rate_limiter"};

	if (!n)
		return fault(rs, "Network config error: ", "Could not update the network device: DeviceNotFound");
	for (size_t i = 0; i < 2; i++)
		if (jhas(rq->body, rls[i]))
			cJSON_ReplaceItemInObjectCaseSensitive(n, rls[i], normalize(&st_rl, jget(rq->body, rls[i])));
	return 0;
}

static int h_vsock(const struct req *rq, struct resp *rs)
{
	const char *uds = jstr(rq->body, "uds_path");
	int fd;

	/* the previous device releases its socket, so its path may be reused */
	if (S.vsock && strcmp(cstr(S.vsock, "uds_path"), uds) == 0 && held("vsock") >= 0) {
		hold_fd("vsock", -1);
		root_unlink(uds);
	}
	fd = root_listen(uds, 128);
	if (fd < 0) {
		struct sbuf d;
		sb_init(&d);
		sb_io_error_debug(&d, errno);
		fault(rs, "Vsock config error: ", "Cannot create backend for vsock device: UnixBind(%s)", d.s);
		sb_free(&d);
		return -1;
	}
	hold_fd("vsock", fd);
	set_item(&S.vsock, normalize(rq->st, rq->body));
	S.boot_res = true;
	return 0;
}

static int h_put_balloon(const struct req *rq, struct resp *rs)
{
	if ((double)ju64(rq->body, "amount_mib", 0) > cnum(S.machine, "mem_size_mib", 128))
		return fault(rs, "Balloon config error: ", "Amount of pages requested is too large.");
	set_item(&S.balloon, normalize(rq->st, rq->body));
	S.boot_res = true;
	return 0;
}

static int need_balloon(struct resp *rs)
{
	if (!S.balloon)
		return fault(rs, "Balloon config error: ", "No balloon device found.");
	return 0;
}

static int h_get_balloon(const struct req *rq, struct resp *rs)
{
	(void)rq;
	if (need_balloon(rs) < 0)
		return -1;
	return reply_json(rs, 200, cJSON_Duplicate(S.balloon, true));
}

static int h_patch_balloon(const struct req *rq, struct resp *rs)
{
	uint64_t amount = ju64(rq->body, "amount_mib", 0);

	if (need_balloon(rs) < 0)
		return -1;
	if ((double)amount > cnum(S.machine, "mem_size_mib", 128))
		return fault(rs, "Balloon update error: ", "Amount of pages requested is too large.");
	cJSON_ReplaceItemInObjectCaseSensitive(S.balloon, "amount_mib", cJSON_CreateNumber((double)amount));
	return 0;
}

static int h_balloon_stats(const struct req *rq, struct resp *rs)
{
	double mib = cnum(S.balloon, "amount_mib", 0);
	cJSON *o;

	(void)rq;
	if (need_balloon(rs) < 0)
		return -1;
	if (cnum(S.balloon, "stats_polling_interval_s", 0) == 0)
		return fault(rs, "Balloon config error: ", "Error creating the balloon device: StatisticsDisabled");
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "target_pages", mib * 256);
	cJSON_AddNumberToObject(o, "actual_pages", mib * 256);
	cJSON_AddNumberToObject(o, "target_mib", mib);
	cJSON_AddNumberToObject(o, "actual_mib", mib);
	return reply_json(rs, 200, o);
}

static int h_patch_balloon_stats(const struct req *rq, struct resp *rs)
{
	uint64_t iv = ju64(rq->body, "stats_polling_interval_s", 0);

	if (need_balloon(rs) < 0)
		return -1;
	if ((iv == 0) != (cnum(S.balloon, "stats_polling_interval_s", 0) == 0))
		return fault(rs, "Balloon config error: ", "Error creating the balloon device: StatisticsStateChange");
	cJSON_ReplaceItemInObjectCaseSensitive(S.balloon, "stats_polling_interval_s", cJSON_CreateNumber((double)iv));
	return 0;
}

static int h_hinting(const struct req *rq, struct resp *rs)
{
	cJSON *o;

	if (need_balloon(rs) < 0)
		return -1;
	if (!cbool(S.balloon, "free_page_hinting"))
		return fault(rs, "Balloon config error: ", "Free page hinting is not enabled");
	if (strcmp(rq->method, "GET") == 0) {
		o = cJSON_CreateObject();
		cJSON_AddNumberToObject(o, "host_cmd", (double)S.hint_cmd);
		cJSON_AddItemToObject(o, "guest_cmd", cJSON_CreateNull());
		return reply_json(rs, 200, o);
	}
	S.hinting = rq->st == &st_hint;
	S.hint_cmd += S.hinting ? 1 : 0;
	return 0;
}

static int h_entropy(const struct req *rq, struct resp *rs)
{
	(void)rs;
	set_item(&S.entropy, normalize(rq->st, rq->body));
	S.boot_res = true;
	return 0;
}

static int h_serial(const struct req *rq, struct resp *rs)
{
	const char *path = jstr(rq->body, "serial_out_path");

	if (path) {
		/* As 1.14 does: O_RDWR | O_CREAT, neither O_APPEND nor O_TRUNC. */
		int fd = root_open(path, O_RDWR | O_NONBLOCK | O_CREAT, 0666);
		if (fd < 0)
			return fault(rs, "Internal VMM error: ", "Unable to open the serial output file: %s",
				     io_err(errno));
		hold_fd("serial", fd);
	}
	set_item(&S.serial, normalize(rq->st, rq->body));
	return 0;
}

/* Log and metrics files, opened as every release does (1.5.1 to 1.14):
 * O_RDWR | O_NONBLOCK, neither O_APPEND nor O_TRUNC, so that the first write
 * lands at offset 0 of whatever the file held. 1.5.1 needs the file to exist,
 * 1.14+ creates it. */
static int open_output(const char *path)
{
	return root_open(path, O_RDWR | O_NONBLOCK | (v116() ? O_CREAT : 0), 0644);
}

static int level_of(const char *s)
{
	static const char *const n[] = {"off", "error", "warn", "info", "debug", "trace", "warning"};

	for (int i = 0; i < 7; i++)
		if (strcasecmp(s, n[i]) == 0)
			return i == 6 ? 2 : i;
	return -1;
}

static int h_logger(const struct req *rq, struct resp *rs)
{
	const char *path = jstr(rq->body, "log_path");

	if (path) {
		int fd = open_output(path);
		if (fd < 0)
			return fault(rs, "Logger error: ", "Failed to open target file: %s", io_err(errno));
		if (S.log_fd >= 0)
			close(S.log_fd);
		S.log_fd = fd;
	}
	if (jstr(rq->body, "level"))
		S.log_level = level_of(jstr(rq->body, "level"));
	S.show_level = jbool(rq->body, "show_level", S.show_level);
	S.show_origin = jbool(rq->body, "show_log_origin", S.show_origin);
	set_item(&S.logger, normalize(rq->st, rq->body));
	return 0;
}

static int h_metrics(const struct req *rq, struct resp *rs)
{
	const char *path = jstr(rq->body, "metrics_path");
	int fd;

	if (S.metrics_fd >= 0)
		return fault(rs, "Metrics error: ", "Reinitialization of metrics not allowed.");
	fd = open_output(path);
	if (fd < 0)
		return fault(rs, "Metrics error: ", "%s", io_err(errno));
	S.metrics_fd = fd;
	set_item(&S.metrics, normalize(rq->st, rq->body));
	return 0;
}

static int store_mmds(cJSON *next, struct resp *rs)
{
	char *s = cJSON_PrintUnformatted(next);
	size_t len = strlen(s);

	free(s);
	if (len > S.mmds_limit) {
		cJSON_Delete(next);
		return fault_status(rs, 413, "MMDS limit exceeded error: ", "The MMDS patch request doesn't fit.");
	}
	set_item(&S.mmds, next);
	return 0;
}

static int h_put_mmds(const struct req *rq, struct resp *rs)
{
	return store_mmds(jnode_to_cjson(rq->body), rs);
}

static int h_patch_mmds(const struct req *rq, struct resp *rs)
{
	cJSON *next = S.mmds ? cJSON_Duplicate(S.mmds, true) : cJSON_CreateNull();
	cJSON *patch = jnode_to_cjson(rq->body);

	rfc7396_merge(&next, patch);
	cJSON_Delete(patch);
	return store_mmds(next, rs);
}

static int h_get_mmds(const struct req *rq, struct resp *rs)
{
	(void)rq;
	if (!S.mmds || cJSON_IsNull(S.mmds))
		return reply_json(rs, 200, cJSON_CreateObject());
	return reply_json(rs, 200, cJSON_Duplicate(S.mmds, true));
}

static int h_mmds_config(const struct req *rq, struct resp *rs)
{
	const struct jnode *ifs = jget(rq->body, "network_interfaces");
	const char *ip = jstr(rq->body, "ipv4_address");
	unsigned char o[4];

	if (ifs->n == 0)
		return fault(rs, "MMMDS config error: ",
			     "The list of network interface IDs that allow forwarding MMDS requests is empty.");
	for (size_t k = 0; k < ifs->n; k++)
		if (!find_by(S.nets, "iface_id", ifs->kids[k]->s, NULL))
			return fault(rs, "MMMDS config error: ",
				     "The list of network interface IDs provided contains at least one ID that does "
				     "not correspond to any existing network interface.");
	if (ip && (sv_parse_ipv4(ip, o) < 0 || o[0] != 169 || o[1] != 254 || o[2] == 0 || o[2] == 255))
		return fault(rs, "MMMDS config error: ", "The MMDS IPv4 address is not link local.");
	set_item(&S.mmds_config, normalize(rq->st, rq->body));
	if (!ip)
		cJSON_ReplaceItemInObjectCaseSensitive(S.mmds_config, "ipv4_address",
						       cJSON_CreateString("169.254.169.254"));
	S.boot_res = true;
	return 0;
}

static int h_put_hotplug(const struct req *rq, struct resp *rs)
{
	uint64_t total = ju64(rq->body, "total_size_mib", 0);
	uint64_t block = ju64(rq->body, "block_size_mib", 2), slot = ju64(rq->body, "slot_size_mib", 128);

	if (block < 2 || (block & (block - 1)) || slot < 128 || slot % block || total == 0 || total % slot)
		return fault(rs, "Memory hotplug config error: ", "Invalid memory hotplug configuration");
	set_item(&S.hotplug, normalize(rq->st, rq->body));
	S.boot_res = true;
	return 0;
}

static int h_hotplug_post(const struct req *rq, struct resp *rs)
{
	cJSON *o;

	if (!S.hotplug)
		return fault(rs, "Memory hotplug update error: ", "Memory hotplug device not found");
	if (strcmp(rq->method, "PATCH") == 0) {
		uint64_t want = ju64(rq->body, "requested_size_mib", 0);
		if ((double)want > cnum(S.hotplug, "total_size_mib", 0))
			return fault(rs,
				     "Memory hotplug update error: ", "Requested size exceeds the hotpluggable memory");
		cJSON_ReplaceItemInObjectCaseSensitive(S.hotplug, "requested_size_mib",
						       cJSON_CreateNumber((double)want));
		return 0;
	}
	o = cJSON_CreateObject();
	cJSON_AddNumberToObject(o, "total_size_mib", cnum(S.hotplug, "total_size_mib", 0));
	cJSON_AddNumberToObject(o, "slot_size_mib", cnum(S.hotplug, "slot_size_mib", 128));
	cJSON_AddNumberToObject(o, "block_size_mib", cnum(S.hotplug, "block_size_mib", 2));
	cJSON_AddNumberToObject(o, "plugged_size_mib", cnum(S.hotplug, "requested_size_mib", 0));
	cJSON_AddNumberToObject(o, "requested_size_mib", cnum(S.hotplug, "requested_size_mib", 0));
	return reply_json(rs, 200, o);
}

static const char *const not_pre = "The requested operation is not supported before starting the microVM.";
static const char *const not_post = "The requested operation is not supported after starting the microVM.";

static int h_actions(const struct req *rq, struct resp *rs)
{
	const char *a = jstr(rq->body, "action_type");

	if (strcmp(a, "InstanceStart") == 0) {
		if (S.booted)
			return fault(rs, NULL, "%s", not_post);
		if (!S.boot_source)
			return fault(rs, "Start microvm error: ", "Cannot start microvm without kernel configuration.");
		S.booted = true;
		S.state = ST_RUNNING;
		if (held("serial") >= 0) {
			static const char console[] = "[    0.000000] Linux version (the fake guest's console)\n";
			(void)fk_write_all(held("serial"), console, sizeof console - 1);
		}
		fc_log(3, "Artificially kick devices.");
		fc_log(3, "Successfully started microvm");
		return 0;
	}
	if (!S.booted)
		return fault(rs, NULL, "%s", not_pre);
	if (strcmp(a, "FlushMetrics") == 0) {
		write_metrics();
		return 0;
	}
	/* SendCtrlAltDel: the guest's init reboots, reboot=k ends the VMM */
	if (!env_true("FAKE_FC_IGNORE_CTRL_ALT_DEL"))
		S.exit_at_ms = now_ms() + 50;
	return 0;
}

static int h_patch_vm(const struct req *rq, struct resp *rs)
{
	(void)rs;
	S.state = strcmp(jstr(rq->body, "state"), "Paused") == 0 ? ST_PAUSED : ST_RUNNING;
	fc_log(3, "The microVM state is now %s.", state_names[S.state]);
	return 0;
}

#define SNAP_MAGIC "fake-firecracker snapshot v1\n"

/* FAKE_FC_SNAPSHOT_HOSTILE=keep: the VMM keeps an fd of each snapshot file
 * it wrote and, at its next API request, writes through them (and grows the
 * memory file by 300 MiB): what it could do to a file the host took as it is.
 * It says so in /fake-fc-hostile.log of its root. */
static void snap_write_kept(void)
{
	static const char m[] = "WRITTEN BY THE JAIL UID AFTER THE SNAPSHOT\n";
	int log;

	if (S.kept_snap_fds[0] < 0)
		return;
	for (int i = 0; i < 2; i++) {
		if (pwrite(S.kept_snap_fds[i], m, sizeof m - 1, 0) < 0 ||
		    (i == 1 && ftruncate(S.kept_snap_fds[i], (off_t)300 << 20) < 0))
			fprintf(stderr, "fake firecracker: writing a kept snapshot fd: %s\n", strerror(errno));
		close(S.kept_snap_fds[i]);
		S.kept_snap_fds[i] = -1;
	}
	log = root_open("/fake-fc-hostile.log", O_WRONLY | O_CREAT | O_APPEND, 0600);
	if (log >= 0) {
		(void)fk_write_all(log, "kept snapshot fds written\n", 26);
		close(log);
	}
}

/* FAKE_FC_SNAPSHOT_HOSTILE: a compromised VMM, after writing the snapshot files,
 * swaps one for something the host must refuse: "symlink:TARGET" (the state
 * file becomes a symlink to TARGET), "hardlink" (the memory file gets a second
 * name), "fifo" (the state file becomes a FIFO), "dir" (a directory); or
 * "keep" (snap_write_kept). */
static void snap_hostile(const char *snap, const char *mem)
{
	const char *v = getenv("FAKE_FC_SNAPSHOT_HOSTILE");
	char base[256], extra[300];
	int dfd;

	if (!v || !*v)
		return;
	if (strcmp(v, "keep") == 0) {
		S.kept_snap_fds[0] = root_open(snap, O_WRONLY, 0);
		S.kept_snap_fds[1] = root_open(mem, O_WRONLY, 0);
		return;
	}
	dfd = root_parent(strcmp(v, "hardlink") == 0 ? mem : snap, base, sizeof base);
	if (dfd < 0)
		return;
	if (strcmp(v, "hardlink") == 0) {
		snprintf(extra, sizeof extra, "%s.second-name", base);
		/* (a cast to void does not silence warn_unused_result, which
		 * _FORTIFY_SOURCE puts on these: what fails shows in the test) */
		if (linkat(dfd, base, dfd, extra, 0) < 0)
			perror("fake-firecracker: linkat");
	} else {
		(void)unlinkat(dfd, base, 0);
		if (strncmp(v, "symlink:", 8) == 0) {
			if (symlinkat(v + 8, dfd, base) < 0)
				perror("fake-firecracker: symlinkat");
		} else if (strcmp(v, "fifo") == 0)
			(void)mkfifoat(dfd, base, 0600);
		else if (strcmp(v, "dir") == 0)
			(void)mkdirat(dfd, base, 0700);
	}
	close(dfd);
}

static int h_snap_create(const struct req *rq, struct resp *rs)
{
	const char *snap = jstr(rq->body, "snapshot_path"), *mem = jstr(rq->body, "mem_file_path");
	const char *type = jstr(rq->body, "snapshot_type");
	cJSON *cfg;
	char *text;
	int sfd, mfd, rc = 0;

	if (S.state != ST_PAUSED)
		return fault(rs,
			     "Create snapshot error: ", "Cannot create a snapshot of a microVM that is not paused.");
	if (!v116() && type && strcmp(type, "Diff") == 0 && !cbool(S.machine, "track_dirty_pages"))
		return fault(rs, NULL,
			     "The requested operation is not supported: Diff snapshots are not allowed on uVMs with "
			     "dirty page tracking disabled.");
	sfd = root_open(snap, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (sfd < 0)
		return fault(rs, "Create snapshot error: ", "Cannot open the snapshot file: %s", io_err(errno));
	mfd = root_open(mem, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	if (mfd < 0) {
		close(sfd);
		return fault(rs, "Create snapshot error: ", "Cannot open the memory file: %s", io_err(errno));
	}
	cfg = full_config();
	cJSON_AddStringToObject(cfg, "fake-vmm-version", S.vstr);
	text = cJSON_PrintUnformatted(cfg);
	if (fk_write_all(sfd, SNAP_MAGIC, strlen(SNAP_MAGIC)) < 0 || fk_write_all(sfd, text, strlen(text)) < 0 ||
	    ftruncate(mfd, (off_t)cnum(S.machine, "mem_size_mib", 128) << 20) < 0)
		rc = fault(rs, "Create snapshot error: ", "Cannot write the snapshot: %s", io_err(errno));
	free(text);
	cJSON_Delete(cfg);
	close(sfd);
	close(mfd);
	if (rc == 0)
		snap_hostile(snap, mem);
	return rc;
}

static int load_failed(struct resp *rs, const char *what, int err)
{
	S.exit_after_reply = true;
	return fault(rs, NULL, "Load microVM snapshot error: Loading snapshot failed: %s: %s", what, io_err(err));
}

static int h_snap_load(const struct req *rq, struct resp *rs)
{
	const char *snap = jstr(rq->body, "snapshot_path");
	const char *mem = jhas(rq->body, "mem_backend") ? jstr(jget(rq->body, "mem_backend"), "backend_path")
							: jstr(rq->body, "mem_file_path");
	char buf[65536];
	ssize_t n;
	int fd;
	cJSON *cfg, *e;

	if (S.boot_res)
		return fault(rs, NULL,
			     "Load microVM snapshot error: Loading a microVM snapshot not allowed after configuring "
			     "boot-specific resources.");
	fd = root_open(snap, O_RDONLY, 0);
	if (fd < 0)
		return load_failed(rs, "snapshot file", errno);
	n = read(fd, buf, sizeof buf - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
	if (jhas(rq->body, "mem_backend") && strcmp(jstr(jget(rq->body, "mem_backend"), "backend_type"), "Uffd") == 0) {
		/* Firecracker connects to the page-fault handler and sends it the
		 * guest memory regions (with the userfaultfd, not faked here). */
		static const char regions[] =
		    "[{\"base_host_virt_addr\":0,\"size\":134217728,\"offset\":0,\"page_size\":4096}]\n";
		fd = root_connect(mem);
		if (fd < 0)
			return load_failed(rs, "connecting to the UFFD socket", errno);
		if (fk_write_all(fd, regions, strlen(regions)) < 0) {
			close(fd);
			return load_failed(rs, "writing to the UFFD socket", errno);
		}
	} else {
		fd = root_open(mem, O_RDONLY, 0);
		if (fd < 0)
			return load_failed(rs, "memory file", errno);
	}
	hold_fd("memory", fd);
	if (strncmp(buf, SNAP_MAGIC, strlen(SNAP_MAGIC)) != 0 || !(cfg = cJSON_Parse(buf + strlen(SNAP_MAGIC))))
		return load_failed(rs, "snapshot state", EINVAL);
	/* devices reopen their backing files, at the same paths */
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(cfg, "drives"))
	{
		char key[128];
		const char *p = cstr(e, "path_on_host");
		snprintf(key, sizeof key, "drive:%s", cstr(e, "drive_id") ? cstr(e, "drive_id") : "");
		if (p && open_drive(key, p, cbool(e, "is_read_only"), rs) < 0) {
			cJSON_Delete(cfg);
			S.exit_after_reply = true;
			return -1;
		}
	}
	/* and the interfaces their TAPs, renamed by network_overrides (1.12+) */
	cJSON_ArrayForEach(e, cJSON_GetObjectItemCaseSensitive(cfg, "network-interfaces"))
	{
		const struct jnode *ovr = jget(rq->body, "network_overrides");
		const char *id = cstr(e, "iface_id") ? cstr(e, "iface_id") : "", *tap = cstr(e, "host_dev_name"), *what;
		char key[128];

		for (size_t k = 0; ovr && k < ovr->n; k++)
			if (strcmp(jstr(ovr->kids[k], "iface_id"), id) == 0) {
				tap = jstr(ovr->kids[k], "host_dev_name");
				cJSON_ReplaceItemInObjectCaseSensitive(e, "host_dev_name", cJSON_CreateString(tap));
			}
		snprintf(key, sizeof key, "net:%s", id);
		fd = tap ? open_tap(tap, &what) : -1;
		if (fd < 0) {
			int err = tap ? errno : EINVAL;
			cJSON_Delete(cfg);
			return load_failed(rs, "tap device", err);
		}
		hold_fd(key, fd);
	}
	set_item(&S.machine, cJSON_DetachItemFromObjectCaseSensitive(cfg, "machine-config"));
	set_item(&S.drives, cJSON_DetachItemFromObjectCaseSensitive(cfg, "drives"));
	set_item(&S.nets, cJSON_DetachItemFromObjectCaseSensitive(cfg, "network-interfaces"));
	cJSON_Delete(cfg);
	S.booted = true;
	S.state = jbool(rq->body, "resume_vm", false) ? ST_RUNNING : ST_PAUSED;
	return 0;
}

/* ================================================================ routes */

enum phase {
	PH_ANY,
	PH_PRE,
	PH_POST,
	PH_PRE_PCI, /* pre-boot; post-boot is PCI hotplug in 1.16 */
	PH_ACTION,  /* per action type, in the handler */
};

enum bodyk {
	B_NONE, /* no body allowed */
	B_REQ,	/* a struct body */
	B_OPT,	/* body may be omitted (1.16 hinting/start) */
	B_ANY,	/* any JSON value (MMDS) */
};

struct route {
	const char *method;
	const char *path; /* '*' is the id segment */
	unsigned versions;
	enum phase phase;
	enum bodyk body;
	const struct sstruct *st151, *st116;
	const char *idfield; /* body field that must equal the path id */
	handler_fn *fn;
};

static const struct route routes[] = {
    {"GET", "/", VALL, PH_ANY, B_NONE, NULL, NULL, NULL, h_info},
    {"GET", "/version", VALL, PH_ANY, B_NONE, NULL, NULL, NULL, h_version},
    {"GET", "/vm/config", VALL, PH_ANY, B_NONE, NULL, NULL, NULL, h_vm_config},
    {"GET", "/machine-config", VALL, PH_ANY, B_NONE, NULL, NULL, NULL, h_get_machine},
    {"PUT", "/machine-config", VALL, PH_PRE, B_REQ, &st_mc151, &st_mc116, NULL, h_put_machine},
    {"PATCH", "/machine-config", VALL, PH_PRE, B_REQ, &st_mcu151, &st_mcu116, NULL, h_patch_machine},
    {"PUT", "/boot-source", VALL, PH_PRE, B_REQ, &st_boot, &st_boot, NULL, h_boot_source},
    {"PUT", "/cpu-config", VALL, PH_PRE, B_REQ, &st_cpu, &st_cpu, NULL, h_cpu_config},
    {"PUT", "/drives/*", VALL, PH_PRE_PCI, B_REQ, &st_drive151, &st_drive116, "drive_id", h_put_drive},
    {"PATCH", "/drives/*", VALL, PH_POST, B_REQ, &st_pdrive, &st_pdrive, "drive_id", h_patch_drive},
    {"DELETE", "/drives/*", V116, PH_POST, B_NONE, NULL, NULL, NULL, h_delete_pci},
    {"PUT", "/pmem/*", V116, PH_PRE_PCI, B_REQ, NULL, &st_pmem, "id", h_put_pmem},
    {"PATCH", "/pmem/*", V116, PH_POST, B_REQ, NULL, &st_ppmem, "id", h_patch_pmem},
    {"DELETE", "/pmem/*", V116, PH_POST, B_NONE, NULL, NULL, NULL, h_delete_pci},
    {"PUT", "/network-interfaces/*", VALL, PH_PRE_PCI, B_REQ, &st_net151, &st_net116, "iface_id", h_put_net},
    {"PATCH", "/network-interfaces/*", VALL, PH_POST, B_REQ, &st_pnet, &st_pnet, "iface_id", h_patch_net},
    {"DELETE", "/network-interfaces/*", V116, PH_POST, B_NONE, NULL, NULL, NULL, h_delete_pci},
    {"PUT", "/vsock", VALL, PH_PRE, B_REQ, &st_vsock, &st_vsock, NULL, h_vsock},
    {"PUT", "/balloon", VALL, PH_PRE, B_REQ, &st_balloon151, &st_balloon116, NULL, h_put_balloon},
    {"GET", "/balloon", VALL, PH_ANY, B_NONE, NULL, NULL, NULL, h_get_balloon},
    {"PATCH", "/balloon", VALL, PH_POST, B_REQ, &st_bupd, &st_bupd, NULL, h_patch_balloon},
    {"GET", "/balloon/statistics", VALL, PH_POST, B_NONE, NULL, NULL, NULL, h_balloon_stats},
    {"PATCH", "/balloon/statistics", VALL, PH_POST, B_REQ, &st_bstats, &st_bstats, NULL, h_patch_balloon_stats},
    {"PATCH", "/balloon/hinting/start", V116, PH_POST, B_OPT, NULL, &st_hint, NULL, h_hinting},
    {"GET", "/balloon/hinting/status", V116, PH_POST, B_NONE, NULL, NULL, NULL, h_hinting},
    {"PATCH", "/balloon/hinting/stop", V116, PH_POST, B_NONE, NULL, NULL, NULL, h_hinting},
    {"PUT", "/entropy", VALL, PH_PRE, B_REQ, &st_entropy, &st_entropy, NULL, h_entropy},
    {"PUT", "/serial", V116, PH_PRE, B_REQ, NULL, &st_serial, NULL, h_serial},
    {"PUT", "/logger", VALL, PH_PRE, B_REQ, &st_logger151, &st_logger116, NULL, h_logger},
    {"PUT", "/metrics", VALL, PH_PRE, B_REQ, &st_metrics, &st_metrics, NULL, h_metrics},
    {"PUT", "/mmds", VALL, PH_ANY, B_ANY, NULL, NULL, NULL, h_put_mmds},
    {"PATCH", "/mmds", VALL, PH_ANY, B_ANY, NULL, NULL, NULL, h_patch_mmds},
    {"GET", "/mmds", VALL, PH_ANY, B_NONE, NULL, NULL, NULL, h_get_mmds},
    {"PUT", "/mmds/config", VALL, PH_PRE, B_REQ, &st_mmdscfg151, &st_mmdscfg116, NULL, h_mmds_config},
    {"PUT", "/hotplug/memory", V116, PH_PRE, B_REQ, NULL, &st_hotplug, NULL, h_put_hotplug},
    {"PATCH", "/hotplug/memory", V116, PH_POST, B_REQ, NULL, &st_hotupd, NULL, h_hotplug_post},
    {"GET", "/hotplug/memory", V116, PH_POST, B_NONE, NULL, NULL, NULL, h_hotplug_post},
    {"PUT", "/actions", VALL, PH_ACTION, B_REQ, &st_action, &st_action, NULL, h_actions},
    {"PATCH", "/vm", VALL, PH_POST, B_REQ, &st_vm, &st_vm, NULL, h_patch_vm},
    {"PUT", "/snapshot/create", VALL, PH_POST, B_REQ, &st_snapc151, &st_snapc116, NULL, h_snap_create},
    {"PUT", "/snapshot/load", VALL, PH_PRE, B_REQ, &st_snapl151, &st_snapl116, NULL, h_snap_load},
};

/* Deprecated input: answered normally, plus a `Deprecation: true` header. */
static const struct {
	const char *route; /* "METHOD /path" of the route */
	const char *field;
	unsigned versions;
} deprecations[] = {
    {"PUT /vsock", "vsock_id", VALL},
    {"PUT /machine-config", "cpu_template", VALL},
    {"PATCH /machine-config", "cpu_template", VALL},
    {"PUT /snapshot/load", "mem_file_path", VALL},
    {"PUT /snapshot/load", "enable_diff_snapshots", VALL},
    {"PUT /snapshot/create", "version", V151},
};

static unsigned vbit(void)
{
	return v116() ? V116 : V151;
}

static bool is_deprecated(const struct route *rt, const struct jnode *body)
{
	char key[64];

	if (!body || body->t != JT_OBJ)
		return false;
	snprintf(key, sizeof key, "%s %s", rt->method, rt->path);
	if (strcmp(key, "PUT /mmds/config") == 0) {
		const char *v = jstr(body, "version");
		return !v || strcmp(v, "V1") == 0;
	}
	for (size_t i = 0; i < sizeof deprecations / sizeof deprecations[0]; i++)
		if ((deprecations[i].versions & vbit()) && strcmp(deprecations[i].route, key) == 0 &&
		    jget(body, deprecations[i].field))
			return true;
	return false;
}

/* Matches "/drives/x" against the pattern "/drives/{*}"; id gets "x" (or "" if absent). */
static bool path_match(const char *pattern, const char *path, char *id, size_t idsz)
{
	const char *star = strchr(pattern, '*');

	id[0] = '\0';
	if (!star) {
		size_t n = strlen(path);
		while (n > 1 && path[n - 1] == '/')
			n--;
		return strlen(pattern) == n && strncmp(pattern, path, n) == 0;
	}
	/* the id pattern also matches "/drives" and "/drives/" (empty id) */
	if (strncmp(path, pattern, (size_t)(star - pattern - 1)) != 0)
		return false;
	path += star - pattern - 1;
	if (*path == '\0')
		return true;
	if (*path != '/')
		return false;
	path++;
	snprintf(id, idsz, "%.*s", (int)strcspn(path, "/"), path);
	return true;
}

static bool valid_path_id(const char *id)
{
	const unsigned char *p = (const unsigned char *)id;

	for (; *p; p++)
		if (!(*p == '_' || *p >= 0x80 || (*p >= '0' && *p <= '9') ||
		      ((*p | 0x20) >= 'a' && (*p | 0x20) <= 'z')))
			return false;
	return true;
}

/* Everything firecracker's API thread checks before the VMM sees the request
 * (path, body, ids), then the VMM's phase rules, then the handler. */
static int api_dispatch(const char *method, const char *path, const char *body, size_t blen, struct resp *rs)
{
	const struct route *rt = NULL;
	const struct sstruct *st = NULL;
	struct jdoc doc = {0};
	struct sbuf err;
	struct req rq;
	char id[256];
	int rc;

	snap_write_kept();
	for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++)
		if ((routes[i].versions & vbit()) && strcmp(routes[i].method, method) == 0 &&
		    path_match(routes[i].path, path, id, sizeof id)) {
			rt = &routes[i];
			break;
		}
	if (strcmp(method, "GET") == 0 && blen > 0)
		return fault(rs, NULL, "GET request cannot have a body.");
	if (blen == 0 && (strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0) &&
	    !(rt && (rt->body == B_NONE || rt->body == B_OPT)))
		return fault(rs, NULL, "Empty %s request.", method);
	if (!rt) {
		const char *p = path + strspn(path, "/");
		return fault(rs, NULL, "Invalid request method and/or path: %s %.*s.", method, (int)strcspn(p, "/"), p);
	}
	if (rt->body == B_NONE && blen > 0)
		return fault(rs, NULL, "%s request cannot have a body.", method);
	if (strchr(rt->path, '*')) {
		if (!id[0])
			return fault(rs, NULL, "The ID cannot be empty.");
		if (!valid_path_id(id))
			return fault(rs, NULL,
				     "API Resource IDs can only contain alphanumeric characters and underscores.");
	}

	sb_init(&err);
	rq.method = method;
	rq.id = strchr(rt->path, '*') ? id : NULL;
	rq.body = NULL;
	rq.st = NULL;
	if (blen > 0) {
		st = v116() ? rt->st116 : rt->st151;
		if (jparse(&doc, body, blen, &err) < 0 || (st && sv_check(&doc, st, doc.root, &err) < 0)) {
			rs->deprecated = doc.root && is_deprecated(rt, doc.root);
			rc = fault(rs, NULL, "An error occurred when deserializing the json body of a request: %s.",
				   err.s);
			goto out;
		}
		rq.body = doc.root;
		rq.st = st;
		rs->deprecated = is_deprecated(rt, doc.root);
	}
	/* request-level checks of individual parsers */
	if (rt->idfield && strcmp(jstr(rq.body, rt->idfield), id) != 0) {
		if (strcmp(rt->idfield, "iface_id") == 0)
			rc = fault(rs, NULL, "The id from the path [%s] does not match the id from the body [%s]!", id,
				   jstr(rq.body, rt->idfield));
		else
			rc = fault(rs, NULL, "The id from the path does not match the id from the body!");
		goto out;
	}
	if (rt->fn == h_patch_machine && rq.body->n == 0) {
		rc = fault(rs, NULL, "Empty PATCH request.");
		goto out;
	}
	if (rt->fn == h_patch_drive && !jhas(rq.body, "path_on_host") && !jhas(rq.body, "rate_limiter")) {
		rc = fault(rs, NULL, "Please specify at least one property to patch: path_on_host, rate_limiter.");
		goto out;
	}
	if (rt->fn == h_snap_load && jhas(rq.body, "mem_backend") == jhas(rq.body, "mem_file_path")) {
		rc = fault(rs, NULL, "An error occurred when deserializing the json body of a request: %s.",
			   jhas(rq.body, "mem_backend")
			       ? "too many fields: either `mem_backend` or `mem_file_path` exclusively is required"
			       : "missing field: either `mem_backend` or `mem_file_path` is required");
		goto out;
	}
	if (rt->fn == h_put_net && v116() && jhas(rq.body, "mtu") && ju64(rq.body, "mtu", 0) < 68) {
		rc = fault(rs, NULL,
			   "An error occurred when deserializing the json body of a request: invalid value: mtu must "
			   "be between 68 and 65535.");
		goto out;
	}

	rc = -1;
	switch (rt->phase) {
	case PH_ANY:
	case PH_ACTION:
		break;
	case PH_PRE:
		if (S.booted)
			goto post;
		break;
	case PH_PRE_PCI:
		if (S.booted) {
			if (v116()) {
				fault(rs, NULL, "PCI is not enabled");
				goto out;
			}
			goto post;
		}
		break;
	case PH_POST:
		if (!S.booted) {
			fault(rs, NULL, "%s", not_pre);
			goto out;
		}
		break;
	}
	rs->status = 204;
	rc = rt->fn(&rq, rs);
	goto out;
post:
	fault(rs, NULL, "%s", not_post);
out:
	jdoc_free(&doc);
	sb_free(&err);
	return rc;
}

/* ================================================================== HTTP */

struct conn {
	int fd;
	struct sbuf in;
	size_t discard; /* body bytes of a rejected request still to drop */
	bool hung;	/* FAKE_FC_HANG_AT: never answered again */
	bool continued; /* 100 Continue sent for the pending request */
};

static struct conn conns[MAX_CONNS];
/* ======================================================= the guest console */

/* What a guest does on the serial console (Firecracker's stdin and stdout),
 * from InstanceStart on. FAKE_FC_GUEST_OUTPUT=BYTES: the guest writes BYTES
 * of numbered 80-byte lines ("guest line 00000042 xxx...\r\n") and then
 * "guest output done\r\n"; FAKE_FC_GUEST_STREAM=1: it never stops writing
 * lines. Bytes that come on stdin are echoed, as a guest's shell does.
 * Output goes out when poll says stdout takes it: a stdout that is full and
 * non-blocking delays it (the API still answers), one that is full and
 * blocking stalls the whole VMM, as it stalls a real vCPU. */
static struct {
	struct sbuf out; /* queued, not written yet */
	size_t off;
	size_t left; /* lines still to generate, in bytes */
	bool stream, done_said, stdin_closed;
	unsigned long line;
} G;

static void guest_start(void)
{
	const char *v = getenv("FAKE_FC_GUEST_OUTPUT");

	sb_init(&G.out);
	G.left = v && *v ? strtoul(v, NULL, 10) : 0;
	G.stream = env_true("FAKE_FC_GUEST_STREAM");
	G.done_said = !G.left && !G.stream;
}

/* Keeps about 64 KiB queued while there are lines to write. */
static void guest_generate(void)
{
	while (G.out.len - G.off < 65536 && (G.left || G.stream)) {
		char line[96];
		int n = snprintf(line, sizeof line, "guest line %08lu %s\r\n", G.line++,
				 "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx");
		size_t len = (size_t)n > 80 ? 80 : (size_t)n;
		if (!G.stream && len > G.left)
			len = G.left;
		line[len - 2] = '\r';
		line[len - 1] = '\n';
		sb_putn(&G.out, line, len);
		if (!G.stream)
			G.left -= len;
	}
	if (!G.left && !G.stream && !G.done_said) {
		sb_puts(&G.out, "guest output done\r\n");
		G.done_said = true;
	}
}

static bool guest_has_output(void)
{
	if (!S.booted)
		return false;
	guest_generate();
	return G.off < G.out.len;
}

static void guest_write(void)
{
	ssize_t n = write(STDOUT_FILENO, G.out.s + G.off, G.out.len - G.off);

	if (n < 0) {
		/* EAGAIN: wait for the next POLLOUT; anything else (EIO: nobody
		 * holds the console's other end) loses the output, as on a real
		 * serial port nobody listens to */
		if (errno != EAGAIN && errno != EINTR)
			G.off = G.out.len;
	} else {
		G.off += (size_t)n;
	}
	if (G.off == G.out.len) {
		sb_reset(&G.out);
		G.off = 0;
	}
}

static bool guest_reads(void)
{
	return S.booted && !G.stdin_closed;
}

static void guest_read(void)
{
	char buf[4096];
	ssize_t n = read(STDIN_FILENO, buf, sizeof buf);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		G.stdin_closed = true;
		return;
	}
	sb_putn(&G.out, buf, (size_t)n);
}

static void conn_close(struct conn *c);

static void http_send(int fd, int status, const char *body, bool deprecated)
{
	struct sbuf b;

	sb_init(&b);
	sb_printf(&b, "HTTP/1.1 %d \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n", status);
	if (deprecated)
		sb_puts(&b, "Deprecation: true\r\n");
	if (body)
		sb_printf(&b, "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s", strlen(body), body);
	else
		sb_puts(&b, "\r\n");
	(void)fk_write_all(fd, b.s, b.len);
	sb_free(&b);
}

/* micro_http's own errors: {"error": ...}, the pending requests dropped */
static void http_error(struct conn *c, int status, const char *msg)
{
	struct sbuf b;

	sb_init(&b);
	sb_puts(&b, "{ \"error\": ");
	sb_json_str(&b, msg);
	sb_puts(&b, " }");
	http_send(c->fd, status, b.s, false);
	sb_free(&b);
	sb_reset(&c->in);
}

static void reqlog(const char *method, const char *path, cJSON *body, int status)
{
	cJSON *o = cJSON_CreateObject();
	char *s;

	cJSON_AddStringToObject(o, "method", method);
	cJSON_AddStringToObject(o, "path", path);
	cJSON_AddItemToObject(o, "body", body ? body : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "status", status ? cJSON_CreateNumber(status) : cJSON_CreateNull());
	s = cJSON_PrintUnformatted(o);
	if (S.reqlog_fd >= 0) {
		struct sbuf b;
		sb_init(&b);
		sb_puts(&b, s);
		sb_putc(&b, '\n');
		(void)fk_write_all(S.reqlog_fd, b.s, b.len);
		sb_free(&b);
	}
	free(s);
	cJSON_Delete(o);
}

/* FAKE_FC_{FAIL,FAIL_EXIT,CRASH,HANG,DROP}_AT: comma-separated "METHOD /path"
 * or "PUT /actions:<action_type>". FAIL answers 400; FAIL_EXIT answers 400 and
 * exits 1 (as a failed snapshot load does); CRASH aborts; HANG never answers;
 * DROP closes the connection without an answer and goes on serving. Each logs
 * the request (FAKE_FC_REQUEST_LOG) every time it arrives, so a client that
 * re-sends one shows up twice. */
static const char *fault_match(const char *var, const char *key, const char *key2)
{
	const char *v = getenv(var);
	static char hit[512];

	if (!v || !*v)
		return NULL;
	while (*v) {
		size_t n = strcspn(v, ",");
		if ((strlen(key) == n && strncmp(v, key, n) == 0) ||
		    (key2 && strlen(key2) == n && strncmp(v, key2, n) == 0)) {
			snprintf(hit, sizeof hit, "%.*s", (int)n, v);
			return hit;
		}
		v += n + (v[n] == ',');
	}
	return NULL;
}

/* micro_http writes an answer from its event loop. When the VMM exits (a failed
 * snapshot load) while the API thread already holds the next pipelined request,
 * the answer to the failed one is never written: real 1.5.1 lost a snapshot
 * load's 400 that way in 3 of 8 tries. Here a request that is already read, or
 * arrives within 20 ms, counts as held, every time. */
static bool next_request_held(struct conn *c)
{
	struct pollfd p = {.fd = c->fd, .events = POLLIN};

	return c->in.len > 0 || poll(&p, 1, 20) > 0;
}

static void handle_request(struct conn *c, const char *method, const char *target, const char *body, size_t blen)
{
	char path[2048], key[2100], key2[2200];
	cJSON *logged = NULL;
	struct resp rs = {0};
	const char *hit;
	bool exit_after = false;

	snprintf(path, sizeof path, "%.*s", (int)strcspn(target, "?"), target);
	{
		struct sbuf d;
		sb_init(&d);
		sb_rust_debug_str(&d, path);
		fc_log(3, "The API server received a %c%s request on %s%s%.*s%s.", method[0],
		       strcmp(method, "GET") == 0     ? "et"
		       : strcmp(method, "PUT") == 0   ? "ut"
		       : strcmp(method, "PATCH") == 0 ? "atch"
						      : "elete",
		       d.s, blen ? " with body \"" : "", (int)blen, blen ? body : "", blen ? "\"" : "");
		sb_free(&d);
	}
	snprintf(key, sizeof key, "%s %s", method, path);
	key2[0] = '\0';
	if (blen) {
		struct jdoc doc = {0};
		struct sbuf e;
		sb_init(&e);
		if (jparse(&doc, body, blen, &e) == 0) {
			logged = jnode_to_cjson(doc.root);
			if (jstr(doc.root, "action_type"))
				snprintf(key2, sizeof key2, "%s:%s", key, jstr(doc.root, "action_type"));
		}
		jdoc_free(&doc);
		sb_free(&e);
	}
	if ((hit = fault_match("FAKE_FC_CRASH_AT", key, key2[0] ? key2 : NULL))) {
		reqlog(method, path, logged, 0);
		fprintf(stderr, "fake firecracker: crashing at %s as asked\n", hit);
		abort();
	}
	if ((hit = fault_match("FAKE_FC_HANG_AT", key, key2[0] ? key2 : NULL))) {
		reqlog(method, path, logged, 0);
		c->hung = true;
		return;
	}
	if ((hit = fault_match("FAKE_FC_DROP_AT", key, key2[0] ? key2 : NULL))) {
		reqlog(method, path, logged, 0);
		fprintf(stderr, "fake firecracker: dropping the connection at %s as asked\n", hit);
		conn_close(c);
		return;
	}
	sb_init(&rs.body);
	if ((hit = fault_match("FAKE_FC_FAIL_AT", key, key2[0] ? key2 : NULL)))
		fault(&rs, NULL, "injected failure at %s", hit);
	else if ((hit = fault_match("FAKE_FC_FAIL_EXIT_AT", key, key2[0] ? key2 : NULL))) {
		fault(&rs, NULL, "injected failure at %s", hit);
		exit_after = true;
	} else
		api_dispatch(method, path, body, blen, &rs);
	if (rs.status == 204)
		fc_log(3, "The request was executed successfully. Status code: 204 No Content.");
	if ((exit_after || S.exit_after_reply) && next_request_held(c))
		fprintf(stderr, "fake firecracker: exiting with a pipelined request in hand: the answer is lost\n");
	else
		http_send(c->fd, rs.status, rs.status == 204 ? NULL : rs.body.s, rs.deprecated);
	reqlog(method, path, logged, rs.status);
	sb_free(&rs.body);
	if (exit_after) {
		fprintf(stderr, "fake firecracker: exiting after the failure at %s as asked\n", hit);
		exit_vmm(1);
	}
	if (S.exit_after_reply) {
		fc_log(1, "RunWithApiError error: Failed to build MicroVM: Loading snapshot failed..");
		fprintf(stderr, "Error: RunWithApi(BuildMicroVMError(\"Loading snapshot failed\"))\n");
		exit_vmm(1);
	}
}

static const char *header(const char *hdrs, const char *name, char *out, size_t outsz)
{
	size_t n = strlen(name);

	for (const char *l = hdrs; l && *l; l = strstr(l, "\r\n") ? strstr(l, "\r\n") + 2 : NULL) {
		if (strncasecmp(l, name, n) == 0 && l[n] == ':') {
			const char *v = l + n + 1;
			v += strspn(v, " \t");
			snprintf(out, outsz, "%.*s", (int)strcspn(v, "\r\n"), v);
			return out;
		}
	}
	return NULL;
}

/* Processes every complete request in c->in. */
static void http_process(struct conn *c)
{
	while (!c->hung && c->in.len > 0) {
		char *end = strstr(c->in.s, "\r\n\r\n");
		char method[16], target[2048], vers[16], val[64], clen_val[64], expect_val[64];
		const char *hdrs;
		size_t hlen, clen = 0;
		bool chunked, has_clen, expect;
		char saved;

		if (!end)
			return;
		hlen = (size_t)(end - c->in.s) + 4;
		if (sscanf(c->in.s, "%15s %2047s %15s", method, target, vers) != 3 ||
		    strncmp(vers, "HTTP/1.", 7) != 0) {
			http_error(c, 400, "Invalid request.\nAll previous unanswered requests will be dropped.");
			return;
		}
		if (!(strcmp(method, "GET") == 0 || strcmp(method, "PUT") == 0 || strcmp(method, "PATCH") == 0 ||
		      (v116() && strcmp(method, "DELETE") == 0))) {
			http_error(c, 400,
				   "Invalid HTTP Method: Unsupported HTTP method.\nAll previous unanswered requests "
				   "will be dropped.");
			return;
		}
		hdrs = strstr(c->in.s, "\r\n") + 2;
		/* Only this request's headers: a pipelined one may follow in the buffer. */
		saved = end[2];
		end[2] = '\0';
		chunked = header(hdrs, "Transfer-Encoding", val, sizeof val) && strcasestr(val, "chunked");
		has_clen = header(hdrs, "Content-Length", clen_val, sizeof clen_val) != NULL;
		expect = header(hdrs, "Expect", expect_val, sizeof expect_val) != NULL;
		end[2] = saved;
		if (chunked) {
			http_error(c, 400, "Invalid request.\nAll previous unanswered requests will be dropped.");
			return;
		}
		if (has_clen) {
			uint64_t v;
			if (!fk_parse_u64(clen_val, &v)) {
				http_error(c, 400,
					   "Invalid request.\nAll previous unanswered requests will be dropped.");
				return;
			}
			clen = (size_t)v;
		}
		if (clen > S.payload_limit) {
			char msg[256];
			size_t have = c->in.len - hlen;
			snprintf(msg, sizeof msg,
				 "Request payload with size %zu is larger than the limit of %zu allowed by "
				 "server.\nAll previous unanswered requests will be dropped.",
				 clen, S.payload_limit);
			http_error(c, 400, msg);
			c->discard = clen > have ? clen - have : 0;
			return;
		}
		if (c->in.len < hlen + clen) {
			if (!c->continued && expect && strcasecmp(expect_val, "100-continue") == 0) {
				static const char cont[] =
				    "HTTP/1.1 100 \r\nServer: Firecracker API\r\nConnection: keep-alive\r\n\r\n";
				(void)fk_write_all(c->fd, cont, sizeof cont - 1);
				c->continued = true;
			}
			return;
		}
		{
			char *body = fk_xmalloc(clen + 1);
			memcpy(body, c->in.s + hlen, clen);
			body[clen] = '\0';
			memmove(c->in.s, c->in.s + hlen + clen, c->in.len - hlen - clen + 1);
			c->in.len -= hlen + clen;
			c->continued = false;
			handle_request(c, method, target, body, clen);
			free(body);
		}
	}
}

static void conn_close(struct conn *c)
{
	close(c->fd);
	sb_free(&c->in);
	memset(c, 0, sizeof *c);
	c->fd = -1;
}

static void conn_read(struct conn *c)
{
	char buf[65536];
	ssize_t n = read(c->fd, buf, sizeof buf);

	if (n <= 0) {
		if (n < 0 && errno == EINTR)
			return;
		conn_close(c);
		return;
	}
	if (c->hung)
		return;
	{
		size_t off = 0;
		if (c->discard) {
			off = (size_t)n < c->discard ? (size_t)n : c->discard;
			c->discard -= off;
		}
		sb_putn(&c->in, buf + off, (size_t)n - off);
	}
	http_process(c);
}

static void serve(int lfd)
{
	guest_start();
	for (int i = 0; i < MAX_CONNS; i++)
		conns[i].fd = -1;
	for (;;) {
		struct pollfd pfd[MAX_CONNS + 3];
		int map[MAX_CONNS + 3], n = 0, timeout = -1;

		if (S.exit_at_ms) {
			uint64_t now = now_ms();
			if (now >= S.exit_at_ms) {
				fc_log(3, "Received KVM_EXIT_IO: guest reset through the i8042 keyboard controller.");
				exit_vmm(0);
			}
			timeout = (int)(S.exit_at_ms - now);
		}
		if (lfd >= 0) {
			pfd[n].fd = lfd;
			pfd[n].events = POLLIN;
			map[n++] = -1;
		}
		if (guest_has_output()) {
			pfd[n].fd = STDOUT_FILENO;
			pfd[n].events = POLLOUT;
			map[n++] = -2;
		}
		if (guest_reads()) {
			pfd[n].fd = STDIN_FILENO;
			pfd[n].events = POLLIN;
			map[n++] = -3;
		}
		for (int i = 0; i < MAX_CONNS; i++)
			if (conns[i].fd >= 0) {
				pfd[n].fd = conns[i].fd;
				pfd[n].events = POLLIN;
				map[n++] = i;
			}
		if (poll(pfd, (nfds_t)n, timeout) < 0) {
			if (errno == EINTR)
				continue;
			die_error(1, "poll: %s", io_err(errno));
		}
		for (int k = 0; k < n; k++) {
			if (!(pfd[k].revents & (POLLIN | POLLOUT | POLLHUP | POLLERR)))
				continue;
			if (map[k] == -2) {
				guest_write();
			} else if (map[k] == -3) {
				guest_read();
			} else if (map[k] < 0) {
				int cfd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
				int slot = -1;
				if (cfd < 0)
					continue;
				for (int i = 0; i < MAX_CONNS && slot < 0; i++)
					if (conns[i].fd < 0)
						slot = i;
				if (slot < 0) {
					http_send(cfd, 503, "{ \"error\": \"Too many open connections\" }", false);
					close(cfd);
					continue;
				}
				conns[slot].fd = cfd;
				sb_init(&conns[slot].in);
			} else if (conns[map[k]].fd >= 0) {
				conn_read(&conns[map[k]]);
			}
		}
	}
}

/* ========================================================== config file */

static char *read_all(const char *path, size_t *len)
{
	struct sbuf b;
	char buf[65536];
	ssize_t n;
	int fd = root_open(path, O_RDONLY, 0);

	if (fd < 0)
		return NULL;
	sb_init(&b);
	sb_putn(&b, "", 0);
	while ((n = read(fd, buf, sizeof buf)) > 0)
		sb_putn(&b, buf, (size_t)n);
	close(fd);
	*len = b.len;
	return sb_steal(&b);
}

static void apply(handler_fn *fn, const struct sstruct *st, const struct jnode *v, const char *idfield)
{
	struct resp rs = {0};
	struct req rq = {"PUT", idfield ? jstr(v, idfield) : NULL, v, st};

	if (!v || v->t == JT_NULL)
		return;
	sb_init(&rs.body);
	if (fn(&rq, &rs) < 0) {
		cJSON *j = cJSON_Parse(rs.body.s);
		die_error(1, "Configuration for VMM from one single json failed: %s",
			  cstr(j, "fault_message") ? cstr(j, "fault_message") : rs.body.s);
	}
	sb_free(&rs.body);
}

static void apply_each(handler_fn *fn, const struct sstruct *st, const struct jnode *arr, const char *idfield)
{
	for (size_t k = 0; arr && arr->t == JT_ARR && k < arr->n; k++)
		apply(fn, st, arr->kids[k], idfield);
}

/* --config-file, in the order of Firecracker's VmResources::from_json. */
static void boot_from_json(const char *path, const char *metadata)
{
	bool n = v116();
	struct jdoc doc = {0}, mdoc = {0};
	struct sbuf err;
	size_t len;
	char *text = read_all(path, &len);
	const struct jnode *r;
	struct resp rs = {0};

	if (!text) {
		fprintf(stderr, "thread 'main' panicked at 'Unable to open or read from the configuration file: %s'\n",
			io_err(errno));
		abort();
	}
	sb_init(&err);
	if (jparse(&doc, text, len, &err) < 0 || sv_check(&doc, n ? &st_vmm116 : &st_vmm151, doc.root, &err) < 0)
		die_error(1, "Configuration for VMM from one single json failed: Invalid JSON: %s", err.s);
	r = doc.root;
	apply(h_logger, n ? &st_logger116 : &st_logger151, jget(r, "logger"), NULL);
	apply(h_metrics, &st_metrics, jget(r, "metrics"), NULL);
	apply(h_put_machine, n ? &st_mc116 : &st_mc151, jget(r, "machine-config"), NULL);
	if (jhas(r, "cpu-config")) {
		const struct jnode *c = jget(r, "cpu-config");
		if (c->t == JT_STR) {
			size_t clen;
			char *t = read_all(c->s, &clen);
			if (!t)
				die_error(1,
					  "Configuration for VMM from one single json failed: Unable to open the CPU "
					  "template file: %s",
					  io_err(errno));
			set_item(&S.cpu_config, cJSON_Parse(t));
			free(t);
		} else {
			set_item(&S.cpu_config, jnode_to_cjson(c));
		}
	}
	apply(h_boot_source, &st_boot, jget(r, "boot-source"), NULL);
	apply_each(h_put_drive, n ? &st_drive116 : &st_drive151, jget(r, "drives"), "drive_id");
	apply_each(h_put_net, n ? &st_net116 : &st_net151, jget(r, "network-interfaces"), "iface_id");
	apply(h_vsock, &st_vsock, jget(r, "vsock"), NULL);
	apply(h_put_balloon, n ? &st_balloon116 : &st_balloon151, jget(r, "balloon"), NULL);
	if (metadata) {
		size_t mlen;
		char *m = read_all(metadata, &mlen);
		if (!m) {
			fprintf(stderr,
				"thread 'main' panicked at 'Unable to open or read from the mmds content file'\n");
			abort();
		}
		sb_reset(&err);
		if (jparse(&mdoc, m, mlen, &err) < 0)
			die_error(1, "Configuration for VMM from one single json failed: Invalid MMDS data: %s", err.s);
		sb_init(&rs.body);
		if (h_put_mmds(&(struct req){"PUT", NULL, mdoc.root, NULL}, &rs) < 0)
			die_error(1, "Configuration for VMM from one single json failed: %s", rs.body.s);
		sb_free(&rs.body);
		jdoc_free(&mdoc);
		free(m);
	}
	apply(h_mmds_config, n ? &st_mmdscfg116 : &st_mmdscfg151, jget(r, "mmds-config"), NULL);
	apply(h_entropy, &st_entropy, jget(r, "entropy"), NULL);
	if (n) {
		apply_each(h_put_pmem, &st_pmem, jget(r, "pmem"), "id");
		apply(h_put_hotplug, &st_hotplug, jget(r, "memory-hotplug"), NULL);
	}
	sb_init(&rs.body);
	{
		static const char start[] = "{\"action_type\":\"InstanceStart\"}";
		struct jdoc sd = {0};
		if (jparse(&sd, start, strlen(start), &err) < 0 ||
		    h_actions(&(struct req){"PUT", NULL, sd.root, &st_action}, &rs) < 0)
			die_error(1, "Configuration for VMM from one single json failed: %s", rs.body.s);
		jdoc_free(&sd);
	}
	sb_free(&rs.body);
	sb_free(&err);
	jdoc_free(&doc);
	free(text);
	fc_log(3, "Successfully started microvm that was configured from one single json");
}

/* ================================================================= main */

static bool parse_size(struct fk_args *a, const char *name, size_t *out)
{
	const char *v = fk_args_value(a, name);
	uint64_t n;

	if (!v)
		return false;
	if (!fk_parse_u64(v, &n)) {
		fprintf(stderr,
			"thread 'main' panicked at ''%s' parameter expected to be of 'usize' type.: ParseIntError { "
			"kind: InvalidDigit }'\n",
			name);
		abort();
	}
	*out = (size_t)n;
	return true;
}

int main(int argc, char **argv)
{
	char payload_def[32];
	struct fk_arg args[] = {
	    {.name = "api-sock",
	     .takes_value = true,
	     .def = "/run/firecracker.socket",
	     .help = "Path to unix domain socket used by the API."},
	    {.name = "id", .takes_value = true, .def = "anonymous-instance", .help = "MicroVM unique identifier."},
	    {.name = "seccomp-filter",
	     .takes_value = true,
	     .forbids = "no-seccomp",
	     .help =
		 "Optional parameter which allows specifying the path to a custom seccomp filter. For advanced users."},
	    {.name = "no-seccomp",
	     .forbids = "seccomp-filter",
	     .help = "Optional parameter which allows starting and using a microVM without seccomp filtering. Not "
		     "recommended."},
	    {.name = "start-time-us",
	     .takes_value = true,
	     .help = "Process start time (wall clock, microseconds). This parameter is optional."},
	    {.name = "start-time-cpu-us",
	     .takes_value = true,
	     .help = "Process start CPU time (wall clock, microseconds). This parameter is optional."},
	    {.name = "parent-cpu-time-us",
	     .takes_value = true,
	     .help = "Parent process CPU time (wall clock, microseconds). This parameter is optional."},
	    {.name = "config-file",
	     .takes_value = true,
	     .help = "Path to a file that contains the microVM configuration in JSON format."},
	    {.name = "metadata",
	     .takes_value = true,
	     .help = "Path to a file that contains metadata in JSON format to add to the mmds."},
	    {.name = "no-api",
	     .requires = "config-file",
	     .help = "Optional parameter which allows starting and using a microVM without an active API socket."},
	    {.name = "log-path",
	     .takes_value = true,
	     .help = "Path to a fifo or a file used for configuring the logger on startup."},
	    {.name = "level", .takes_value = true, .help = "Set the logger level."},
	    {.name = "show-level", .help = "Whether or not to output the level in the logs."},
	    {.name = "show-log-origin",
	     .help = "Whether or not to include the file path and line number of the log's origin."},
	    {.name = "metrics-path",
	     .takes_value = true,
	     .help = "Path to a fifo or a file used for configuring the metrics on startup."},
	    {.name = "boot-timer",
	     .help = "Whether or not to load boot timer device for logging elapsed time since InstanceStart command."},
	    {.name = "version", .help = "Print the binary version number."},
	    {.name = "describe-snapshot",
	     .takes_value = true,
	     .help = "Print the data format version of the provided snapshot state file."},
	    {.name = "http-api-max-payload-size",
	     .takes_value = true,
	     .def = payload_def,
	     .help = "Http API request payload max size, in bytes."},
	    {.name = "mmds-size-limit", .takes_value = true, .help = "Mmds data store limit, in bytes."},
	    /* 1.16 only (the table is cut before these for 1.5.1) */
	    {.name = "module", .takes_value = true, .help = "Set the logger module filter."},
	    {.name = "enable-pci", .help = "Enables PCIe support."},
	    {.name = "snapshot-version", .help = "Print the supported data format version."},
	};
	struct fk_args a = {.args = args, .nargs = sizeof args / sizeof args[0]};
	struct sbuf disp, dbg;
	const char *v;
	int lfd = -1;

	signal(SIGPIPE, SIG_IGN);
	if (env_true("FAKE_FC_IGNORE_SIGTERM")) {
		signal(SIGTERM, SIG_IGN);
		signal(SIGINT, SIG_IGN);
	}
	S.ver = fk_version_from_env(&S.vstr);
	S.rootfd = S.log_fd = S.metrics_fd = S.reqlog_fd = -1;
	S.log_level = 3;
	S.payload_limit = 51200;
	snprintf(payload_def, sizeof payload_def, "%zu", S.payload_limit);
	if (!v116())
		a.nargs -= 3;

	sb_init(&disp);
	sb_init(&dbg);
	if (fk_args_parse(&a, argc, argv, v116(), &disp, &dbg) < 0) {
		fprintf(stderr, "Arguments parsing error: %s \n\nFor more information try --help.\n", disp.s);
		exit(153);
	}
	if (a.help) {
		struct sbuf h;
		sb_init(&h);
		fk_args_help(&a, &h);
		printf("Firecracker v%s\n\n%s\n", S.vstr, h.s);
		return 0;
	}
	if (a.version) {
		if (v116())
			printf("Firecracker v%s\n", S.vstr);
		else
			printf("Firecracker v%s\n\nSupported snapshot data format versions: v0.23.0, v0.24.0, v0.25.0, "
			       "v1.0.0, v1.1.0, v1.2.0, v1.3.0, v1.4.0, v1.5.0\n",
			       S.vstr);
		return 0;
	}
	if (a.nextra) {
		fprintf(stderr,
			"Arguments parsing error: Found argument '%s' which wasn't expected, or isn't valid in this "
			"context. \n\nFor more information try --help.\n",
			a.extra[0]);
		exit(153);
	}
	S.id = fk_args_value(&a, "id");
	sb_reset(&disp);
	sb_reset(&dbg);
	if (fk_validate_instance_id(S.id, &disp, &dbg) < 0) {
		fprintf(stderr, "thread 'main' panicked at 'Invalid instance ID: %s', src/firecracker/src/main.rs\n",
			dbg.s);
		abort();
	}

	if ((v = getenv("FAKE_FIRECRACKER_ROOT")) && *v) {
		S.rootfd = open(v, O_PATH | O_DIRECTORY | O_CLOEXEC);
		/* the jailer starts us in the jail root, whose host path may not be
		 * searchable by our uid */
		if (S.rootfd < 0 && errno == EACCES)
			S.rootfd = open(".", O_PATH | O_DIRECTORY | O_CLOEXEC);
		if (S.rootfd < 0) {
			fprintf(stderr, "fake firecracker: FAKE_FIRECRACKER_ROOT %s: %s\n", v, strerror(errno));
			exit(2);
		}
	}
	if ((v = getenv("FAKE_FC_REQUEST_LOG")) && *v) {
		S.reqlog_fd = open(v, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (S.reqlog_fd < 0) {
			fprintf(stderr, "fake firecracker: FAKE_FC_REQUEST_LOG %s: %s\n", v, strerror(errno));
			exit(2);
		}
	}

	/* logger from the command line */
	if ((v = fk_args_value(&a, "level"))) {
		if (level_of(v) < 0) {
			fprintf(stderr, "Error: InvalidLogLevel(LevelFilterFromStrError(\"%s\"))\n", v);
			exit(152);
		}
		S.log_level = level_of(v);
	}
	S.show_level = fk_args_flag(&a, "show-level");
	S.show_origin = fk_args_flag(&a, "show-log-origin");
	if ((v = fk_args_value(&a, "log-path"))) {
		S.log_fd = open_output(v);
		if (S.log_fd < 0) {
			fprintf(stderr, "Error: LoggerInitialization(%s)\n", io_err(errno));
			exit(1);
		}
	}
	fc_log(3, "Running Firecracker v%s", S.vstr);
	if ((v = fk_args_value(&a, "metrics-path"))) {
		S.metrics_fd = open_output(v);
		if (S.metrics_fd < 0)
			die_error(1, "MetricsInitialization(InitializationFailure(\"%s\"))", io_err(errno));
		S.metrics = cJSON_CreateObject();
		cJSON_AddStringToObject(S.metrics, "metrics_path", v);
	}
	if ((v = fk_args_value(&a, "seccomp-filter"))) {
		int fd = root_open(v, O_RDONLY, 0);
		if (fd < 0)
			die_error(1, "SeccompFilter(FileOpen(%s))", io_err(errno));
		close(fd);
	}
	parse_size(&a, "http-api-max-payload-size", &S.payload_limit);
	S.mmds_limit = S.payload_limit;
	parse_size(&a, "mmds-size-limit", &S.mmds_limit);

	S.machine = cJSON_Parse(v116() ? "{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":false,\"cpu_template\":null,"
					 "\"track_dirty_pages\":false,\"huge_pages\":\"None\"}"
				       : "{\"vcpu_count\":1,\"mem_size_mib\":128,\"smt\":false,\"cpu_template\":null,"
					 "\"track_dirty_pages\":false}");
	S.drives = cJSON_CreateArray();
	S.nets = cJSON_CreateArray();
	S.pmems = cJSON_CreateArray();

	if ((v = getenv("FAKE_FC_EXIT_AT_START")) && *v) {
		fprintf(stderr, "fake firecracker: exiting at start as asked\n");
		exit(atoi(v));
	}

	if (!fk_args_flag(&a, "no-api")) {
		const char *sock = fk_args_value(&a, "api-sock");
		if ((v = getenv("FAKE_FC_SOCKET_DELAY_MS")) && *v) {
			struct timespec ts = {atoi(v) / 1000, (long)(atoi(v) % 1000) * 1000000L};
			while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
				;
		}
		lfd = root_listen(sock, 16);
		if (lfd < 0)
			die_error(1, "Failed to open the API socket at: %s. Check that it is not already used.", sock);
	}
	if ((v = fk_args_value(&a, "config-file")))
		boot_from_json(v, fk_args_value(&a, "metadata"));
	else if ((v = fk_args_value(&a, "metadata"))) {
		size_t mlen;
		char *m = read_all(v, &mlen);
		if (!m || !(S.mmds = cJSON_ParseWithLength(m, mlen))) {
			fprintf(stderr,
				"thread 'main' panicked at 'Unable to open or read from the mmds content file'\n");
			abort();
		}
		free(m);
	}
	sb_free(&disp);
	sb_free(&dbg);
	if (lfd < 0) {
		/* --no-api: nothing to serve; a signal or a guest reboot ends it */
		for (;;)
			pause();
	}
	serve(lfd);
	return 0;
}
