/* tpmha: the command tree, option parsing, help and messages. */
#include "config.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "conf/conf.h"
#include "tools/cli.h"

/* The top of the tree: one line each here, and a file of their own. */
static const struct cli_cmd *const top_cmds[] = {
	&status_cmd, &token_cmd, &key_cmd, &cert_cmd, &pin_cmd,
	&domain_cmd, &unit_cmd, &approval_cmd, &replicate_cmd, &receive_cmd, NULL,
};

static const char exit_help[] =
	"Exit status: 0 success, 1 usage error (nothing was done), 2 the operation failed,\n"
	"3 wrong PIN or the TPM is in dictionary-attack lockout.\n";

static const char top_more[] =
	"PINs are never given on the command line: tpmha asks for them at the terminal\n"
	"(without echo), or reads them with --pin-file FILE / --pin-env VAR (user PIN) and\n"
	"--so-pin-file FILE / --so-pin-env VAR (SO PIN); the migration authority's PIN or\n"
	"pass phrase with --ma-pin-file FILE / --ma-pin-env VAR.\n"
	"\n"
	"tpmha uses the same configuration as the PKCS#11 module: the file named by\n"
	"TPMHA_CONF (default %s), with TPMHA_TCTI and TPMHA_STORE\n"
	"overriding its tcti and store.\n"
	"\n"
	"Run `tpmha COMMAND --help` for a command's options. See also docs/cli.md.\n";

static const struct cli_cmd *find(const struct cli_cmd *const *list, const char *name)
{
	for (; *list; list++)
		if (strcmp((*list)->name, name) == 0)
			return *list;
	return NULL;
}

static void print_list(FILE *f, const char *prefix, const struct cli_cmd *const *list)
{
	for (; *list; list++) {
		const struct cli_cmd *cmd = *list;
		char name[64];
		snprintf(name, sizeof(name), "%s%s%s", prefix ? prefix : "", prefix ? " " : "", cmd->name);
		if (cmd->subs)
			print_list(f, name, cmd->subs);
		else
			fprintf(f, "  %-16s %s\n", name, cmd->summary);
	}
}

static void help_top(FILE *f)
{
	fprintf(f, "Usage: tpmha COMMAND [OPTIONS]\n"
		   "       tpmha --help | --version\n\n"
		   "Administer the tpmha PKCS#11 tokens of this machine, whose keys live in its TPM.\n\n"
		   "Commands:\n");
	print_list(f, NULL, top_cmds);
	fputc('\n', f);
	fprintf(f, top_more, config_default_path());
	fprintf(f, "\n%s", exit_help);
}

static void help_group(FILE *f, const char *path, const struct cli_cmd *group)
{
	fprintf(f, "Usage: tpmha %s SUBCOMMAND [OPTIONS]\n\n%c%s.\n\nSubcommands:\n", path,
		toupper((unsigned char)group->summary[0]), group->summary + 1);
	print_list(f, path, group->subs);
	fprintf(f, "\nRun `tpmha %s SUBCOMMAND --help` for its options.\n", path);
}

static void help_cmd(FILE *f, const struct cli *c)
{
	const struct cli_cmd *cmd = c->cmd;

	fprintf(f, "Usage: tpmha %s%s%s\n\n%c%s.\n\nOptions:\n", c->path, cmd->usage ? " " : "",
		cmd->usage ? cmd->usage : "", toupper((unsigned char)cmd->summary[0]), cmd->summary + 1);
	for (const struct cli_opt *o = cmd->opts; o && o->name; o++) {
		char left[48];
		snprintf(left, sizeof(left), "--%s%s%s", o->name, o->arg ? " " : "", o->arg ? o->arg : "");
		fprintf(f, "  %-24s %s\n", left, o->help);
	}
	fprintf(f, "  %-24s %s\n", "--help", "show this help");
	if (cmd->more)
		fprintf(f, "\n%s", cmd->more);
	fprintf(f, "\n%s", exit_help);
}

static int opt_index(const struct cli_cmd *cmd, const char *name, size_t len)
{
	for (int i = 0; cmd->opts && cmd->opts[i].name; i++) {
		if (i == CLI_MAX_OPTS) {
			fprintf(stderr, "tpmha: internal error: more than %d options\n", CLI_MAX_OPTS);
			abort();
		}
		if (strlen(cmd->opts[i].name) == len && strncmp(cmd->opts[i].name, name, len) == 0)
			return i;
	}
	return -1;
}

const char *cli_get(const struct cli *c, const char *name)
{
	int i = opt_index(c->cmd, name, strlen(name));

	if (i < 0) {
		/* A command asking for an option it does not declare: a bug, not a user error. */
		fprintf(stderr, "tpmha: internal error: %s has no option --%s\n", c->path, name);
		abort();
	}
	return c->val[i];
}

int cli_require(const struct cli *c, const char *name)
{
	return cli_has(c, name) ? CLI_OK : cli_usage(c, "%s needs --%s", c->path, name);
}

