/* SPDX-License-Identifier: Apache-2.0 */
/* The resolved model of one microVM: what validate proved, with defaults applied,
   ${VAR} expanded, host paths made absolute and every derived name decided, so
   that lowering, render and the interpreter never re-derive anything. */
#ifndef FIREC_MODEL_H
#define FIREC_MODEL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>
#include <cjson/cJSON.h>

#include "diag.h"
#include "doc.h"
#include "error.h"

enum firec_staging_mode
{
  FIREC_STAGING_AUTO,
  FIREC_STAGING_LINK,
  FIREC_STAGING_REFLINK,
  FIREC_STAGING_COPY,
};

/* What a file in the VM's root is for; decides its place in the jail and its undo. */
enum firec_file_role
{
  FIREC_FILE_KERNEL,
  FIREC_FILE_INITRD,
  FIREC_FILE_DRIVE,
  FIREC_FILE_PMEM,
  FIREC_FILE_SECCOMP,
  FIREC_FILE_SNAPSHOT_STATE,
  FIREC_FILE_SNAPSHOT_MEMORY,
  FIREC_FILE_UFFD_SOCKET, /* a page-fault handler's socket: linked or bind-mounted, for Firecracker to connect to */
  FIREC_FILE_LOG,         /* output: created on the host, then staged like a read-write drive */
  FIREC_FILE_METRICS,     /* output */
  FIREC_FILE_SERIAL,      /* output */
};

struct firec_file
{
  enum firec_file_role role;
  char *id;        /* drive_id / pmem id; NULL for single files */
  char *step_id;   /* "stage.kernel", "stage.drive.rootfs" */
  char *host_path; /* absolute */
  char *vm_path;   /* the path Firecracker is given: inside the jail, or the host path without it */
  char *pointer;   /* JSON pointer of the field in the manifest, e.g. /spec/drives/0/path_on_host */
  char *where;     /* "vm.yaml:14:21: /spec/drives/0/path_on_host", for errors about the file */
  enum firec_staging_mode mode;
  bool writable; /* the guest (or Firecracker) writes it: writes must reach host_path */
  bool output;   /* Firecracker creates/writes it: firec-run creates it on the host first */
};

/* A host file firec-run reads itself, as data, when it builds the plan (the MMDS
   data file, a cpu-config file): never staged. */
struct firec_data_file
{
  char *host_path; /* absolute; NULL when the manifest names none */
  char *pointer;   /* /spec/mmds/data_file */
  char *where;     /* "vm.yaml:14:21: /spec/mmds/data_file", for errors about it */
};

/* The host TAP device of a network interface (spec.network-interfaces, or a
   snapshot's network_overrides): used as it is when it exists, created (and
   later removed) by the run otherwise. */
struct firec_tap
{
  char *iface_id;
  char *name;          /* host_dev_name */
  char *step_id;       /* "net.tap.eth0" */
  char *pointer;       /* /spec/network-interfaces/0/host_dev_name */
  char *where;         /* "vm.yaml:20:22: /spec/network-interfaces/0/host_dev_name" */
  unsigned mtu;        /* spec.tap.<iface_id>.mtu; 0: the kernel's */
  char *bridge;        /* spec.tap.<iface_id>.bridge, or NULL */
  char *options_where; /* "vm.yaml:31:7: /spec/tap/eth0", or NULL without an entry */
};

/* An executable the run execs (firecracker, the jailer). */
struct firec_binary
{
  char *written; /* spec.*.binary as written */
  char *path;    /* the file exec'd: PATH lookup for a bare name, else against the
                    manifest's directory, then canonical (realpath); as written
                    when there is no such executable file (preflight says so) */
  bool found;    /* path is an executable regular file, identified by these: */
  dev_t dev;
  ino_t ino;
  off_t size;
  struct timespec mtime, ctime; /* a new file may reuse a freed inode number */
  char *where;                  /* "vm.yaml:31:13: /spec/firecracker/binary", for errors about it */
};

enum firec_run_mode
{
  FIREC_RUN_ATTACHED,
  FIREC_RUN_DAEMON,
  FIREC_RUN_TMUX,
};

enum firec_stop_action
{
  FIREC_STOP_CTRL_ALT_DEL,
  FIREC_STOP_SIGTERM,
  FIREC_STOP_SIGKILL,
};

struct firec_stop_step
{
  enum firec_stop_action action;
  long wait_ms; /* how long to wait for the VM to exit after this action */
};

enum firec_seccomp
{
  FIREC_SECCOMP_DEFAULT,
  FIREC_SECCOMP_NONE,
  FIREC_SECCOMP_FILTER,
};

struct firec_model
{
  cJSON *manifest; /* the resolved manifest: defaults, ${VAR}, absolute host paths */
  char *source;    /* the manifest's file name as given ("-" for stdin) */
  char *base_dir;  /* absolute */
  char *name;

