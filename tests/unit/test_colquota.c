/*
 * What one agent may store at the collector in an hour (ctl/colquota.c):
 * a bucket of --agent-quota bytes an hour, as much at once; a report
 * costs at least COLQ_REPORT_MIN and at most the whole bucket; agents
 * are apart; the table forgets an agent whose bucket is full again and
 * remembers at most COLQ_MAX_AGENTS; hostile agent ids are refused.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <check.h>

#include "colquota.h"
#include "suites.h"
#include "testutil.h"

#define MIB		(1024ULL * 1024)
#define HOUR		COLQ_WINDOW_USEC
#define T0		(1000ULL * 1000000)	/* an arbitrary start */

static const char A[] =
    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
static const char B[] =
    "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

/* check, then charge if allowed: what the collector does for a store */
static int
store(struct col_quota *q, const char *agent, size_t len, uint64_t now)
{
	uint64_t wait;
	bool first;
	int r;

	if ((r = col_quota_check(q, agent, len, now, &wait, &first)) == 0)
		ck_assert_int_eq(col_quota_charge(q, agent, len, now), 0);
	return r;
}

/* an agent id made of n: distinct for distinct n, spread over the table */
static void
agent_of(unsigned n, char out[65])
{
	unsigned i;

	for (i = 0; i < 8; i++)
		snprintf(out + 8 * i, 9, "%08x", n * 2654435761u + i);
}

START_TEST(test_bucket_of_an_hour)
{
	struct col_quota *q = col_quota_new(1 * MIB);
	uint64_t wait;
	bool first;
	int i;

	ck_assert_ptr_nonnull(q);
	/* a full bucket at once: four reports of 256 KiB */
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(store(q, A, 256 * 1024, T0), 0);
	ck_assert_int_eq(col_quota_check(q, A, 256 * 1024, T0, &wait, &first),
	    -EDQUOT);
	ck_assert(first);
	/* a quarter of an hour refills a quarter: exactly what it needs */
	ck_assert_uint_eq(wait, HOUR / 4);
	ck_assert_int_eq(col_quota_check(q, A, 256 * 1024, T0 + 1, &wait,
	    &first), -EDQUOT);
	ck_assert(!first);	/* said once */
	ck_assert_int_eq(store(q, A, 256 * 1024, T0 + HOUR / 4 - 1000000),
	    -EDQUOT);
	ck_assert_int_eq(store(q, A, 256 * 1024, T0 + HOUR / 4), 0);
	/* stored again and refused again: said once an hour, no more */
	ck_assert_int_eq(col_quota_check(q, A, 256 * 1024, T0 + HOUR / 4,
	    &wait, &first), -EDQUOT);
	ck_assert(!first);
	ck_assert_int_eq(col_quota_check(q, A, 256 * 1024, T0 + HOUR + 1,
	    &wait, &first), 0);
	ck_assert_int_eq(col_quota_charge(q, A, 1 * MIB, T0 + HOUR + 1), 0);
	ck_assert_int_eq(col_quota_check(q, A, 256 * 1024, T0 + HOUR + 2,
	    &wait, &first), -EDQUOT);
	ck_assert(first);
	/* after an hour it is whole again, never more than whole */
	for (i = 0; i < 4; i++)
		ck_assert_int_eq(store(q, A, 256 * 1024, T0 + 10 * HOUR), 0);
	ck_assert_int_eq(store(q, A, 256 * 1024, T0 + 10 * HOUR), -EDQUOT);
	col_quota_free(q);
}
END_TEST

START_TEST(test_cost_of_a_report)
{
	struct col_quota *q = col_quota_new(1 * MIB);
	int i;

	ck_assert_ptr_nonnull(q);
	/* small reports cost COLQ_REPORT_MIN each: 256 of them in 1 MiB */
	for (i = 0; i < (int)(MIB / COLQ_REPORT_MIN); i++)
		ck_assert_int_eq(store(q, A, 100, T0), 0);
	ck_assert_int_eq(store(q, A, 100, T0), -EDQUOT);
	/* a report larger than the quota still gets in, alone, when whole */
	ck_assert_int_eq(store(q, B, 2 * MIB, T0), 0);
	ck_assert_int_eq(store(q, B, 100, T0), -EDQUOT);
	ck_assert_int_eq(store(q, B, 2 * MIB, T0 + HOUR), 0);
	col_quota_free(q);
}
END_TEST

/* one agent's flood leaves the others theirs */
START_TEST(test_agents_apart)
{
	struct col_quota *q = col_quota_new(1 * MIB);

	ck_assert_ptr_nonnull(q);
	while (store(q, A, 512 * 1024, T0) == 0)
		;
	ck_assert_int_eq(store(q, B, 512 * 1024, T0), 0);
	ck_assert_int_eq(store(q, B, 512 * 1024, T0), 0);
	ck_assert_int_eq(store(q, B, 512 * 1024, T0), -EDQUOT);
	ck_assert_uint_eq(col_quota_agents(q), 2);
	col_quota_free(q);
}
END_TEST

