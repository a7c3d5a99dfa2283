/*
 * The wire, written once (DESIGN 1, issue 9): every JSON key of the
 * protocol, and the words that cross it as errors, reasons and results,
 * as named constants that kakurid and kakurictl both compile.  A key is
 * never a string literal outside common/ (tools/check-wire, run by make
 * check, keeps it so).
 *
 * A key has one constant, in the group of the message where it first
 * comes; a later group names the ones it shares in its comment.
 *
 * Not the protocol: what the evidence collectors gather
 * (agentd/evidence/collect/: process lists, sockets, mounts, ...) is
 * evidence content, written as the sources give it; its keys stay where
 * they are collected.
 */
#ifndef KAKURI_WIRE_H
#define KAKURI_WIRE_H

struct json_t;

/*
 * Control socket requests (DESIGN 3, 5): {"cmd": VERB, ...}.
 * disconnect: message; release: episode; log: lines, since;
 * apply: envelope.
 */
#define KW_CMD			"cmd"
#define KW_MESSAGE		"message"
#define KW_EPISODE		"episode"
#define KW_LINES		"lines"
#define KW_SINCE		"since"
#define KW_ENVELOPE		"envelope"

/*
 * Every answer (DESIGN 5): {"ok": true, ...} or
 * {"ok": false, "error": WORD, "message": TEXT} (kk_wire_error);
 * apply's: {"ok": b, "receipt": ENVELOPE}.
 */
#define KW_OK			"ok"
#define KW_ERROR		"error"
#define KW_RECEIPT		"receipt"

/*
 * status (DESIGN 5): ok, mode, episode, since, by, reason, drill,
 * protection, verified, tamper_events, enforced_by, tamper [{what,
 * result, since, count}], restore_us, not_covered, counters {HOOK:
 * {packets, bytes}}; the CSIRT's status receipt also agent,
 * csirt_channel, evidence {freezer, frozen, freeze_episode,
 * evidence_jobs}.
 */
#define KW_MODE			"mode"
#define KW_BY			"by"
#define KW_REASON		"reason"
#define KW_ORIGIN		"origin"	/* outbox isolate/release: who asked */
#define KW_DRILL		"drill"
#define KW_PROTECTION		"protection"
#define KW_VERIFIED		"verified"
#define KW_TAMPER_EVENTS	"tamper_events"
#define KW_COMMITS_UNSEEN	"commits_unseen"
#define KW_ENFORCED_BY		"enforced_by"
#define KW_TAMPER		"tamper"
#define KW_WHAT			"what"
#define KW_RESULT		"result"
#define KW_COUNT		"count"
#define KW_RESTORE_US		"restore_us"
#define KW_NOT_COVERED		"not_covered"
#define KW_COUNTERS		"counters"
#define KW_PACKETS		"packets"
#define KW_BYTES		"bytes"
#define KW_AGENT		"agent"
#define KW_CSIRT_CHANNEL	"csirt_channel"
#define KW_EVIDENCE		"evidence"
#define KW_FREEZER		"freezer"
#define KW_FROZEN		"frozen"
#define KW_FREEZE_EPISODE	"freeze_episode"
#define KW_EVIDENCE_JOBS	"evidence_jobs"

/*
 * disconnect's answer (DESIGN 5): ok, mode, episode, since, already,
 * message_cut, report, contact {desk, phone, email}.
 */
#define KW_ALREADY		"already"
#define KW_MESSAGE_CUT		"message_cut"
#define KW_REPORT		"report"
#define KW_CONTACT		"contact"
#define KW_DESK			"desk"
#define KW_PHONE		"phone"
#define KW_EMAIL		"email"

/*
 * log's answer (DESIGN 5), before the lines it streams: ok, stream,
 * first_prev, anchor, head, first_line, truncated.
 */
#define KW_STREAM		"stream"
#define KW_FIRST_PREV		"first_prev"
#define KW_ANCHOR		"anchor"
#define KW_HEAD			"head"
#define KW_FIRST_LINE		"first_line"
#define KW_TRUNCATED		"truncated"

/* The DSSE envelope (DESIGN 4). */
#define KW_PAYLOADTYPE		"payloadType"
#define KW_PAYLOAD		"payload"
#define KW_SIGNATURES		"signatures"
#define KW_KEYID		"keyid"
#define KW_SIG			"sig"

