/*
 * kakurictl reports --drills (issue 11, ctl/drillsum.c): the figures a
 * CSIRT reports upwards from a fleet's drill records.  Each test builds
 * records as kakurid writes them (wire.h, "Drills") and checks one
 * figure, including what a record that does not say must not change.
 */
#include <check.h>
#include <jansson.h>

#include "jsonutil.h"
#include "suites.h"
#include "testutil.h"
#include "wire.h"
#include "../../ctl/drillsum.h"

#define AGENT_A	"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define AGENT_B	"bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"

static json_t *
record(const char *text)
{
	json_error_t err;
	json_t *o = json_loads(text, 0, &err);

	ck_assert_msg(o != NULL, "bad test record: %s", err.text);
	return o;
}

/* text (a record) added for agent/hostname */
static void
add(struct drillsum *s, const char *agent, const char *host, const char *text)
{
	json_t *rec = record(text);

	ck_assert_int_eq(drillsum_add(s, agent, host, rec), 0);
	json_decref(rec);
}

/* the records texts[] (up to a NULL) added for agent/hostname */
static void
add_all(struct drillsum *s, const char *agent, const char *host,
    const char *const *texts)
{
	for (; *texts != NULL; texts++)
		add(s, agent, host, *texts);
}

/* the summary of a's records on host "a" and b's (if any) on "b" */
static json_t *
summed(const char *const *a, const char *const *b)
{
	struct drillsum *s = drillsum_new();
	json_t *sum;

	ck_assert_ptr_nonnull(s);
	add_all(s, AGENT_A, "a", a);
	if (b != NULL)
		add_all(s, AGENT_B, "b", b);
	sum = drillsum_json(s);
	drillsum_free(s);
	ck_assert_ptr_nonnull(sum);
	return sum;
}

static json_int_t
num(json_t *o, const char *path1, const char *path2)
{
	json_t *v = json_object_get(o, path1);

	if (path2 != NULL)
		v = json_object_get(v, path2);
	ck_assert_msg(json_is_number(v), "%s%s%s is no number", path1,
	    path2 ? "." : "", path2 ? path2 : "");
	return (json_int_t)json_number_value(v);
}

/* the summary's figures for the fleet */
static json_t *
overall(json_t *sum)
{
	return json_object_get(sum, KW_OVERALL);
}

/* the summary's host entry of agent */
static json_t *
host(json_t *sum, const char *agent)
{
	json_t *h;

	h = kk_json_find(json_object_get(sum, KW_HOSTS), KW_AGENT, agent);
	ck_assert_msg(h != NULL, "no host %s", agent);
	return h;
}

#define LIVE(verified) "{\"kind\":\"live\",\"result\":\"held\"," \
	"\"timings_ms\":{\"committed\":3,\"verified\":" #verified "}}"

START_TEST(test_counts_per_host)
{
	struct drillsum *s = drillsum_new();
	json_t *sum;

	add(s, AGENT_A, "pc-a", LIVE(400));
	add(s, AGENT_A, "pc-a", "{\"kind\":\"tabletop\",\"result\":\"done\"}");
	add(s, AGENT_B, "pc-b", LIVE(900));
	sum = drillsum_json(s);
	ck_assert_int_eq(num(sum, KW_OVERALL, KW_COUNT), 3);
	ck_assert_int_eq(num(sum, KW_OVERALL, KW_LIVE), 2);
	ck_assert_int_eq(num(sum, KW_OVERALL, KW_TABLETOP), 1);
	ck_assert_int_eq(json_array_size(json_object_get(sum, KW_HOSTS)), 2);
	ck_assert_int_eq(num(host(sum, AGENT_A), KW_COUNT, NULL), 2);
	ck_assert_int_eq(num(host(sum, AGENT_A), KW_TABLETOP, NULL), 1);
	ck_assert_int_eq(num(host(sum, AGENT_B), KW_LIVE, NULL), 1);
	ck_assert_str_eq(json_string_value(json_object_get(host(sum, AGENT_B),
	    KW_HOSTNAME)), "pc-b");
	json_decref(sum);
	drillsum_free(s);
}
END_TEST

