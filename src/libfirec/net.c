/* SPDX-License-Identifier: Apache-2.0 */
/* TAP devices through rtnetlink and the tun driver (see net.h).

   libmnl builds and parses the netlink messages: the nested attributes of a
   link (IFLA_LINKINFO > IFLA_INFO_DATA > IFLA_TUN_*), the sequence and port
   checks and the acknowledgements are what it is for, and hand-written TLV
   code is where such bugs hide. Creation itself is the tun driver's ioctls:
   the kernel refuses to create tun devices through rtnetlink.

   A named network namespace is entered by a short-lived thread that opens the
   file descriptors the work needs there (the rtnetlink socket, /dev/net/tun)
   and ends: a socket and a tun file belong to the namespace they were opened
   in, whoever uses them later. So no thread of firec-run is ever left in the
   wrong namespace, and the device is born where it lives, with its final name
   (created in the host's namespace and moved, it could collide there with a
   host device of the same name, and a crash between the two would leave it
   under the host's eyes). */
#include "config.h"

#include "net.h"
#include "util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libmnl/libmnl.h>
#include <linux/if_link.h>
#include <linux/if_tun.h>
#include <linux/nsfs.h>
#include <linux/rtnetlink.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <unistd.h>

/* A link message with its attributes (a tun device's stay well below this). */
#define NET_BUFFER_SIZE 32768

struct firec_net
{
  struct mnl_socket *nl;
  unsigned int seq;
  int ns_fd; /* the namespace; -1: the caller's */
  unsigned long long ns_ino;
  char *shown;
};

/* ------------------------------------------------------------------ namespaces */

struct ns_opener
{
  int ns_fd;
  int (*open_fd) (void);
  int fd;
  int error;
  bool entered;
};

static void *
ns_opener_run (void *arg)
{
  struct ns_opener *o = arg;
  if (setns (o->ns_fd, CLONE_NEWNET) < 0)
    {
      o->error = errno;
      return NULL;
    }
  o->entered = true;
  o->fd = o->open_fd ();
  if (o->fd < 0)
    o->error = errno;
  return NULL;
}

/* Opens a file descriptor with open_fd in net's namespace. */
static int
open_in_ns (struct firec_net *net, int (*open_fd) (void), const char *what, int *fd, firec_error_t *err)
{
  if (net->ns_fd < 0)
    {
      *fd = open_fd ();
      return *fd < 0 ? firec_error_set (err, errno, "cannot open %s", what) : 0;
    }
  struct ns_opener o = { net->ns_fd, open_fd, -1, 0, false };
  pthread_t thread;
  int rc = pthread_create (&thread, NULL, ns_opener_run, &o);
  if (rc != 0)
    return firec_error_set (err, rc, "cannot start a thread to enter %s", net->shown);
  pthread_join (thread, NULL);
  if (!o.entered)
    return firec_error_set (err, o.error, "cannot enter %s", net->shown);
  if (o.fd < 0)
    return firec_error_set (err, o.error, "cannot open %s in %s", what, net->shown);
  *fd = o.fd;
  return 0;
}