/*
 * A signed command's payload (DESIGN 4): v, id, agent, iat, exp, action,
 * args, incident, reason, episode.  The args: isolate mode; freeze and
 * thaw pid, tree, uid, exe, sha256, all; snapshot pid, frozen, physical;
 * fetch id; drill kind, duration, scenario; block set, version,
 * addresses, ports, direction.
 */
#define KW_V			"v"
#define KW_ID			"id"
#define KW_IAT			"iat"
#define KW_EXP			"exp"
#define KW_ACTION		"action"
#define KW_ARGS			"args"
#define KW_INCIDENT		"incident"
#define KW_PID			"pid"
#define KW_TREE			"tree"
#define KW_UID			"uid"
#define KW_EXE			"exe"
#define KW_SHA256		"sha256"
#define KW_ALL			"all"
#define KW_PHYSICAL		"physical"
#define KW_KIND			"kind"
#define KW_DURATION		"duration"
#define KW_SCENARIO		"scenario"
#define KW_SET			"set"
#define KW_VERSION		"version"
#define KW_ADDRESSES		"addresses"
#define KW_PORTS		"ports"
#define KW_DIRECTION		"direction"

/*
 * A receipt's payload (DESIGN 4), signed by the agent: v, command,
 * agent, action, result, reason, detail, mode, episode, timings
 * {received, applied, verified}, incident, status, output, left_out
 * {parts: ["status", "output"], bytes}: a receipt too large for its
 * transport (the fleet broker's maximum packet size) signed again without
 * those parts, bytes the whole receipt's size.
 */
#define KW_COMMAND		"command"
#define KW_DETAIL		"detail"
#define KW_TIMINGS		"timings"
#define KW_RECEIVED		"received"
#define KW_APPLIED		"applied"
#define KW_STATUS		"status"
#define KW_OUTPUT		"output"
#define KW_LEFT_OUT		"left_out"
#define KW_PARTS		"parts"

/*
 * A receipt's output.  snapshot and collect: evidence, dir, artifacts
 * [{path, size, sha256, incomplete, error}], count, bytes, errors,
 * skipped [{pid, why}].  freeze and thaw: frozen, thawed, kept_frozen,
 * gone, hashed, unhashed, not_hashed, frozen_total, skipped, freeze
 * episode, in_place (a cgroup frozen where it is).  fetch: evidence, files [{path,
 * size}].
 */
#define KW_DIR			"dir"
#define KW_ARTIFACTS		"artifacts"
#define KW_PATH			"path"
#define KW_SIZE			"size"
#define KW_INCOMPLETE		"incomplete"
#define KW_ERRORS		"errors"
#define KW_SKIPPED		"skipped"
#define KW_WHY			"why"
#define KW_THAWED		"thawed"
#define KW_KEPT_FROZEN		"kept_frozen"
#define KW_GONE			"gone"
#define KW_HASHED		"hashed"
#define KW_UNHASHED		"unhashed"
#define KW_NOT_HASHED		"not_hashed"
#define KW_FROZEN_TOTAL		"frozen_total"
#define KW_IN_PLACE		"in_place"
#define KW_DESCRIBED		"described"
/* freeze: a process sharing a target's memory, frozen with it */
#define KW_SHARED_MEMORY	"shared_memory"
#define KW_TWIN_OF		"twin_of"
#define KW_CGROUP_ID		"cgroup_id"
#define KW_FILES		"files"

/*
 * fetch's chunks on the CSIRT channel (DESIGN 4, 7): the request
 * {"chunk": {path, offset, length}}, the answer {ok, path, offset,
 * length, eof} "\n" and the bytes, or an error answer.
 */
#define KW_CHUNK		"chunk"
#define KW_OFFSET		"offset"
#define KW_LENGTH		"length"
#define KW_EOF			"eof"

/*
 * The evidence manifest (DESIGN 7).  manifest.jsonl, a line per
 * artifact: path, size, sha256, method, incomplete, pid, start_time,
 * gaps [{offset, length, why}], error, command, boot_id, time, agent,
 * agent_version.  manifest.dsse's payload: v, manifest, sha256, size,
 * entries, agent, boot_id, signed.
 */
#define KW_METHOD		"method"
#define KW_START_TIME		"start_time"
#define KW_GAPS			"gaps"
#define KW_BOOT_ID		"boot_id"
#define KW_TIME			"time"
#define KW_AGENT_VERSION	"agent_version"
#define KW_MANIFEST		"manifest"
#define KW_ENTRIES		"entries"
#define KW_SIGNED		"signed"

