/*
 * Unit test runner: every module's Check suite in one binary.  Run from
 * tests/unit so fixtures/ resolves; `make unit` does that.
 */
#include <stdlib.h>

#include "suites.h"

int
main(void)
{
	SRunner *sr;
	int failed;

	sr = srunner_create(parse_suite());
	srunner_add_suite(sr, nft_build_suite());
	srunner_add_suite(sr, nft_rules_suite());
	srunner_add_suite(sr, nft_sets_suite());
	srunner_add_suite(sr, nft_memo_suite());
	srunner_add_suite(sr, blocklist_suite());
	srunner_add_suite(sr, links_suite());
	srunner_add_suite(sr, state_suite());
	srunner_add_suite(sr, audit_suite());
	srunner_add_suite(sr, frame_suite());
	srunner_add_suite(sr, authz_suite());
	srunner_add_suite(sr, dsse_suite());
	srunner_add_suite(sr, envlift_suite());
	srunner_add_suite(sr, trust_suite());
	srunner_add_suite(sr, replay_suite());
	srunner_add_suite(sr, command_suite());
	srunner_add_suite(sr, freeze_suite());
	srunner_add_suite(sr, core_suite());
	srunner_add_suite(sr, lime_suite());
	srunner_add_suite(sr, collect_suite());
	srunner_add_suite(sr, evidence_suite());
	srunner_add_suite(sr, text_suite());
	srunner_add_suite(sr, ctl_suite());
	srunner_add_suite(sr, signed_suite());
	srunner_add_suite(sr, children_suite());
	srunner_add_suite(sr, lean_suite());
	srunner_add_suite(sr, procstat_suite());
	srunner_add_suite(sr, subids_suite());
	srunner_add_suite(sr, colquota_suite());
	srunner_add_suite(sr, preserve_suite());
	srunner_add_suite(sr, outbox_suite());
	srunner_add_suite(sr, report_suite());
	srunner_add_suite(sr, drillsum_suite());
	srunner_add_suite(sr, fleetwire_suite());
	srunner_add_suite(sr, watch_suite());
	srunner_add_suite(sr, usb_suite());
	srunner_add_suite(sr, nflog_suite());
	srunner_add_suite(sr, courier_suite());
	srunner_add_suite(sr, names_suite());
	srunner_add_suite(sr, receipt_suite());
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
