/* One Check suite per module; runner.c runs them all. */
#ifndef KK_SUITES_H
#define KK_SUITES_H
#include <check.h>

Suite *parse_suite(void);
Suite *nft_build_suite(void);
Suite *state_suite(void);
Suite *audit_suite(void);
Suite *frame_suite(void);
Suite *authz_suite(void);
Suite *dsse_suite(void);
Suite *trust_suite(void);
Suite *replay_suite(void);
Suite *command_suite(void);

#endif
