/*
 * The host facts of a report (hostfacts.c).
 */
#ifndef KD_HOSTFACTS_H
#define KD_HOSTFACTS_H

struct json_t;

/* The kernel's boot id, read once; "" while it cannot be read. */
const char *kd_boot_id(void);
/* {hostname, addresses, boot_id, os} (NULL without memory) */
struct json_t *kd_host_facts(void);

#endif
