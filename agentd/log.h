/*
 * kakurid's logging: structured journal entries with a MESSAGE_ID per
 * kind of event, and stderr too in the foreground (-d).
 */
#ifndef KK_LOG_H
#define KK_LOG_H

#include <syslog.h>

/* MESSAGE_IDs (sd-id128), one per kind of event, for journalctl MESSAGE_ID= */
#define KK_MID_START	"6b616b7572690001a0a0a0a0a0a00001"
#define KK_MID_POLICY	"6b616b7572690001a0a0a0a0a0a00002"
#define KK_MID_APPLY	"6b616b7572690001a0a0a0a0a0a00003"
#define KK_MID_TAMPER	"6b616b7572690001a0a0a0a0a0a00004"
#define KK_MID_CONTROL	"6b616b7572690001a0a0a0a0a0a00005"
#define KK_MID_REFUSED	"6b616b7572690001a0a0a0a0a0a00006"
#define KK_MID_ERROR	"6b616b7572690001a0a0a0a0a0a00007"
#define KK_MID_STOP	"6b616b7572690001a0a0a0a0a0a00008"
#define KK_MID_REPORT	"6b616b7572690001a0a0a0a0a0a00009"

void kk_log_init(int foreground, int verbose);
void kk_log(int prio, const char *mid, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