  /* firecracker */
  struct firec_binary firecracker_binary;
  char *exec_name;     /* basename of the resolved binary: the jailer names the jail after it */
  char *api_socket_vm; /* as Firecracker sees it */
  char *api_socket_host;
  char *vsock_socket_host; /* NULL without vsock */
  enum firec_seccomp seccomp;
  bool boot_timer;
  long long http_api_max_payload_size; /* 0: not given */
  long long mmds_size_limit;           /* 0: not given */

  /* jailer */
  bool jailer;
  struct firec_binary jailer_binary;
  unsigned long uid, gid;
  char *chroot_base_dir;
  char *chroot_base_where; /* "vm.yaml:7:20: /spec/jailer/chroot_base_dir" (without a position: the default) */
  char *jail_dir;          /* <chroot_base_dir>/<exec_name>/<name>: removed on cleanup */
  char *vm_root;           /* the VM's "/": <jail_dir>/root, or <state_dir>/root without the jailer */
  char *netns;
  bool daemonize;
  bool new_pid_ns;
  char **cgroups;     /* "file=value", NULL-terminated, sorted by file */
  int cgroup_version; /* 1 or 2 ("auto": the host's, decided when resolving) */
  char *parent_cgroup;
  char **resource_limits; /* "name=value", NULL-terminated */

  /* files staged into the VM's root, in plan order */
  struct firec_file *files;
  size_t file_count;
  struct firec_data_file mmds_data_file;
  struct firec_data_file cpu_config_file;

  /* host TAP devices, in plan order */
  struct firec_tap *taps;
  size_t tap_count;

  /* run */
  enum firec_run_mode mode;
  long start_timeout_ms;
  long stop_timeout_ms;
  struct firec_stop_step *stop;
  size_t stop_count;
  char *state_dir;

  bool snapshot; /* spec.snapshot: load instead of booting */

  /* machine-config.huge_pages: 2M (booting): the host's pool must hold the guest memory */
  unsigned long huge_page_kib; /* 2048, or 0 */
  unsigned long long mem_size_mib;
  char *huge_pages_where; /* "vm.yaml:9:17: /spec/machine-config/huge_pages" */
};

void firec_model_free (struct firec_model *model);
static inline void
firec_model_freep (struct firec_model **m)
{
  firec_model_free (*m);
}
#define cleanup_model __attribute__ ((cleanup (firec_model_freep)))

const struct firec_file *firec_model_find_file (const struct firec_model *model, const char *pointer);

const char *firec_staging_mode_name (enum firec_staging_mode mode);
const char *firec_run_mode_name (enum firec_run_mode mode);

/* Expands ${VAR}, ${VAR:-default}, ${VAR:?message} and $$ in every string scalar
   of doc (keys are left alone). lookup is getenv in production. An unquoted
   scalar that is exactly one ${...} takes the type its field wants when its value
   spells a YAML boolean (true, True, TRUE, false, ...) or a plain decimal
   integer and the field takes that but not the string (see take_field_type);
   everything else stays a string. Every problem is a diagnostic at the scalar.
   Returns the number of errors. */
size_t firec_interpolate (struct firec_doc *doc, const char *(*lookup) (const char *name), struct firec_diags *diags);

/* Writes every $ of the string values below node as $$, so that a document
   made of values (render's output, import's) keeps them through interpolation. */
void firec_escape_dollars (cJSON *node);

/* Builds the model from a validated document. Problems that depend on the
   environment (a relative path with no base directory) are diagnostics; returns
   -1 with *err (kind FIREC_ERR_INVALID) when there were any. */
int firec_resolve (const struct firec_doc *doc, struct firec_model **ret, struct firec_diags *diags,
                   firec_error_t *err);

/* Validates and resolves a manifest file: load, ${VAR}, schema, semantics, model.
   Returns 0, or -1 with *err; manifest problems are in diags. */
int firec_model_load (const char *path, const char *base_dir, struct firec_model **ret, struct firec_diags *diags,
                      firec_error_t *err);

/* The resolved manifest as a manifest again (for `render`): $ escaped as $$, and
   the derived names under x-firec-derived, which validation ignores. */
cJSON *firec_model_to_manifest (const struct firec_model *model);

/* "sha256:<hex>" of the resolved manifest without x-* keys (MMDS data keeps
   them): what `apply` compares with the running VM's. */
char *firec_model_digest (const struct firec_model *model);

/* The longest duration firec-run takes (run.start_timeout, stop steps...): a year. */
#define FIREC_DURATION_MAX_MS (86400000LL * 365)
/* A duration as the schema writes it ("10s", "250ms", "5m", "1h") in
   milliseconds; false when it does not parse or is longer than the maximum. */
bool firec_duration_ms (const char *text, long *ret);

/* Resolves spec.*.binary as firec-run will exec it (see struct firec_binary). */
void firec_binary_resolve (const char *written, const char *base_dir, struct firec_binary *ret);
void firec_binary_release (struct firec_binary *binary);
/* NULL when the name still resolves to the same file as when the model was
   made; otherwise what changed, for a preflight failure. */
char *firec_binary_changed (const struct firec_binary *binary, const char *base_dir);

/* Lexically normalizes an absolute path: collapses "//", "." and "..". */
char *firec_path_normalize (const char *path);

#endif