#define DRILL_X	"0123456789abcdef0123456789abcdef"
#define LEAK_AT_ONCE "{\"id\":\"" DRILL_X "\",\"kind\":\"live\"," \
	"\"state\":\"running\",\"result\":\"leak\"," \
	"\"timings_ms\":{\"verified\":100}}"
#define LEAK_DONE "{\"id\":\"" DRILL_X "\",\"kind\":\"live\"," \
	"\"state\":\"done\",\"result\":\"leak\"," \
	"\"timings_ms\":{\"verified\":100,\"reverted\":500," \
	"\"connectivity_back\":700}}"

/*
 * A drill that leaks reports at once and again at its end (or "aborted"
 * after a restart), each report an id of its own: one drill, counted
 * once, the record that says it is done standing for it (fails on the
 * old code: count 2, leaks 2).
 */
START_TEST(test_one_drill_once)
{
	struct drillsum *s = drillsum_new();
	json_t *sum;

	add(s, AGENT_A, "pc-a", LEAK_AT_ONCE);
	add(s, AGENT_A, "pc-a", LEAK_DONE);
	/* the same drill id on another host is another drill */
	add(s, AGENT_B, "pc-b", LEAK_AT_ONCE);
	sum = drillsum_json(s);
	ck_assert_int_eq(num(sum, KW_OVERALL, KW_COUNT), 2);
	ck_assert_int_eq(num(sum, KW_OVERALL, KW_LEAKS), 2);
	ck_assert_int_eq(num(host(sum, AGENT_A), KW_COUNT, NULL), 1);
	ck_assert_int_eq(num(host(sum, AGENT_A), KW_LEAKS, NULL), 1);
	ck_assert_int_eq(num(host(sum, AGENT_A), KW_LIVE, NULL), 1);
	/* the done record's timings: its revert figure is there */
	ck_assert_int_eq(num(host(sum, AGENT_A), KW_REVERT_MS, KW_MEDIAN),
	    200);
	json_decref(sum);
	/* a report of it still running, come late: the done one stands */
	add(s, AGENT_A, "pc-a", LEAK_AT_ONCE);
	sum = drillsum_json(s);
	ck_assert_int_eq(num(host(sum, AGENT_A), KW_COUNT, NULL), 1);
	ck_assert_int_eq(num(host(sum, AGENT_A), KW_REVERT_MS, KW_MEDIAN),
	    200);
	json_decref(sum);
	/*
	 * a leak reported at once, then "aborted" by a restart that lost
	 * it: the leak is the drill's (fails without the precedence)
	 */
	add(s, AGENT_B, "pc-b", "{\"id\":\"" DRILL_X "\",\"kind\":\"live\","
	    "\"state\":\"done\",\"result\":\"aborted\",\"end\":\"restart\"}");
	sum = drillsum_json(s);
	ck_assert_int_eq(num(host(sum, AGENT_B), KW_COUNT, NULL), 1);
	ck_assert_int_eq(num(host(sum, AGENT_B), KW_LEAKS, NULL), 1);
	json_decref(sum);
	/* records that name no drill are each one */
	add(s, AGENT_B, "pc-b", LIVE(1));
	add(s, AGENT_B, "pc-b", LIVE(1));
	sum = drillsum_json(s);
	ck_assert_int_eq(num(host(sum, AGENT_B), KW_COUNT, NULL), 3);
	ck_assert_int_eq(num(sum, KW_OVERALL, KW_COUNT), 4);
	json_decref(sum);
	drillsum_free(s);
}
END_TEST

/* hosts by hostname, then agent; a later hostname replaces an earlier */
START_TEST(test_host_order_and_name)
{
	struct drillsum *s = drillsum_new();
	json_t *sum, *hosts;

	add(s, AGENT_A, "zeta", LIVE(1));
	add(s, AGENT_B, "alpha", LIVE(1));
	add(s, AGENT_A, "", LIVE(1));		/* says none: kept */
	sum = drillsum_json(s);
	hosts = json_object_get(sum, KW_HOSTS);
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_array_get(hosts, 0), KW_AGENT)), AGENT_B);
	ck_assert_str_eq(json_string_value(json_object_get(
	    json_array_get(hosts, 1), KW_HOSTNAME)), "zeta");
	json_decref(sum);
	add(s, AGENT_A, "renamed", LIVE(1));
	sum = drillsum_json(s);
	ck_assert_str_eq(json_string_value(json_object_get(host(sum, AGENT_A),
	    KW_HOSTNAME)), "renamed");
	json_decref(sum);
	drillsum_free(s);
}
END_TEST