START_TEST(test_hostile_ids)
{
	static const char *const bad[] = {
		"", "aa", "../../etc/passwd",
		"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaag",
		"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
	};
	struct col_quota *q = col_quota_new(1 * MIB);
	uint64_t wait;
	bool first;
	size_t i;

	ck_assert_ptr_nonnull(q);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(col_quota_check(q, bad[i], 100, T0, &wait,
		    &first), -EINVAL);
		ck_assert_int_eq(col_quota_charge(q, bad[i], 100, T0),
		    -EINVAL);
	}
	ck_assert_int_eq(col_quota_check(q, NULL, 100, T0, &wait, &first),
	    -EINVAL);
	ck_assert_uint_eq(col_quota_agents(q), 0);
	ck_assert_ptr_null(col_quota_new(0));
	col_quota_free(q);
}
END_TEST

/*
 * Bounded: COLQ_MAX_AGENTS agents within the hour, and one more is
 * refused; an hour later the full buckets are forgotten to make room,
 * and what the still-spent ones owe is kept across the rebuild.
 */
START_TEST(test_bounded)
{
	struct col_quota *q = col_quota_new(1 * MIB);
	char id[65];
	uint64_t wait;
	bool first;
	unsigned i;

	ck_assert_ptr_nonnull(q);
	for (i = 0; i < COLQ_MAX_AGENTS; i++) {
		agent_of(i, id);
		ck_assert_int_eq(store(q, id, 1 * MIB, T0), 0);
	}
	ck_assert_uint_eq(col_quota_agents(q), COLQ_MAX_AGENTS);
	agent_of(COLQ_MAX_AGENTS, id);
	ck_assert_int_eq(col_quota_check(q, id, 100, T0, &wait, &first),
	    -EUSERS);
	/* half an hour on, one agent spends again; an hour on, it is owed */
	agent_of(7, id);
	ck_assert_int_eq(store(q, id, 512 * 1024, T0 + HOUR / 2), 0);
	agent_of(COLQ_MAX_AGENTS, id);
	ck_assert_int_eq(store(q, id, 100, T0 + HOUR), 0);
	ck_assert_uint_eq(col_quota_agents(q), 2);
	agent_of(7, id);
	ck_assert_int_eq(col_quota_check(q, id, 1 * MIB, T0 + HOUR, &wait,
	    &first), -EDQUOT);
	ck_assert_uint_eq(wait, HOUR / 2);
	col_quota_free(q);
}
END_TEST

/*
 * The reports waiting for a sync: one agent that sends without end
 * takes its share and no more; seven such agents still leave places for
 * other agents' first reports, and the list is never over its bound.
 */
START_TEST(test_unsynced_share)
{
	size_t mine[16] = { 0 }, total = 0, i;
	unsigned a;

	/* one flooding agent: its share */
	for (i = 0; i < 2 * COLQ_UNSYNCED_MAX; i++)
		if (col_unsynced_admit(total, mine[0])) {
			mine[0]++;
			total++;
		}
	ck_assert_uint_eq(mine[0], COLQ_UNSYNCED_PER_AGENT);
	/* another agent's self-report and its courier's batch (64) */
	for (i = 0; i < 64; i++) {
		ck_assert(col_unsynced_admit(total, mine[1]));
		mine[1]++;
		total++;
	}
	/* fourteen more flooding: never the reserve */
	for (a = 2; a < 16; a++)
		for (i = 0; i < 2 * COLQ_UNSYNCED_MAX; i++)
			if (col_unsynced_admit(total, mine[a])) {
				mine[a]++;
				total++;
			}
	ck_assert_uint_le(total, COLQ_UNSYNCED_MAX - COLQ_UNSYNCED_RESERVE +
	    14);
	/* a report of an agent with none waiting still finds a place */
	ck_assert(col_unsynced_admit(total, 0));
	/* ... until the list is full */
	ck_assert(!col_unsynced_admit(COLQ_UNSYNCED_MAX, 0));
	ck_assert(!col_unsynced_admit(COLQ_UNSYNCED_MAX - 1,
	    COLQ_UNSYNCED_PER_AGENT));
}
END_TEST

KK_SUITE(colquota_suite, "colquota",
	KK_CASE("colquota", 0, 0),
	    KK_TEST(test_bucket_of_an_hour), KK_TEST(test_cost_of_a_report),
	    KK_TEST(test_agents_apart), KK_TEST(test_hostile_ids),
	    KK_TEST(test_bounded), KK_TEST(test_unsynced_share))
