/* PINs: from a file, an environment variable or the terminal — never from the
 * command line, where every user of the machine can read them in /proc. Every
 * buffer that held one is wiped. */
#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include "common/secret.h"
#include "tools/cli.h"

void cli_pin_clear(struct pin *p)
{
	secret_wipe(p, sizeof(*p));
}

/* Read one line from fd, byte by byte (no stdio buffer keeps a copy). The line
 * ends at '\n', "\r\n" or the end of the input. -1: read error; -2: too long. */
static int read_line(int fd, struct pin *p)
{
	char ch;

	p->len = 0;
	for (;;) {
		ssize_t n = read(fd, &ch, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0 || ch == '\n')
			break;
		if (p->len == sizeof(p->value) - 1) {
			ch = 0;
			return -2;
		}
		p->value[p->len++] = ch;
	}
	ch = 0;
	if (p->len && p->value[p->len - 1] == '\r')
		p->len--;
	p->value[p->len] = '\0';
	return p->len > PIN_MAX_LEN ? -2 : 0;
}

static int pin_from_file(const struct cli *c, const char *opt, const char *path, struct pin *p)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC), rc;

	if (fd < 0)
		return cli_usage(c, "--%s: cannot open %s: %s", opt, path, strerror(errno));
	rc = read_line(fd, p);
	close(fd);
	if (rc == -1)
		return cli_usage(c, "--%s: cannot read %s: %s", opt, path, strerror(errno));
	if (rc == -2)
		return cli_usage(c, "--%s: the PIN in %s is longer than %d characters", opt, path, PIN_MAX_LEN);
	return CLI_OK;
}

static int pin_from_env(const struct cli *c, const char *opt, const char *var, struct pin *p)
{
	const char *v = getenv(var);
	size_t len;

	if (!v)
		return cli_usage(c, "--%s: the environment variable %s is not set", opt, var);
	len = strlen(v);
	if (len > PIN_MAX_LEN)
		return cli_usage(c, "--%s: the PIN in %s is longer than %d characters", opt, var, PIN_MAX_LEN);
	memcpy(p->value, v, len + 1);
	p->len = len;
	return CLI_OK;
}

/* ---- the terminal: echo off while the PIN is typed, back on whatever happens ---- */

static struct termios saved_tty;
static volatile sig_atomic_t tty_changed;
static const int tty_signals[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT };
#define N_TTY_SIGNALS (sizeof(tty_signals) / sizeof(tty_signals[0]))
static struct sigaction saved_actions[N_TTY_SIGNALS];

static void tty_restore(void)
{
	if (tty_changed) {
		tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved_tty);
		tty_changed = 0;
	}
}

static void on_signal(int sig)
{
	tty_restore();
	/* A new line, so the shell prompt does not start after ours. */
	(void)!write(STDERR_FILENO, "\n", 1);
	signal(sig, SIG_DFL);
	raise(sig);
}

static int echo_off(void)
{
	struct termios t;
	struct sigaction sa;

	if (tcgetattr(STDIN_FILENO, &saved_tty) != 0)
		return -1;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < N_TTY_SIGNALS; i++)
		sigaction(tty_signals[i], &sa, &saved_actions[i]);
	t = saved_tty;
	t.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	t.c_lflag |= ICANON;
	tty_changed = 1;
	if (tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) != 0) {
		tty_restore();
		return -1;
	}
	return 0;
}

static void echo_on(void)
{
	tty_restore();
	for (size_t i = 0; i < N_TTY_SIGNALS; i++)
		sigaction(tty_signals[i], &saved_actions[i], NULL);
	fputc('\n', stderr);
}

static int prompt_once(const struct cli *c, const char *prompt, struct pin *p)
{
	int rc;

	fprintf(stderr, "%s: ", prompt);
	fflush(stderr);
	if (echo_off() != 0)
		return cli_usage(c, "cannot turn off the terminal's echo: %s", strerror(errno));
	rc = read_line(STDIN_FILENO, p);
	echo_on();
	if (rc == -1)
		return cli_usage(c, "cannot read the PIN from the terminal: %s", strerror(errno));
	if (rc == -2)
		return cli_usage(c, "the PIN is longer than %d characters", PIN_MAX_LEN);
	return CLI_OK;
}

static int pin_from_tty(const struct cli *c, const char *what, bool new_pin, struct pin *p)
{
	struct pin again;
	char prompt[96];
	int rc;

	snprintf(prompt, sizeof(prompt), "%s", what);
	prompt[0] = (char)toupper((unsigned char)prompt[0]);
	rc = prompt_once(c, prompt, p);
	if (rc != CLI_OK || !new_pin)
		return rc;
	snprintf(prompt, sizeof(prompt), "Repeat the %s", what);
	rc = prompt_once(c, prompt, &again);
	if (rc == CLI_OK && (again.len != p->len || secret_cmp(again.value, p->value, p->len) != 0))
		rc = cli_usage(c, "the two entries of the %s differ", what);
	cli_pin_clear(&again);
	return rc;
}

int cli_pin_get(const struct cli *c, const char *file_opt, const char *env_opt, const char *what,
	    bool new_pin, struct pin *out)
{
	const char *file = cli_get(c, file_opt), *env = cli_get(c, env_opt);
	int rc = cli_one_of(c, file_opt, env_opt, false);

	memset(out, 0, sizeof(*out));
	if (rc != CLI_OK)
		return rc;
	if (file)
		rc = pin_from_file(c, file_opt, file, out);
	else if (env)
		rc = pin_from_env(c, env_opt, env, out);
	else if (isatty(STDIN_FILENO))
		rc = pin_from_tty(c, what, new_pin, out);
	else
		return cli_usage(c, "the %s is needed: give --%s or --%s (stdin is not a terminal to ask at)",
				 what, file_opt, env_opt);
	if (rc == CLI_OK && out->len == 0)
		rc = cli_usage(c, "the %s is empty", what);
	if (rc == CLI_OK && new_pin && (out->len < PIN_MIN_LEN || out->len > PIN_MAX_LEN))
		rc = cli_usage(c, "the %s must have %d to %d characters", what, PIN_MIN_LEN, PIN_MAX_LEN);
	if (rc != CLI_OK)
		cli_pin_clear(out);
	return rc;
}