/*
 * Median and worst time to isolate: live drills that measured it only
 * (a tabletop drill's or a record without verified is no zero).
 */
START_TEST(test_isolate_median_worst)
{
	struct drillsum *s = drillsum_new();
	json_t *sum;

	add(s, AGENT_A, "a", LIVE(300));
	add(s, AGENT_A, "a", LIVE(100));
	add(s, AGENT_A, "a", LIVE(200));
	add(s, AGENT_B, "b", LIVE(1000));
	add(s, AGENT_B, "b", "{\"kind\":\"live\",\"timings_ms\":{}}");
	add(s, AGENT_B, "b", "{\"kind\":\"tabletop\",\"timings_ms\":"
	    "{\"verified\":1}}");
	sum = drillsum_json(s);
	/* 100 200 300 1000: the middle two averaged */
	ck_assert_int_eq(num(overall(sum), KW_ISOLATE_MS, KW_MEDIAN),
	    250);
	ck_assert_int_eq(num(overall(sum), KW_ISOLATE_MS, KW_WORST),
	    1000);
	ck_assert_int_eq(num(host(sum, AGENT_A), KW_ISOLATE_MS, KW_MEDIAN), 200);
	ck_assert_int_eq(num(host(sum, AGENT_B), KW_ISOLATE_MS, KW_MEDIAN), 1000);
	json_decref(sum);
	drillsum_free(s);
}
END_TEST

/* without a live drill that measured it: null, not 0 */
START_TEST(test_isolate_none)
{
	struct drillsum *s = drillsum_new();
	json_t *sum;

	add(s, AGENT_A, "a", "{\"kind\":\"tabletop\"}");
	sum = drillsum_json(s);
	ck_assert(json_is_null(json_object_get(overall(sum), KW_ISOLATE_MS)));
	ck_assert(json_is_null(json_object_get(overall(sum), KW_REVERT_MS)));
	json_decref(sum);
	drillsum_free(s);
}
END_TEST

START_TEST(test_leaks)
{
	static const char *const a[] = {
		"{\"kind\":\"live\",\"result\":\"leak\","
		    "\"leak\":\"198.51.100.20:443\"}",
		"{\"kind\":\"live\",\"result\":\"leak\","
		    "\"leak\":{\"target\":\"198.51.100.20:443\",\"ms\":5}}",
		NULL,
	}, *const b[] = {
		"{\"kind\":\"live\",\"result\":\"leak\",\"leak\":["
		    "{\"target\":\"[2001:db8::1]:443\"},\"192.0.2.1:80\"]}",
		/* result leak without a target named: still a leak */
		"{\"kind\":\"live\",\"result\":\"leak\"}",
		"{\"kind\":\"live\",\"result\":\"held\",\"leak\":null}",
		NULL,
	};
	json_t *sum = summed(a, b), *targets;

	ck_assert_int_eq(num(sum, KW_OVERALL, KW_LEAKS), 4);
	ck_assert_int_eq(num(host(sum, AGENT_A), KW_LEAKS, NULL), 2);
	targets = json_object_get(host(sum, AGENT_A), KW_LEAK_TARGETS);
	ck_assert_int_eq(json_array_size(targets), 1);	/* distinct */
	ck_assert_str_eq(json_string_value(json_array_get(targets, 0)),
	    "198.51.100.20:443");
	targets = json_object_get(overall(sum), KW_LEAK_TARGETS);
	ck_assert_int_eq(json_array_size(targets), 3);
	json_decref(sum);
}
END_TEST

/*
 * kakurid's own records: timings in ms with fractions, "leak": true and
 * the probe (or DNS check) that got through, in probes.
 */