/*
 * The frozen processes kakurid keeps (freeze, thaw; to be converted:
 * issue 9): pid, start_time, exe, method, uid, cgroup, group.
 */
#define KW_CGROUP		"cgroup"
#define KW_GROUP		"group"

/*
 * Audit lines (DESIGN 2): time, seq, actor, action, result, episode,
 * then what the event adds, then prev; cut when capped.  A rotation's
 * first line: from, last_seq.
 */
#define KW_SEQ			"seq"
#define KW_ACTOR		"actor"
#define KW_PREV			"prev"
#define KW_CUT			"cut"
#define KW_FROM			"from"
#define KW_LAST_SEQ		"last_seq"

/*
 * What events add to an audit line and a report: a signed command's
 * command, incident, reason, detail, more, seconds; the tables' mode,
 * table, restore_us, count, duration_us, restore_max_us,
 * tamper_events, held_back, total, interval_s; interfaces: interface,
 * ifindex, netnsid, kind, interfaces, count; the children: pid, status;
 * refusals (common/refusals.c): refused (pressed), not_recorded, uids
 * [{uid, count, reasons}], other_uids; disconnect: mode, message,
 * apply_us, error; restore: source, kept, readopted.
 */
#define KW_MORE			"more"
#define KW_SECONDS		"seconds"
#define KW_TABLE		"table"
#define KW_DURATION_US		"duration_us"
#define KW_RESTORE_MAX_US	"restore_max_us"
#define KW_HELD_BACK		"held_back"
#define KW_TOTAL		"total"
#define KW_INTERVAL_S		"interval_s"
#define KW_INTERFACE		"interface"
/* interface-nft: the chain of another table (family, table, chain, hook, priority) */
/* a disconnect notice repeating the quarantine in force: a plain one */
#define KW_AGAIN		"again"
#define KW_FAMILY		"family"
#define KW_HOOK			"hook"
#define KW_PRIORITY		"priority"
#define KW_CLASS		"class"		/* bInterfaceClass: "08", "ff" */
/* a driver not of the class that held an interface let in: "usb-storage" */
#define KW_DRIVER		"driver"
#define KW_IFINDEX		"ifindex"
#define KW_NETNSID		"netnsid"
#define KW_INTERFACES		"interfaces"
#define KW_REFUSED		"refused"
#define KW_PRESSED		"pressed"
#define KW_NOT_RECORDED		"not_recorded"
#define KW_UIDS			"uids"
#define KW_REASONS		"reasons"
#define KW_OTHER		"other"
#define KW_OTHER_UIDS		"other_uids"
#define KW_APPLY_US		"apply_us"
#define KW_SOURCE		"source"
#define KW_KEPT			"kept"
/* usb.json: interfaces cut for a foreign driver, by name: their device's devnum */
#define KW_FOREIGN		"foreign"
#define KW_READOPTED		"readopted"

/*
 * state.json (DESIGN 2), kakurid's own: v, mode, episode, since, by,
 * reason, drill.
 */

/*
 * An outbox report (DESIGN 7): v, id, agent, seq, time, type, host
 * {hostname, addresses, boot_id, os}, episode, and the body of its type
 * (disconnect: episode, mode, by, by_start_time: by's pid's process start
 * time, message, again; tamper: what the audit line has).  The outbox
 * verb's answer: count, bytes, max_bytes, pending,
 * collector, waiting, messages [{id, seq, type, time, size, signed,
 * file}], truncated.
 */
#define KW_TYPE			"type"
#define KW_HOST			"host"
#define KW_BY_START_TIME	"by_start_time"
#define KW_HOSTNAME		"hostname"
#define KW_OS			"os"
#define KW_BODY			"body"
#define KW_MESSAGES		"messages"
#define KW_PENDING		"pending"
#define KW_COLLECTOR		"collector"
#define KW_WAITING		"waiting"
#define KW_MAX_BYTES		"max_bytes"

/*
 * The fleet transport's out documents (DESIGN 9, common/fleet.h): v,
 * agent, kind, identity, envelope.
 */
#define KW_IDENTITY		"identity"
/* ack documents: v, chain, ack */
#define KW_CHAIN		"chain"
#define KW_ACK			"ack"
/* status: fleet {broker, state, packet_max: the broker's, when it says} */
#define KW_FLEET		"fleet"
#define KW_BROKER		"broker"
#define KW_PACKET_MAX		"packet_max"
/* send --broker --json: receipts and summary {done, refused, silent,
 * reasons {word: count}, unnamed {word: count}: refusals naming no
 * command, unverified} */
