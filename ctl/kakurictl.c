/*
 * kakurictl - the staff button and the CSIRT operator's tool.
 *
 * main takes the global options and hands the rest to the command the
 * table below names (cmdtab.c walks it); each command family lives in a
 * file of its own.  Exit status (DESIGN 5): 0 done, 1 refused or failed,
 * 2 usage error, 3 agent not reachable.
 */
#include <getopt.h>
#include <locale.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "cmdtab.h"
#include "commands.h"
#include "output.h"

#define DEFAULT_SOCKET		"/run/kakuri/control.sock"

static int cmd_help(struct ctl *, int, char **);

static const struct command commands[] = {
	/* on the endpoint, over the control socket (staff.c) */
	{ .name = "status", .run = cmd_status,
	  .synopsis = "[--json]",
	  .description = "the quarantine: mode, episode, since, by whom, blocked packets" },
	{ .name = "disconnect", .run = cmd_disconnect,
	  .synopsis = "[-m text] [--json]",
	  .description = "the emergency button: isolate now, then what to do and not to do" },
	{ .name = "release", .run = cmd_release,
	  .synopsis = "[episode]",
	  .description = "always refused here: a release needs a CSIRT-signed token (apply)" },
	{ .name = "log", .run = cmd_log,
	  .synopsis = "[-n LINES] [--since TIME] [--json]",
	  .description = "the audit timeline, its hash chain verified" },
	{ .name = "report", .run = cmd_report,
	  .synopsis = "[--category C] [--what TEXT] [--why TEXT] [--when TIME] [--where TEXT] [--contact TEXT] [--attach FILE]... [--disconnect] [--from FILE] [--json]",
	  .description = "report something suspicious to the CSIRT (asks on a terminal for what is missing)" },
	{ .name = "outbox", .run = cmd_outbox,
	  .synopsis = "[--json]",
	  .description = "what waits for delivery to the CSIRT collector, and why" },
	{ .name = "drill", .words = drill_words,
	  .description = "drills: start, stop, history" },
	{ .name = "apply", .run = cmd_apply,
	  .synopsis = "[--json] FILE",
	  .description = "hand a signed command file to the agent" },
	{ .name = "watch", .run = cmd_watch,
	  .synopsis = "[--terminal PROG] [--once]",
	  .description = "the employee's session agent: desktop notices of isolation, release, drills" },
	/* on the CSIRT workstation */
	{ .name = "keygen", .run = cmd_keygen,
	  .synopsis = "NAME",
	  .description = "make a signing key pair: NAME.key (0600) and NAME.pub" },
	{ .name = "agent-id", .run = cmd_agent_id,
	  .synopsis = "FILE",
	  .description = "the agent id of a public key or certificate" },
	{ .name = "sign", .run = cmd_sign,
	  .synopsis = "-k KEY (--agent ID | --group G) --action A [--arg k=v | --arg k:=JSON]... [--args FILE] [--episode E] [--incident I] [--reason R] [--ttl S] [--valid-from EPOCH] [--keyid K] [-o FILE]",
	  .description = "sign a command for an agent (a DSSE envelope)" },
	{ .name = "cosign", .run = cmd_cosign,
	  .synopsis = "-k KEY [--keys DIR] [--keyid K] [--yes] [-o OUT] FILE",
	  .description = "add a signature to a signed command (two-person release)" },
	{ .name = "send", .run = cmd_send,
	  .synopsis = "--to HOST:PORT [--to ...] | --targets FILE  --cert CRT --key KEY [--ca CA] [--agent-id ID] [--by-agent] [--concurrency N] [--timeout MS] [--save-receipts DIR] [--json] FILE...\n"
	      "--broker mqtts://ADDR:PORT --ca CA --cert CRT --key KEY (--agent ID | --group G) [--expect FILE] [--timeout MS] [--save-receipts DIR] [--json] FILE...",
	  .description = "send signed commands to agents over mutual TLS, or through the fleet broker; verify the receipts" },
	{ .name = "fetch", .run = cmd_fetch,
	  .synopsis = "--to HOST:PORT --cert CRT --key KEY [--ca CA] --agent-id ID -k SIGNKEY [--keyid K] --id EVID -o DIR [--ttl S] [--timeout S] [--max-time S] [--json]\n"
	      "--verify DIR --agent-key FILE [--id ID] [--json]",
	  .description = "pull evidence from an agent and verify it; --verify: check it again" },
	{ .name = "collector", .run = cmd_collector,
	  .synopsis = "--listen ADDR:PORT --dir DIR --cert CRT --key KEY (--ca CA | --agents FILE) [--deny FILE] [--broker mqtts://ADDR:PORT [--broker-ca CA] [--broker-budget MIB]] [--exec PROG [--exec-timeout S]] [--agent-quota MIB] [--frame-timeout S] [--min-free-mib MIB]",
	  .description = "receive the agents' reports over mutual TLS (and through the fleet broker), store them durably, ack them" },
	{ .name = "reports", .run = cmd_reports,
	  .synopsis = "[--json] [--agent ID] [--type T] [--since TIME] DIR\n"
	      "--drills [--json] [--agent ID] [--since TIME] DIR",
	  .description = "what the collector stored in DIR, each signature verified again; --drills: the drills summed up" },
	{ .name = "help", .run = cmd_help,
	  .synopsis = "[command]",
	  .description = "this text, or what one command takes" },
	{ .name = NULL },
};

