/*
 * kakurictl: shared between the staff commands (kakurictl.c) and the
 * CSIRT operator commands (operator.c).
 */
#ifndef KAKURICTL_H
#define KAKURICTL_H

#include <stdbool.h>

#include <jansson.h>

enum { EX_DONE = 0, EX_FAILED = 1, EX_USAGE = 2, EX_UNREACHABLE = 3 };

struct ctl {
	const char *socket_path;
	bool json;
};

void fail_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* one request to kakurid's control socket; prints refusals; exit status */
int ctl_call(struct ctl *c, json_t *req, json_t **resp);

int cmd_keygen(struct ctl *c, int argc, char **argv);
int cmd_agent_id(struct ctl *c, int argc, char **argv);
int cmd_sign(struct ctl *c, int argc, char **argv);
int cmd_cosign(struct ctl *c, int argc, char **argv);
int cmd_send(struct ctl *c, int argc, char **argv);
int cmd_apply(struct ctl *c, int argc, char **argv);

#endif