START_TEST(test_kakurid_record)
{
	static const char *const a[] = {
		"{\"kind\":\"live\",\"result\":\"leak\",\"leak\":true,"
		    "\"timings_ms\":{\"committed\":1.25,\"verified\":2.5,"
		    "\"reverted\":9000.5,\"connectivity_back\":9001.0},"
		    "\"probes\":[{\"target\":\"192.0.2.1:443\",\"result\":"
		    "\"blocked\"},{\"target\":\"198.51.100.20:8080\","
		    "\"result\":\"leak\"}],\"dns\":[{\"target\":"
		    "\"198.51.100.53\",\"result\":\"leak\"}],"
		    "\"employee\":{\"notified\":1,\"action\":\"report\","
		    "\"action_ms\":299999.9}}",
		"{\"kind\":\"live\",\"result\":\"ok\",\"leak\":false,"
		    "\"timings_ms\":{\"verified\":3.5,\"reverted\":null},"
		    "\"probes\":[{\"target\":\"192.0.2.1:443\",\"result\":"
		    "\"blocked\"}]}",
		NULL,
	};
	json_t *sum = summed(a, NULL), *targets, *median;

	ck_assert_int_eq(num(sum, KW_OVERALL, KW_LEAKS), 1);
	targets = json_object_get(overall(sum), KW_LEAK_TARGETS);
	ck_assert_int_eq(json_array_size(targets), 2);
	ck_assert_str_eq(json_string_value(json_array_get(targets, 0)),
	    "198.51.100.20:8080");
	ck_assert_str_eq(json_string_value(json_array_get(targets, 1)),
	    "198.51.100.53");
	median = json_object_get(json_object_get(overall(sum),
	    KW_ISOLATE_MS), KW_MEDIAN);
	ck_assert_double_eq_tol(json_number_value(median), 3.0, 1e-9);
	ck_assert_double_eq_tol(json_number_value(json_object_get(
	    json_object_get(overall(sum), KW_REVERT_MS), KW_MEDIAN)), 0.5,
	    1e-9);
	ck_assert_int_eq(num(sum, KW_OVERALL, KW_REPORTED_IN_TIME), 1);
	json_decref(sum);
}
END_TEST

/* the distinct targets kept are bounded */
START_TEST(test_leak_targets_bounded)
{
	struct drillsum *s = drillsum_new();
	char text[128];
	json_t *sum;
	int i;

	for (i = 0; i < 3 * DRILL_LEAK_TARGETS_MAX; i++) {
		snprintf(text, sizeof(text), "{\"kind\":\"live\",\"result\":"
		    "\"leak\",\"leak\":\"192.0.2.%d:443\"}", i);
		add(s, AGENT_A, "a", text);
	}
	sum = drillsum_json(s);
	ck_assert_int_eq(num(sum, KW_OVERALL, KW_LEAKS),
	    3 * DRILL_LEAK_TARGETS_MAX);
	ck_assert_int_eq(json_array_size(json_object_get(overall(sum),
	    KW_LEAK_TARGETS)), DRILL_LEAK_TARGETS_MAX);
	json_decref(sum);
	drillsum_free(s);
}
END_TEST

/*
 * Reported within 5 minutes: action "report" and action_ms <= 300000,
 * over the drills where the employee was notified; a disconnect, a late
 * report and an un-notified drill's report are not in time.
 */
START_TEST(test_reported_share)
{
	static const char *const a[] = {
		"{\"kind\":\"tabletop\",\"employee\":{\"notified\":1,"
		    "\"action\":\"report\",\"action_ms\":300000}}",
		"{\"kind\":\"tabletop\",\"employee\":{\"notified\":1,"
		    "\"action\":\"report\",\"action_ms\":300001}}",
		"{\"kind\":\"tabletop\",\"employee\":{\"notified\":2,"
		    "\"action\":\"disconnect\",\"action_ms\":1000}}",
		"{\"kind\":\"tabletop\",\"employee\":{\"notified\":1,"
		    "\"action\":\"report\",\"action_ms\":42}}",
		NULL,
	}, *const b[] = {
		"{\"kind\":\"live\",\"employee\":{\"notified\":0,"
		    "\"action\":\"report\",\"action_ms\":10}}",
		NULL,
	};
	json_t *sum = summed(a, b), *share;

	ck_assert_int_eq(num(sum, KW_OVERALL, KW_NOTIFIED), 4);
	ck_assert_int_eq(num(sum, KW_OVERALL, KW_REPORTED_IN_TIME), 2);
	share = json_object_get(overall(sum), KW_SHARE);
	ck_assert(json_is_real(share));
	ck_assert_double_eq_tol(json_real_value(share), 0.5, 1e-9);
	/* nobody notified on b: n/a, not 0 % */
	ck_assert(json_is_null(json_object_get(host(sum, AGENT_B),
	    KW_SHARE)));
	json_decref(sum);
}
END_TEST