/* The command argv names, or why not (a usage error). */
static const struct command *
lookup(int argc, char **argv, int *used)
{
	const struct command *cmd;
	char name[256];
	int i, n;

	cmd = cmdtab_find(commands, argc, argv, used);
	if (cmd != NULL && (cmd->words == NULL || *used == argc))
		return cmd;
	/* the known words and the first unknown one */
	for (i = 0, n = 0; i <= *used && i < argc && n < (int)sizeof(name); i++)
		n += snprintf(name + n, sizeof(name) - (size_t)n, "%s%s",
		    i ? " " : "", argv[i]);
	fail_line("unknown command '%s' (try 'kakurictl help%s%s')", name,
	    *used ? " " : "", *used ? argv[0] : "");
	return NULL;
}

static int
cmd_help(struct ctl *c, int argc, char **argv)
{
	const struct command *cmd;
	int used, width;

	if (argc == 1) {
		cmdtab_usage_all(stdout, "usage: ", commands);
		printf("\ncommands:\n");
		width = cmdtab_width(commands);
		for (cmd = commands; cmd->name != NULL; cmd++)
			cmdtab_describe(stdout, &cmd->name, 1, cmd, width);
		return EX_DONE;
	}
	if ((cmd = lookup(argc - 1, argv + 1, &used)) == NULL)
		return EX_USAGE;
	cmdtab_usage(stdout, "usage: ", (const char *const *)argv + 1, used,
	    cmd);
	cmdtab_describe(stdout, (const char *const *)argv + 1, used, cmd, 0);
	return EX_DONE;
}

static void
usage(FILE *out)
{
	cmdtab_usage_all(out, "usage: ", commands);
}

int
main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "json", no_argument, NULL, 'J' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	struct ctl c = { .socket_path = DEFAULT_SOCKET };
	const struct command *cmd;
	int ch, used, ret;

	setlocale(LC_ALL, "");
	/* an agent that hangs up is an error message, not a SIGPIPE */
	signal(SIGPIPE, SIG_IGN);
	/* global options stop at the command name */
	while ((ch = getopt_long(argc, argv, "+s:h", longopts, NULL)) != -1) {
		switch (ch) {
		case 's':
			c.socket_path = optarg;
			break;
		case 'J':
			c.json = true;
			break;
		case 'h':
			return cmd_help(&c, 1, argv);
		default:
			usage(stderr);
			return EX_USAGE;
		}
	}
	if (optind >= argc) {
		usage(stderr);
		return EX_USAGE;
	}
	argc -= optind;
	argv += optind;
	if ((cmd = lookup(argc, argv, &used)) == NULL)
		return EX_USAGE;
	/* a word that wants one more: "drill" alone */
	ret = cmd->words != NULL ? EX_USAGE :
	    cmd->run(&c, argc - used + 1, argv + used - 1);
	if (ret == EX_USAGE)
		cmdtab_usage(stderr, "usage: ", (const char *const *)argv, used,
		    cmd);
	return ret;
}