int cli_one_of(const struct cli *c, const char *a, const char *b, bool required)
{
	bool has_a = cli_has(c, a), has_b = cli_has(c, b);

	if (has_a && has_b)
		return cli_usage(c, "give --%s or --%s, not both", a, b);
	if (required && !has_a && !has_b)
		return cli_usage(c, "%s needs --%s or --%s", c->path, a, b);
	return CLI_OK;
}

int cli_usage(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fputs("tpmha: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'tpmha %s%s--help'.\n", c && c->path[0] ? c->path : "",
		c && c->path[0] ? " " : "");
	return CLI_USAGE;
}

int cli_fail(const char *fmt, ...)
{
	va_list ap;

	fputs("tpmha: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return CLI_FAILED;
}

/* One "--name[=value]" at argv[*i]. */
static int parse_one(struct cli *c, int argc, char **argv, int *i)
{
	const char *arg = argv[*i], *name, *eq;
	size_t len;
	int k;

	if (strncmp(arg, "--", 2) != 0)
		return cli_usage(c, "unexpected argument '%s'", arg);
	name = arg + 2;
	eq = strchr(name, '=');
	len = eq ? (size_t)(eq - name) : strlen(name);
	k = opt_index(c->cmd, name, len);
	if (k < 0)
		return cli_usage(c, "%s has no option '--%.*s'", c->path, (int)len, name);
	if (c->val[k])
		return cli_usage(c, "--%s is given twice", c->cmd->opts[k].name);
	if (!c->cmd->opts[k].arg) {
		if (eq)
			return cli_usage(c, "--%s takes no value", c->cmd->opts[k].name);
		c->val[k] = "";
		return CLI_OK;
	}
	if (eq) {
		c->val[k] = eq + 1;
	} else if (*i + 1 < argc && strncmp(argv[*i + 1], "--", 2) != 0) {
		c->val[k] = argv[++*i];
	} else {
		return cli_usage(c, "--%s needs a value (%s)", c->cmd->opts[k].name, c->cmd->opts[k].arg);
	}
	if (!c->val[k][0])
		return cli_usage(c, "--%s needs a non-empty value", c->cmd->opts[k].name);
	return CLI_OK;
}

/* Walk the tree from argv[1]; on return argv[*i] is the first option. */
static int parse_command(struct cli *c, int argc, char **argv, int *i)
{
	const struct cli_cmd *const *list = top_cmds;
	const struct cli_cmd *cmd = NULL;

	for (*i = 1; *i < argc; ++*i) {
		const char *word = argv[*i];
		if (word[0] == '-') {
			if (cmd && (strcmp(word, "--help") == 0 || strcmp(word, "-h") == 0)) {
				help_group(stdout, c->path, cmd);
				return -1;
			}
			break;
		}
		cmd = find(list, word);
		if (!cmd)
			return cli_usage(c, "unknown command '%s%s%s'", c->path, c->path[0] ? " " : "", word);
		snprintf(c->path + strlen(c->path), sizeof(c->path) - strlen(c->path), "%s%s",
			 c->path[0] ? " " : "", word);
		if (!cmd->subs) {
			c->cmd = cmd;
			++*i;
			return CLI_OK;
		}
		list = cmd->subs;
	}
	if (!cmd)
		return cli_usage(c, "no command given");
	fprintf(stderr, "tpmha: '%s' needs a subcommand:\n", c->path);
	print_list(stderr, c->path, cmd->subs);
	return CLI_USAGE;
}

static int parse(struct cli *c, int argc, char **argv)
{
	int i, rc;

	if (argc >= 2 && (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
			  strcmp(argv[1], "help") == 0)) {
		help_top(stdout);
		return -1;
	}
	if (argc >= 2 && strcmp(argv[1], "--version") == 0) {
		printf("tpmha %s\n", PACKAGE_VERSION);
		return -1;
	}
	if (argc >= 2 && argv[1][0] == '-')
		return cli_usage(c, "unknown option '%s' (options come after the command)", argv[1]);
	rc = parse_command(c, argc, argv, &i);
	if (rc != CLI_OK)
		return rc;
	/* --help wins over everything else on the line. */
	for (int k = i; k < argc; k++)
		if (strcmp(argv[k], "--help") == 0 || strcmp(argv[k], "-h") == 0) {
			help_cmd(stdout, c);
			return -1;
		}
	for (; rc == CLI_OK && i < argc; i++)
		rc = parse_one(c, argc, argv, &i);
	return rc;
}

int main(int argc, char **argv)
{
	struct cli c = { 0 };
	int rc = parse(&c, argc, argv);

	if (rc < 0)
		return CLI_OK; /* help or version shown */
	if (rc != CLI_OK)
		return rc;
	rc = c.cmd->run(&c);
	cli_p11_stop(&c);
	if (fflush(stdout) != 0 || ferror(stdout)) {
		perror("tpmha: writing the output");
		if (rc == CLI_OK)
			rc = CLI_FAILED;
	}
	return rc;
}
