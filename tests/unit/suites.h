/* One Check suite per module; runner.c runs them all. */
#ifndef KK_SUITES_H
#define KK_SUITES_H
#include <check.h>

Suite *parse_suite(void);
Suite *nft_build_suite(void);
Suite *nft_rules_suite(void);
Suite *nft_sets_suite(void);
Suite *nft_memo_suite(void);
Suite *blocklist_suite(void);
Suite *links_suite(void);
Suite *state_suite(void);
Suite *audit_suite(void);
Suite *frame_suite(void);
Suite *authz_suite(void);
Suite *dsse_suite(void);
Suite *envlift_suite(void);
Suite *trust_suite(void);
Suite *replay_suite(void);
Suite *command_suite(void);
Suite *freeze_suite(void);
Suite *core_suite(void);
Suite *lime_suite(void);
Suite *collect_suite(void);
Suite *evidence_suite(void);
Suite *text_suite(void);
Suite *ctl_suite(void);
Suite *signed_suite(void);
Suite *children_suite(void);
Suite *lean_suite(void);
Suite *procstat_suite(void);
Suite *subids_suite(void);
Suite *colquota_suite(void);
Suite *preserve_suite(void);
Suite *outbox_suite(void);
Suite *report_suite(void);
Suite *drillsum_suite(void);
Suite *fleetwire_suite(void);
Suite *watch_suite(void);
Suite *usb_suite(void);
Suite *nflog_suite(void);
Suite *courier_suite(void);
Suite *names_suite(void);
Suite *receipt_suite(void);

#endif