/* connectivity_back - reverted, when both are there and in order */
START_TEST(test_revert_median)
{
	static const char *const a[] = {
		"{\"kind\":\"live\",\"timings_ms\":{\"reverted\":1000,"
		    "\"connectivity_back\":1040}}",
		"{\"kind\":\"live\",\"timings_ms\":{\"reverted\":2000,"
		    "\"connectivity_back\":2100}}",
		"{\"kind\":\"live\",\"timings_ms\":{\"reverted\":3000,"
		    "\"connectivity_back\":3060}}",
		/* no connectivity_back; one before its revert: left out */
		"{\"kind\":\"live\",\"timings_ms\":{\"reverted\":3000}}",
		"{\"kind\":\"live\",\"timings_ms\":{\"reverted\":5000,"
		    "\"connectivity_back\":10}}",
		NULL,
	};
	json_t *sum = summed(a, NULL);

	ck_assert_int_eq(num(overall(sum), KW_REVERT_MS, KW_MEDIAN), 60);
	json_decref(sum);
}
END_TEST

START_TEST(test_record_helpers)
{
	json_t *rec = record("{\"timings_ms\":{\"verified\":12,"
	    "\"reverted\":-4,\"notified\":\"x\"}}");
	char buf[32];

	ck_assert_int_eq(drill_timing(rec, KW_VERIFIED), 12);
	ck_assert_int_eq(drill_timing(rec, KW_REVERTED), -1);
	ck_assert_int_eq(drill_timing(rec, KW_NOTIFIED), -1);
	ck_assert_int_eq(drill_timing(rec, KW_COMMITTED), -1);
	ck_assert(!drill_leaked(rec));
	json_decref(rec);
	ck_assert_str_eq(drill_ms_text(850, buf, sizeof(buf)), "850 ms");
	ck_assert_str_eq(drill_ms_text(12345, buf, sizeof(buf)), "12.3 s");
	ck_assert_str_eq(drill_ms_text(245000, buf, sizeof(buf)), "245.0 s");
	ck_assert_str_eq(drill_ms_text(605000, buf, sizeof(buf)),
	    "10 min 05 s");
	ck_assert_str_eq(drill_ms_text(-1, buf, sizeof(buf)), "?");
	ck_assert_str_eq(drill_ms_text(0.42, buf, sizeof(buf)), "0.42 ms");
}
END_TEST

/* nothing added: zero counts, null figures, no hosts */
START_TEST(test_empty)
{
	struct drillsum *s = drillsum_new();
	json_t *sum = drillsum_json(s);

	ck_assert_int_eq(num(sum, KW_OVERALL, KW_COUNT), 0);
	ck_assert(json_is_null(json_object_get(overall(sum), KW_SHARE)));
	ck_assert_int_eq(json_array_size(json_object_get(sum, KW_HOSTS)), 0);
	json_decref(sum);
	drillsum_free(s);
}
END_TEST

KK_SUITE(drillsum_suite, "drillsum",
	KK_CASE("summary", 0, 10), KK_TEST(test_counts_per_host),
	    KK_TEST(test_one_drill_once),
	    KK_TEST(test_host_order_and_name),
	    KK_TEST(test_isolate_median_worst), KK_TEST(test_isolate_none),
	    KK_TEST(test_leaks), KK_TEST(test_kakurid_record),
	    KK_TEST(test_leak_targets_bounded),
	    KK_TEST(test_reported_share), KK_TEST(test_revert_median),
	    KK_TEST(test_empty),
	KK_CASE("record", 0, 10), KK_TEST(test_record_helpers))