#define KW_SUMMARY		"summary"
#define KW_N_DONE		"done"
#define KW_N_SILENT		"silent"
#define KW_N_DEGRADED		"degraded"	/* done, an enforcer degraded */
#define KW_UNNAMED		"unnamed"
#define KW_UNVERIFIED		"unverified"
#define KW_UNEXPECTED		"unexpected"

/*
 * kakurictl's --json documents (DESIGN 5).  send: receipts [RECEIPT +
 * file], target, status, error.  fetch and verify: agent, evidence,
 * dir, files, bytes, signature, manifest, verified, matched, total,
 * problems, notes.
 */
#define KW_RECEIPTS		"receipts"
#define KW_FILE			"file"
#define KW_TARGET		"target"
#define KW_SIGNATURE		"signature"
#define KW_MATCHED		"matched"
#define KW_PROBLEMS		"problems"
#define KW_NOTES		"notes"

/*
 * Inside kakurid only: the lines an evidence worker sends its parent
 * (preserve_worker.c -> preserve_jobs.c: {begin}, {artifact: ARTIFACT
 * of the manifest}, {end: {code, errors}}; exehash.c: {file, dev, ino,
 * size, exe, pids, npids}, {begin}, {done, sha256 | skipped}, {end}).
 */
#define KW_BEGIN		"begin"
#define KW_ARTIFACT		"artifact"
#define KW_END			"end"
#define KW_CODE			"code"
#define KW_DEV			"dev"
#define KW_INO			"ino"
#define KW_PIDS			"pids"
#define KW_NPIDS		"npids"
#define KW_DONE			"done"

/*
 * A self-report (DESIGN 7, kakurictl report -> kakurid "report" -> the
 * outbox): the intake fields of the guides, what kakurid adds (reporter
 * {uid, pid, user, user_lookup, contact, start_time} from SO_PEERCRED and
 * the peer's pidfd, sessions from logind, recent audit entries), and the
 * attachments {name, size, sha256, data}.  The collector's index lines
 * (kakurictl collector, reports) use hostname and file.
 */
#define KW_CATEGORY		"category"
#define KW_FOUND_AT		"found_at"
#define KW_LOCATION		"location"
#define KW_DISCONNECT		"disconnect"
#define KW_DISCONNECTED		"disconnected"
#define KW_ATTACHMENTS		"attachments"
#define KW_NAME			"name"
#define KW_DATA			"data"
#define KW_USER			"user"
#define KW_REPORTER		"reporter"
/* the reporter's name: "found", "none" (no such user), "unknown" (no answer in time) */
#define KW_USER_LOOKUP		"user_lookup"
#define KW_SESSIONS		"sessions"
#define KW_TTY			"tty"
#define KW_SEAT			"seat"
#define KW_RECENT		"recent"
/* kakurictl outbox: the courier's {delivered, failures, recent} */
#define KW_COURIER		"courier"

/*
 * Drills (DESIGN 3, 4, 7; issue 11).  Control requests: {"cmd": "drill",
 * "action": "start", kind, duration, scenario, announce} | {"cmd":
 * "drill", "action": "stop"}; {"cmd": "drill-history", limit};
 * {"cmd": "drill-event", drill, what: "notified"|"report"|"disconnect"}
 * (kakurictl watch: what the employee saw and did).  A signed drill:
 * args {kind, duration, scenario, announce} or {stop: true}.  A drill's
 * record (history, and the body of a "drill" report): id, kind, origin,
 * by, scenario, announce, state, received, started, deadline, ended, end,
 * result,
 * timings_ms {started, committed, verified, first_blocked, notified,
 * action, reverted, connectivity_back}, employee {notified, action, uid,
 * action_ms}, probes [{target, result, detail, ms}], management
 * {target, reachable, detail, ms}, dns [{target, result, detail}],
 * counters {packets, bytes}, leak.  The history answer: drills [RECORD],
 * running (the record of the one running, or absent).
 */
