/*
 * The host facts of a report (hostfacts.c).
 */
#ifndef KD_HOSTFACTS_H
#define KD_HOSTFACTS_H

struct json_t;

/* {hostname, addresses, boot_id, os} (NULL without memory) */
struct json_t *kd_host_facts(void);

#endif
