/* SPDX-License-Identifier: Apache-2.0 */
/* The systemd notification protocol (sd_notify(3)), written directly: one
   datagram per message to $NOTIFY_SOCKET, no libsystemd dependency. */
#ifndef FIREC_NOTIFY_H
#define FIREC_NOTIFY_H

/* Sends "READY=1", "STATUS=...", "STOPPING=1"... when NOTIFY_SOCKET is set.
   Returns 1 when sent, 0 when there is no NOTIFY_SOCKET, < 0 on failure (errno). */
int firec_notify (const char *message);
int firec_notifyf (const char *fmt, ...) __attribute__ ((format (printf, 1, 2)));

#endif
