/*
 * The drill verbs (issue 11): drill, drill-history, drill-event.
 * Scaffolding while drill.c is written: each says it is not there yet.
 */
#include "act.h"
#include "run.h"
#include "wire.h"

int
kd_act_drill(struct run *r)
{
	kd_run_reject(r, KE_NOT_AVAILABLE, "drills are not in this build yet");
	return 0;
}

int
kd_act_drill_history(struct run *r)
{
	return kd_act_drill(r);
}

int
kd_act_drill_event(struct run *r)
{
	return kd_act_drill(r);
}
