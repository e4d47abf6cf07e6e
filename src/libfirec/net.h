/* SPDX-License-Identifier: Apache-2.0 */
/* Host TAP devices: looked at, created and removed through rtnetlink and the
   tun driver's ioctls, in the host's network namespace or in a named one
   (jailer.netns). firec-run never runs `ip`: no child process, the kernel's
   own error for each operation, and a device found by name is handled from
   then on by its ifindex, which the kernel does not hand out again soon. */
#ifndef FIREC_NET_H
#define FIREC_NET_H

#include <net/if.h>
#include <stdbool.h>
#include <sys/types.h>

#include "error.h"

/* What rtnetlink says of one network device. */
struct firec_link
{
  bool exists;
  int ifindex;
  char name[IFNAMSIZ];
  char kind[32]; /* IFLA_INFO_KIND: "tun", "veth", "bridge", ...; "" for a device without one (a NIC, lo) */
  unsigned mtu;
  int master; /* ifindex of the bridge (or bond...) it is attached to, 0 */
  bool up;
  /* tun devices only (kind "tun", with the tun attributes of Linux >= 4.15): */
  bool tun_known;
  bool tap; /* IFF_TAP, else a TUN (layer 3) device */
  bool multi_queue;
  bool persist;
  unsigned queues; /* attached files: > 0 while a process (a VMM) has it open */
  bool has_owner, has_group;
  uid_t owner;
  gid_t group;
};

/* One network namespace, opened: its rtnetlink socket, and what names it. */
struct firec_net;

/* netns: a namespace handle (/var/run/netns/NAME), or NULL for the caller's.
   A file that is not a network namespace is EINVAL. */
int firec_net_open (const char *netns, struct firec_net **ret, firec_error_t *err);
void firec_net_close (struct firec_net *net);
static inline void
firec_net_closep (struct firec_net **net)
{
  firec_net_close (*net);
}
#define cleanup_net __attribute__ ((cleanup (firec_net_closep)))

/* The namespace's identity (the inode of its nsfs file), 0 for the caller's. */
unsigned long long firec_net_ns_ino (const struct firec_net *net);
/* "the host's network namespace" or "the network namespace /var/run/netns/x". */
const char *firec_net_shown (const struct firec_net *net);

/* The device called name (ifindex 0), or the device ifindex (name NULL). A
   device that does not exist is not an error: ret->exists is false. */
int firec_net_link (struct firec_net *net, const char *name, int ifindex, struct firec_link *ret, firec_error_t *err);

/* Creates a persistent TAP device called name, owned by uid:gid, and returns
   its ifindex. Exclusive: a device of that name that exists (even one created
   by someone else a moment ago) is EEXIST, never taken for ours. Until it is
   made persistent the device lives only as long as our file: a crash before
   that leaves nothing. Needs CAP_NET_ADMIN. */
int firec_net_tap_create (struct firec_net *net, const char *name, uid_t uid, gid_t gid, int *ifindex,
                          firec_error_t *err);

/* Brings ifindex up, with mtu (0: as it is) and attached to the bridge master
   (0: none). */
int firec_net_link_setup (struct firec_net *net, int ifindex, unsigned mtu, int master, firec_error_t *err);

int firec_net_link_delete (struct firec_net *net, int ifindex, firec_error_t *err);

/* The processes that have a TAP called name open ("pid 123 (firecracker)",
   comma-separated), from /proc/PID/fdinfo's "iff:" lines: for an error
   message only. NULL when none is found (another namespace's, or hidden). */
char *firec_net_tap_holders (const char *name);

#endif