#define KW_ANNOUNCE		"announce"
#define KW_STOP			"stop"
#define KW_LIMIT		"limit"
#define KW_DRILLS		"drills"
#define KW_RUNNING		"running"
#define KW_STATE		"state"
#define KW_STARTED		"started"
#define KW_DEADLINE		"deadline"
#define KW_ENDED		"ended"
#define KW_TIMINGS_MS		"timings_ms"
#define KW_COMMITTED		"committed"
#define KW_FIRST_BLOCKED	"first_blocked"
#define KW_NOTIFIED		"notified"
#define KW_REVERTED		"reverted"
#define KW_CONNECTIVITY_BACK	"connectivity_back"
#define KW_EMPLOYEE		"employee"
#define KW_ACTION_MS		"action_ms"
#define KW_RESPONSES		"responses"
#define KW_PROBES		"probes"
#define KW_MANAGEMENT		"management"
#define KW_REACHABLE		"reachable"
#define KW_MS			"ms"
#define KW_DNS			"dns"
#define KW_LEAK			"leak"

/*
 * kakurictl watch (issue 11): {"cmd": "watch"} is answered like status,
 * then the connection stays open and kakurid sends one frame per event:
 * {"event": "mode", mode, episode, since, by, drill} when the mode
 * changes; {"event": "drill", phase: "announce"|"start"|"end", drill:
 * {id, kind, announce, scenario, started, deadline}, result (at end:
 * the record's result, end, and employee)}.
 */
#define KW_EVENT		"event"
#define KW_PHASE		"phase"
#define KW_DELIVERED		"delivered"
#define KW_FAILURES		"failures"

/* A receipt's result (DESIGN 4). */
#define KR_DONE			"done"
#define KR_REJECTED		"rejected"
#define KR_FAILED		"failed"
/*
 * A done receipt's reason when an enforcer after the network did not do
 * all its part (the network's isolation holds; the USB cut may not): the
 * receipt's enforcers say which and why.  Old readers see "done" with a
 * reason; the member is additive.
 */
#define KR_DEGRADED		"degraded"

/*
 * The enforcers of a quarantine, in the order applied: an isolate's,
 * release's or disconnect's receipt, answer and audit, and status.  Each
 * {name, result: "applied"|"degraded"|"failed", reason?, detail?};
 * status adds age_ms, how old the look it reports is.
 */
#define KW_ENFORCERS		"enforcers"
#define KR_APPLIED		"applied"
#define KW_AGE_MS		"age_ms"

/*
 * The words of a rejection or failure (DESIGN 4, 5): a receipt's reason,
 * an answer's error, the audit line's result.
 */
/* the signed command's checks, in order (DESIGN 4) */
#define KE_TOO_LARGE		"too-large"
#define KE_MALFORMED		"malformed"
#define KE_PAYLOAD_TYPE		"payload-type"
#define KE_BAD_SIGNATURE	"bad-signature"
/* too many signatures failed for all to be tried (KK_TRUST_FAIL_BUDGET) */
#define KE_SIGNATURE_BUDGET	"signature-budget"
#define KE_ROLE			"role"
#define KE_THRESHOLD		"threshold"
#define KE_UNKNOWN_ACTION	"unknown-action"
#define KE_WRONG_AGENT		"wrong-agent"
#define KE_NOT_YET_VALID	"not-yet-valid"
#define KE_EXPIRED		"expired"
#define KE_LIFETIME		"lifetime"
#define KE_REPLAY		"replay"
/* who may do what (DESIGN 3) and the control socket */
#define KE_SIGNATURE_REQUIRED	"signature-required"
#define KE_NOT_AUTHORIZED	"not-authorized"
#define KE_UNKNOWN_COMMAND	"unknown-command"
#define KE_UNSUPPORTED_ACTION	"unsupported-action"
#define KE_NOT_AVAILABLE	"not-available"
#define KE_UNAVAILABLE		"unavailable"
#define KE_RATE_LIMITED		"rate-limited"
#define KE_BAD_FRAME		"bad-frame"
#define KE_BUSY			"busy"
#define KE_BUSY_UID		"busy-uid"
/* the actions */
#define KE_IO			"io"
#define KE_NO_SPACE		"no-space"
#define KE_APPLY_FAILED		"apply-failed"
#define KE_SAVE_FAILED		"save-failed"
#define KE_NOT_QUARANTINED	"not-quarantined"
#define KE_WRONG_EPISODE	"wrong-episode"
#define KE_WORKER_FAILED	"worker-failed"
#define KE_NO_EVIDENCE		"no-evidence"
#define KE_PROTECTED		"protected"
#define KE_NO_MATCH		"no-match"
#define KE_NOT_FROZEN		"not-frozen"
#define KE_NO_FREEZER		"no-freezer"
#define KE_FREEZE_FAILED	"freeze-failed"
#define KE_THAW_FAILED		"thaw-failed"
#define KE_THAW_INCOMPLETE	"thaw-incomplete"
#define KE_TIMEOUT		"timeout"
/* fetch's chunks */
#define KE_NO_GRANT		"no-grant"
#define KE_NO_FILE		"no-file"
/* drills: one is running already; this PC is really quarantined; none runs */
#define KE_DRILL_RUNNING	"drill-running"
#define KE_QUARANTINED		"quarantined"
#define KE_NO_DRILL		"no-drill"

