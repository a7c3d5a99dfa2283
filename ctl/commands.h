/*
 * The commands, one family per file; kakurictl.c's table names them.
 * Each gets its own argv (argv[0] is its last word) and returns an exit
 * status (ctl.h).
 */
#ifndef KAKURICTL_COMMANDS_H
#define KAKURICTL_COMMANDS_H

#include "cmdtab.h"
#include "ctl.h"

/* staff.c: on the endpoint, over the control socket */
int cmd_status(struct ctl *c, int argc, char **argv);
int cmd_disconnect(struct ctl *c, int argc, char **argv);
int cmd_release(struct ctl *c, int argc, char **argv);
int cmd_log(struct ctl *c, int argc, char **argv);
int cmd_outbox(struct ctl *c, int argc, char **argv);
int cmd_report(struct ctl *c, int argc, char **argv);
int cmd_apply(struct ctl *c, int argc, char **argv);
/* drill.c: drills on the endpoint; the words of "drill" */
extern const struct command drill_words[];
int cmd_drill_start(struct ctl *c, int argc, char **argv);
int cmd_drill_stop(struct ctl *c, int argc, char **argv);
int cmd_drill_history(struct ctl *c, int argc, char **argv);
/* watch.c: the employee's session agent */
int cmd_watch(struct ctl *c, int argc, char **argv);
/* keys.c, sign.c, send.c, fetch.c: the CSIRT operator's */
int cmd_keygen(struct ctl *c, int argc, char **argv);
int cmd_agent_id(struct ctl *c, int argc, char **argv);
int cmd_sign(struct ctl *c, int argc, char **argv);
int cmd_cosign(struct ctl *c, int argc, char **argv);
int cmd_send(struct ctl *c, int argc, char **argv);
/* send --broker (fleetsend.c): through the fleet broker, DESIGN 9 */
int cmd_send_broker(struct ctl *c, int argc, char **argv);
int cmd_fetch(struct ctl *c, int argc, char **argv);
int cmd_collector(struct ctl *c, int argc, char **argv);
int cmd_reports(struct ctl *c, int argc, char **argv);

#endif