static int
open_rtnetlink (void)
{
  return socket (AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
}

static int
open_tun (void)
{
  return open ("/dev/net/tun", O_RDWR | O_CLOEXEC);
}

int
firec_net_open (const char *netns, struct firec_net **ret, firec_error_t *err)
{
  struct firec_net *net = firec_xcalloc (1, sizeof *net);
  net->ns_fd = -1;
  *ret = NULL;
  if (netns)
    {
      net->shown = firec_xasprintf ("the network namespace %s", netns);
      net->ns_fd = open (netns, O_RDONLY | O_CLOEXEC);
      struct stat st;
      if (net->ns_fd < 0 || fstat (net->ns_fd, &st) < 0)
        {
          firec_error_set (err, errno, "cannot open %s (spec.jailer.netns)", net->shown);
          firec_net_close (net);
          return -1;
        }
      if (ioctl (net->ns_fd, NS_GET_NSTYPE) != CLONE_NEWNET)
        {
          firec_error_set_errno (err, EINVAL,
                                 "%s is not a network namespace (make one with `ip netns add NAME`: "
                                 "/var/run/netns/NAME)",
                                 netns);
          firec_net_close (net);
          return -1;
        }
      net->ns_ino = (unsigned long long) st.st_ino;
    }
  else
    net->shown = firec_xstrdup ("the host's network namespace");
  int fd;
  if (open_in_ns (net, open_rtnetlink, "an rtnetlink socket", &fd, err) < 0)
    {
      firec_net_close (net);
      return -1;
    }
  net->nl = mnl_socket_fdopen (fd);
  if (net->nl == NULL || mnl_socket_bind (net->nl, 0, MNL_SOCKET_AUTOPID) < 0)
    {
      int saved = errno;
      if (net->nl == NULL)
        close (fd);
      firec_net_close (net);
      return firec_error_set (err, saved, "cannot bind an rtnetlink socket");
    }
  int on = 1;
  /* The kernel's own words on a refusal ("MTU greater than device maximum"). */
  mnl_socket_setsockopt (net->nl, NETLINK_EXT_ACK, &on, sizeof on);
  *ret = net;
  return 0;
}

void
firec_net_close (struct firec_net *net)
{
  if (net == NULL)
    return;
  if (net->nl)
    mnl_socket_close (net->nl);
  if (net->ns_fd >= 0)
    close (net->ns_fd);
  free (net->shown);
  free (net);
}

unsigned long long
firec_net_ns_ino (const struct firec_net *net)
{
  return net->ns_ino;
}

const char *
firec_net_shown (const struct firec_net *net)
{
  return net->shown;
}

/* ------------------------------------------------------------------ requests */

struct exchange
{
  mnl_cb_t on_data;
  void *data;
  int error;        /* from the acknowledgement: 0, or an errno */
  char extack[256]; /* the kernel's message with it, if any */
};

static int
on_error (const struct nlmsghdr *nlh, void *arg)
{
  struct exchange *x = arg;
  const struct nlmsgerr *e = mnl_nlmsg_get_payload (nlh);
  if (nlh->nlmsg_len < mnl_nlmsg_size (sizeof *e))
    {
      x->error = EBADMSG;
      return MNL_CB_ERROR;
    }
  x->error = -e->error;
  /* NETLINK_EXT_ACK: TLVs after the error and (unless capped) the request. */
  size_t offset = sizeof *e;
  if (!(nlh->nlmsg_flags & NLM_F_CAPPED))
    offset += e->msg.nlmsg_len - sizeof (struct nlmsghdr);
  if (nlh->nlmsg_flags & NLM_F_ACK_TLVS)
    {
      const struct nlattr *attr;
      mnl_attr_for_each (attr, nlh, offset) if (mnl_attr_get_type (attr) == NLMSGERR_ATTR_MSG
                                                && mnl_attr_validate (attr, MNL_TYPE_NUL_STRING) == 0)
          snprintf (x->extack, sizeof x->extack, "%s", mnl_attr_get_str (attr));
    }
  return x->error ? MNL_CB_ERROR : MNL_CB_STOP;
}

static int
on_data (const struct nlmsghdr *nlh, void *arg)
{
  struct exchange *x = arg;
  return x->on_data ? x->on_data (nlh, x->data) : MNL_CB_OK;
}

/* Sends one request (with NLM_F_ACK) and reads until its acknowledgement;
   on_data sees each answer. Returns 0, or -1 with x->error set. */
static int
exchange (struct firec_net *net, struct nlmsghdr *nlh, struct exchange *x)
{
  nlh->nlmsg_seq = ++net->seq;
  nlh->nlmsg_flags |= NLM_F_ACK;
  if (mnl_socket_sendto (net->nl, nlh, nlh->nlmsg_len) < 0)
    {
      x->error = errno;
      return -1;
    }
  cleanup_free char *buf = firec_xcalloc (1, NET_BUFFER_SIZE);
  unsigned int portid = mnl_socket_get_portid (net->nl);
  mnl_cb_t ctl[NLMSG_MIN_TYPE] = { 0 };
  ctl[NLMSG_ERROR] = on_error;
  for (;;)
    {
      ssize_t n = mnl_socket_recvfrom (net->nl, buf, NET_BUFFER_SIZE);
      if (n < 0)
        {
          x->error = errno;
          return -1;
        }
      int rc = mnl_cb_run2 (buf, (size_t) n, net->seq, portid, on_data, x, ctl, NLMSG_MIN_TYPE);
      if (rc == MNL_CB_ERROR)
        {
          if (x->error == 0)
            x->error = errno ? errno : EPROTO;
          return -1;
        }
      if (rc == MNL_CB_STOP)
        return 0;
    }
}

/* The error of a failed exchange, in the kernel's words when it gave some. */
static int exchange_error (const struct exchange *x, firec_error_t *err, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static int
exchange_error (const struct exchange *x, firec_error_t *err, const char *fmt, ...)
{
  va_list ap;
  va_start (ap, fmt);
  cleanup_free char *what = firec_xvasprintf (fmt, ap);
  va_end (ap);
  if (x->extack[0])
    return firec_error_set_errno (err, x->error, "%s: %s (%s)", what, strerror (x->error), x->extack);
  return firec_error_set (err, x->error, "%s", what);
}

static struct nlmsghdr *
link_request (char *buf, uint16_t type, uint16_t flags, int ifindex)
{
  struct nlmsghdr *nlh = mnl_nlmsg_put_header (buf);
  nlh->nlmsg_type = type;
  nlh->nlmsg_flags = NLM_F_REQUEST | flags;
  struct ifinfomsg *ifi = mnl_nlmsg_put_extra_header (nlh, sizeof *ifi);
  ifi->ifi_family = AF_UNSPEC;
  ifi->ifi_index = ifindex;
  return nlh;
}

/* ------------------------------------------------------------------ reading a link */

struct attrs
{
  const struct nlattr **tb;
  int max;
};

static int
keep_attr (const struct nlattr *attr, void *data)
{
  struct attrs *a = data;
  int type = mnl_attr_get_type (attr);
  if (type <= a->max)
    a->tb[type] = attr;
  return MNL_CB_OK;
}

static uint32_t
attr_u32 (const struct nlattr *attr)
{
  return attr && mnl_attr_validate (attr, MNL_TYPE_U32) == 0 ? mnl_attr_get_u32 (attr) : 0;
}

static uint8_t
attr_u8 (const struct nlattr *attr)
{
  return attr && mnl_attr_validate (attr, MNL_TYPE_U8) == 0 ? mnl_attr_get_u8 (attr) : 0;
}

static const char *
attr_str (const struct nlattr *attr)
{
  return attr && mnl_attr_validate (attr, MNL_TYPE_NUL_STRING) == 0 ? mnl_attr_get_str (attr) : "";
}

/* The tun driver's attributes (tun_fill_info): the queue count only for a
   multi-queue device; a single-queue one shows a file attached by its carrier. */
static void
read_tun_info (const struct nlattr *data, struct firec_link *link)
{
  const struct nlattr *tb[IFLA_TUN_MAX + 1] = { 0 };
  struct attrs a = { tb, IFLA_TUN_MAX };
  if (mnl_attr_parse_nested (data, keep_attr, &a) == MNL_CB_ERROR || tb[IFLA_TUN_TYPE] == NULL)
    return;
  link->tun_known = true;
  link->tap = (attr_u8 (tb[IFLA_TUN_TYPE]) & IFF_TAP) != 0;
  link->multi_queue = attr_u8 (tb[IFLA_TUN_MULTI_QUEUE]) != 0;
  link->persist = attr_u8 (tb[IFLA_TUN_PERSIST]) != 0;
  if (link->multi_queue)
    link->queues = attr_u32 (tb[IFLA_TUN_NUM_QUEUES]);
  link->has_owner = tb[IFLA_TUN_OWNER] != NULL;
  link->owner = (uid_t) attr_u32 (tb[IFLA_TUN_OWNER]);
  link->has_group = tb[IFLA_TUN_GROUP] != NULL;
  link->group = (gid_t) attr_u32 (tb[IFLA_TUN_GROUP]);
}

static int
on_link (const struct nlmsghdr *nlh, void *data)
{
  struct firec_link *link = data;
  if (nlh->nlmsg_type != RTM_NEWLINK)
    return MNL_CB_OK;
  const struct ifinfomsg *ifi = mnl_nlmsg_get_payload (nlh);
  const struct nlattr *tb[IFLA_MAX + 1] = { 0 };
  struct attrs a = { tb, IFLA_MAX };
  if (mnl_attr_parse (nlh, sizeof *ifi, keep_attr, &a) == MNL_CB_ERROR)
    return MNL_CB_ERROR;
  link->exists = true;
  link->ifindex = ifi->ifi_index;
  link->up = (ifi->ifi_flags & IFF_UP) != 0;
  snprintf (link->name, sizeof link->name, "%s", attr_str (tb[IFLA_IFNAME]));
  link->mtu = attr_u32 (tb[IFLA_MTU]);
  link->master = (int) attr_u32 (tb[IFLA_MASTER]);
  bool carrier = attr_u8 (tb[IFLA_CARRIER]) != 0;
  if (tb[IFLA_LINKINFO])
    {
      const struct nlattr *info[IFLA_INFO_MAX + 1] = { 0 };
      struct attrs ia = { info, IFLA_INFO_MAX };
      if (mnl_attr_parse_nested (tb[IFLA_LINKINFO], keep_attr, &ia) != MNL_CB_ERROR)
        {
          snprintf (link->kind, sizeof link->kind, "%s", attr_str (info[IFLA_INFO_KIND]));
          if (strcmp (link->kind, "tun") == 0 && info[IFLA_INFO_DATA])
            read_tun_info (info[IFLA_INFO_DATA], link);
        }
    }
  /* A tun device has carrier while a file is attached to it (tun_set_iff),
     and loses it when the last one goes (__tun_detach). */
  if (link->tun_known && !link->multi_queue)
    link->queues = carrier ? 1 : 0;
  return MNL_CB_OK;
}

int
firec_net_link (struct firec_net *net, const char *name, int ifindex, struct firec_link *ret, firec_error_t *err)
{
  memset (ret, 0, sizeof *ret);
  char buf[512] = { 0 };
  struct nlmsghdr *nlh = link_request (buf, RTM_GETLINK, 0, ifindex);
  if (name)
    mnl_attr_put_strz (nlh, IFLA_IFNAME, name);
  mnl_attr_put_u32 (nlh, IFLA_EXT_MASK, RTEXT_FILTER_SKIP_STATS);
  struct exchange x = { .on_data = on_link, .data = ret };
  if (exchange (net, nlh, &x) == 0)
    return 0;
  if (x.error == ENODEV)
    {
      memset (ret, 0, sizeof *ret);
      return 0;
    }
  if (name)
    return exchange_error (&x, err, "cannot look up the network device %s in %s", name, net->shown);
  return exchange_error (&x, err, "cannot look up the network device %d in %s", ifindex, net->shown);
}

/* ------------------------------------------------------------------ changing links */

int
firec_net_tap_create (struct firec_net *net, const char *name, uid_t uid, gid_t gid, int *ifindex, firec_error_t *err)
{
  cleanup_close int tun = -1;
  if (open_in_ns (net, open_tun, "/dev/net/tun", &tun, err) < 0)
    return -1;
  struct ifreq ifr = { 0 };
  snprintf (ifr.ifr_name, sizeof ifr.ifr_name, "%s", name);
  /* Firecracker's own flags; IFF_TUN_EXCL: fail rather than attach to a
     device of that name (tun_set_iff answers EBUSY). */
  /* ifr_flags is a short; IFF_TUN_EXCL (0x8000) is its sign bit. */
  ifr.ifr_flags = (short) (unsigned short) (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR | IFF_TUN_EXCL);
  if (ioctl (tun, TUNSETIFF, &ifr) < 0)
    {
      if (errno == EBUSY)
        return firec_error_set_errno (err, EEXIST, "cannot create the TAP %s in %s: a device of that name exists", name,
                                      net->shown);
      return firec_error_set (err, errno, "cannot create the TAP %s in %s", name, net->shown);
    }
  if (ioctl (tun, TUNSETOWNER, (unsigned long) uid) < 0 || ioctl (tun, TUNSETGROUP, (unsigned long) gid) < 0)
    return firec_error_set (err, errno, "cannot give the TAP %s to %lu:%lu", name, (unsigned long) uid,
                            (unsigned long) gid);
  /* From here on it outlives our file: only now may it be recorded as made. */
  if (ioctl (tun, TUNSETPERSIST, 1UL) < 0)
    return firec_error_set (err, errno, "cannot make the TAP %s persistent", name);
  /* Looked up while still attached: until our file closes nobody can have
     replaced it by another device of that name. */
  struct firec_link link;
  if (firec_net_link (net, name, 0, &link, err) < 0)
    return -1;
  if (!link.exists)
    return firec_error_set (err, ENODEV, "the TAP %s vanished right after it was created", name);
  *ifindex = link.ifindex;
  return 0;
}

int
firec_net_link_setup (struct firec_net *net, int ifindex, unsigned mtu, int master, firec_error_t *err)
{
  char buf[512] = { 0 };
  struct nlmsghdr *nlh = link_request (buf, RTM_NEWLINK, 0, ifindex);
  struct ifinfomsg *ifi = mnl_nlmsg_get_payload (nlh);
  ifi->ifi_flags = IFF_UP;
  ifi->ifi_change = IFF_UP;
  if (mtu)
    mnl_attr_put_u32 (nlh, IFLA_MTU, mtu);
  if (master)
    mnl_attr_put_u32 (nlh, IFLA_MASTER, (uint32_t) master);
  struct exchange x = { 0 };
  if (exchange (net, nlh, &x) < 0)
    return exchange_error (&x, err, "cannot set up the network device %d in %s", ifindex, net->shown);
  return 0;
}

int
firec_net_link_delete (struct firec_net *net, int ifindex, firec_error_t *err)
{
  char buf[512] = { 0 };
  struct nlmsghdr *nlh = link_request (buf, RTM_DELLINK, 0, ifindex);
  struct exchange x = { 0 };
  if (exchange (net, nlh, &x) == 0 || x.error == ENODEV)
    return 0;
  return exchange_error (&x, err, "cannot remove the network device %d from %s", ifindex, net->shown);
}

/* ------------------------------------------------------------------ who has it open */

static bool
fdinfo_names (int fdinfo_dir, const char *fd, const char *line)
{
  cleanup_close int f = openat (fdinfo_dir, fd, O_RDONLY | O_CLOEXEC);
  cleanup_free char *text = NULL;
  size_t len;
  return f >= 0 && firec_read_fd (f, 4096, &text, &len) == 0 && strstr (text, line) != NULL;
}

static char *
process_comm (const char *pid)
{
  cleanup_free char *path = firec_xasprintf ("/proc/%s/comm", pid);
  cleanup_close int f = open (path, O_RDONLY | O_CLOEXEC);
  char *text = NULL;
  size_t len;
  if (f < 0 || firec_read_fd (f, 64, &text, &len) < 0)
    return firec_xstrdup ("?");
  text[strcspn (text, "\n")] = '\0';
  return text;
}

char *
firec_net_tap_holders (const char *name)
{
  DIR *proc = opendir ("/proc");
  if (proc == NULL)
    return NULL;
  cleanup_free char *line = firec_xasprintf ("\niff:\t%s\n", name);
  struct firec_buf found = { 0 };
  struct dirent *e;
  while ((e = readdir (proc)))
    {
      if (e->d_name[0] < '1' || e->d_name[0] > '9')
        continue;
      cleanup_free char *path = firec_xasprintf ("/proc/%s/fdinfo", e->d_name);
      DIR *fds = opendir (path);
      if (fds == NULL)
        continue;
      struct dirent *f;
      while ((f = readdir (fds)))
        if (f->d_name[0] != '.' && fdinfo_names (dirfd (fds), f->d_name, line))
          {
            cleanup_free char *comm = process_comm (e->d_name);
            firec_buf_printf (&found, "%spid %s (%s)", found.len ? ", " : "", e->d_name, comm);
            break;
          }
      closedir (fds);
    }
  closedir (proc);
  return found.len ? firec_buf_steal (&found) : NULL;
}