/*
 * {"ok": false, "error": word, "message": message}; NULL if out of
 * memory, or message is NULL.
 */
struct json_t *kk_wire_error(const char *word, const char *message);
/*
 * One entry of a receipt's enforcers (wire.h: KW_ENFORCERS); reason and
 * detail may be NULL or "".
 */
struct json_t *kk_enforcer_entry(const char *name, const char *result,
    const char *reason, const char *detail);
/*
 * How many of a receipt's (or status's) enforcers did not do all their
 * part; buf gets them in words for a terminal ("usb degraded
 * write-refused: ..."), cleaned and cut.  0 for an old receipt without
 * the member.
 */
size_t kk_receipt_degraded(struct json_t *rec, char *buf, size_t len);

/*
 * An answer's verdict: 1 if "ok" is true, 0 if false, -1 if it is no
 * boolean.  Unless 1, *word and *message (either may be NULL) get its
 * "error" and "message", or "refused" and "".
 */
int kk_wire_answer(struct json_t *answer, const char **word,
    const char **message);

/*
 * kakurictl reports DIR --drills --json (issue 11, ctl/drillsum.c): a
 * fleet's drills summed up, {overall: STATS, hosts: [{agent, hostname,
 * STATS}], problems}.  STATS: count, live, tabletop, isolate_ms {median,
 * worst}, leaks, leak_targets, notified, reported_in_time, share,
 * revert_ms {median}.
 */
#define KW_OVERALL		"overall"
#define KW_HOSTS		"hosts"
#define KW_LIVE			"live"
#define KW_TABLETOP		"tabletop"
#define KW_ISOLATE_MS		"isolate_ms"
#define KW_MEDIAN		"median"
#define KW_WORST		"worst"
#define KW_LEAKS		"leaks"
#define KW_LEAK_TARGETS		"leak_targets"
#define KW_REPORTED_IN_TIME	"reported_in_time"
#define KW_SHARE		"share"
#define KW_REVERT_MS		"revert_ms"

/*
 * USB storage cut while isolated (agentd/usb.c, usb.storage =
 * "deauthorize"): the audit's and the "usb" report's body, and
 * state_dir/usb.json.  {hubs: [{name, was}], interfaces: [{interface,
 * path, vendor, product, serial?, manufacturer?, product_name?}],
 * mounts: [{mount, device, result}], errors: [{what, error}]}.
 */
#define KW_HUBS			"hubs"
#define KW_WAS			"was"
#define KW_VENDOR		"vendor"
#define KW_PRODUCT		"product"
#define KW_SERIAL		"serial"
#define KW_MANUFACTURER		"manufacturer"
#define KW_PRODUCT_NAME		"product_name"
#define KW_MOUNTS		"mounts"
#define KW_MOUNT		"mount"
#define KW_DEVICE		"device"
#define KW_STORAGE		"storage"

/*
 * IOC block lists (issue 12): a block command's output, status's
 * "blocklists" (one object per list: set, version, direction, ports,
 * entries, ranges, packets, bytes), and the body of a "blocked" report:
 * {set, version, from, to, hits: [{direction, destination | source,
 * port, protocol, uid, count, first_seen, last_seen}], dropped_hits,
 * logged}: a hit names the listed host, as the destination of a packet
 * to it (direction "out") or the source of one from it ("in"); port is
 * the packet's destination port either way.
 */
#define KE_STALE		"stale"
#define KE_UNKNOWN_SET		"unknown-set"
#define KW_BLOCKLISTS		"blocklists"
#define KW_RANGES		"ranges"
#define KW_REPLACED		"replaced"
#define KW_TO			"to"
#define KW_HITS			"hits"
#define KW_DESTINATION		"destination"
#define KW_PORT			"port"
#define KW_PROTOCOL		"protocol"
#define KW_FIRST_SEEN		"first_seen"
#define KW_LAST_SEEN		"last_seen"
#define KW_DROPPED_HITS		"dropped_hits"
#define KW_LOGGED		"logged"

#endif /* KAKURI_WIRE_H */
