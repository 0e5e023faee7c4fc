/* conf/conf.c: every key, every bad line (CKR_FUNCTION_FAILED and one log line with
 * file:line), the environment overrides, missing files. */
#include "config.h"

#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "conf/conf.h"
#include "unit.h"

struct fixture {
	char *dir;
	char *conf; /* dir/tpmha.conf */
	char *log;
};

static void clear_env(void)
{
	unsetenv("TPMHA_CONF");
	unsetenv("TPMHA_TCTI");
	unsetenv("TPMHA_STORE");
	unsetenv("TPMHA_LOG_LEVEL");
}

static int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	clear_env();
	f->dir = unit_tmpdir();
	f->conf = malloc(strlen(f->dir) + 16);
	sprintf(f->conf, "%s/tpmha.conf", f->dir);
	f->log = unit_log_capture(f->dir, LOG_LEVEL_ERROR);
	*state = f;
	return 0;
}

static int teardown(void **state)
{
	struct fixture *f = *state;

	clear_env();
	unit_log_quiet();
	unit_tmpdir_free(f->dir);
	free(f->conf);
	free(f->log);
	free(f);
	return 0;
}

static void write_conf(const struct fixture *f, const char *text)
{
	FILE *file = fopen(f->conf, "w");

	assert_non_null(file);
	fputs(text, file);
	fclose(file);
}

static void test_defaults(void **state)
{
	struct tpmha_config *cfg = NULL;

	(void)state;
	assert_int_equal(config_load_file(NULL, &cfg), CKR_OK);
	assert_null(cfg->path);
	assert_string_equal(cfg->store_dir, TPMHA_DEFAULT_STORE);
	assert_int_equal(cfg->tpm_version, 20);
	assert_string_equal(cfg->tcti, "device:/dev/tpmrm0");
	assert_string_equal(cfg->tcsd_host, "127.0.0.1");
	assert_int_equal(cfg->tcsd_port, 30003);
	assert_false(cfg->owner_auth.set);
	assert_int_equal(cfg->owner_auth.len, 0);
	assert_false(cfg->srk_auth.set);
	assert_string_equal(cfg->log_target, "stderr");
	assert_int_equal(cfg->log_level, LOG_LEVEL_WARN);
	assert_int_equal(cfg->max_loaded_keys, 0);
	config_free(cfg);
	config_free(NULL);
}

static void test_every_key(void **state)
{
	struct fixture *f = *state;
	struct tpmha_config *cfg = NULL;
	char *text;

	write_conf(f, "# a comment\n"
		      "\n"
		      "   # an indented comment\n"
		      "store = /var/tmp/tpmha store \n"
		      "\ttcti=swtpm:host=127.0.0.1,port=2321\n"
		      "tpm_version = 1.2\n"
		      "tcsd = tcsd.example:30004\n"
		      "owner_auth = hex:00FFa5\n"
		      "srk_auth = well known\n"
		      "log = file:/var/log/tpmha.log\n"
		      "log_level = debug\n"
		      "max_loaded_keys = 1000\n"
		      "   \n");
	assert_int_equal(config_load_file(f->conf, &cfg), CKR_OK);
	assert_string_equal(cfg->path, f->conf);
	assert_string_equal(cfg->store_dir, "/var/tmp/tpmha store");
	assert_string_equal(cfg->tcti, "swtpm:host=127.0.0.1,port=2321");
	assert_int_equal(cfg->tpm_version, 12);
	assert_string_equal(cfg->tcsd_host, "tcsd.example");
	assert_int_equal(cfg->tcsd_port, 30004);
	assert_true(cfg->owner_auth.set);
	assert_int_equal(cfg->owner_auth.len, 3);
	assert_memory_equal(cfg->owner_auth.value, "\x00\xff\xa5", 3);
	assert_true(cfg->srk_auth.set);
	assert_int_equal(cfg->srk_auth.len, 10);
	assert_memory_equal(cfg->srk_auth.value, "well known", 10);
	assert_string_equal(cfg->log_target, "file:/var/log/tpmha.log");
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	assert_int_equal(cfg->max_loaded_keys, 1000);
	config_free(cfg);
	text = unit_log_read(f->log);
	assert_string_equal(text, "");
	free(text);

	/* the other spellings */
	write_conf(f, "tpm_version = 2.0\nlog = syslog\nlog_level = 0\nowner_auth = \nsrk_auth = hex:\n"
		      "max_loaded_keys = 0\ntcsd = [::1]:1\n");
	assert_int_equal(config_load_file(f->conf, &cfg), CKR_OK);
	assert_int_equal(cfg->tpm_version, 20);
	assert_string_equal(cfg->log_target, "syslog");
	assert_int_equal(cfg->log_level, LOG_LEVEL_NONE);
	assert_true(cfg->owner_auth.set);
	assert_int_equal(cfg->owner_auth.len, 0);
	assert_true(cfg->srk_auth.set);
	assert_int_equal(cfg->srk_auth.len, 0);
	assert_string_equal(cfg->tcsd_host, "[::1]");
	assert_int_equal(cfg->tcsd_port, 1);
	config_free(cfg);
	write_conf(f, "tpm_version = 2\nlog = stderr\nlog_level = WARNING\n");
	assert_int_equal(config_load_file(f->conf, &cfg), CKR_OK);
	assert_int_equal(cfg->tpm_version, 20);
	assert_int_equal(cfg->log_level, LOG_LEVEL_WARN);
	config_free(cfg);
	/* a later line wins */
	write_conf(f, "tcti = mssim\ntcti = tabrmd\n");
	assert_int_equal(config_load_file(f->conf, &cfg), CKR_OK);
	assert_string_equal(cfg->tcti, "tabrmd");
	config_free(cfg);
	/* 64 bytes of secret is the most */
	write_conf(f, "owner_auth = 0123456789012345678901234567890123456789012345678901234567890123\n");
	assert_int_equal(config_load_file(f->conf, &cfg), CKR_OK);
	assert_int_equal(cfg->owner_auth.len, 64);
	config_free(cfg);
}

static void test_bad_lines(void **state)
{
	struct fixture *f = *state;
	static const struct {
		const char *line;
		const char *says;
	} bad[] = {
		{ "just words", "expected 'key = value'" },
		{ "unknown_key = 1", "unknown key" },
		{ "= value", "unknown key" },
		{ "store = relative/path", "absolute path" },
		{ "store =", "absolute path" },
		{ "tpm_version = 3", "2.0 or 1.2" },
		{ "tpm_version = 1.1", "2.0 or 1.2" },
		{ "tcsd = nohost", "host:port" },
		{ "tcsd = :30003", "host:port" },
		{ "tcsd = host:0", "1 to 65535" },
		{ "tcsd = host:65536", "1 to 65535" },
		{ "tcsd = host:12x", "1 to 65535" },
		{ "tcsd = host:", "1 to 65535" },
		{ "owner_auth = hex:abc", "odd number" },
		{ "owner_auth = hex:zz", "non-hex" },
		{ "srk_auth = hex:00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff01", "longer than 64" },
		{ "owner_auth = 01234567890123456789012345678901234567890123456789012345678901234", "longer than 64" },
		{ "log = journald", "stderr, syslog or file" },
		{ "log = file:relative.log", "stderr, syslog or file" },
		{ "log_level = loud", "log_level must be" },
		{ "log_level = 5", "log_level must be" },
		{ "max_loaded_keys = 1001", "0 to 1000" },
		{ "max_loaded_keys = -1", "0 to 1000" },
		{ "max_loaded_keys = 3 keys", "0 to 1000" },
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct tpmha_config *cfg = (struct tpmha_config *)0x1;
		char text[512], where[4200];
		char *log;

		snprintf(text, sizeof(text), "# header\nstore = /tmp/ok\n%s\nlog_level = info\n", bad[i].line);
		write_conf(f, text);
		free(f->log);
		f->log = unit_log_capture(f->dir, LOG_LEVEL_ERROR);
		if (config_load_file(f->conf, &cfg) != CKR_FUNCTION_FAILED)
			fail_msg("'%s' was accepted", bad[i].line);
		assert_ptr_equal(cfg, (struct tpmha_config *)0x1); /* untouched */
		log = unit_log_read(f->log);
		snprintf(where, sizeof(where), "%s:3: ", f->conf);
		if (!strstr(log, where) || !strstr(log, bad[i].says))
			fail_msg("'%s': log says '%s'", bad[i].line, log);
		assert_int_equal(unit_log_lines(f->log), 1);
		free(log);
	}
}

static void test_long_line(void **state)
{
	struct fixture *f = *state;
	struct tpmha_config *cfg = NULL;
	char *text = malloc(6000), where[4200], *log;

	strcpy(text, "store = /tmp/x\ntcti = ");
	memset(text + strlen(text), 'a', 5000);
	strcpy(text + strlen("store = /tmp/x\ntcti = ") + 5000, "\n");
	write_conf(f, text);
	assert_int_equal(config_load_file(f->conf, &cfg), CKR_FUNCTION_FAILED);
	log = unit_log_read(f->log);
	snprintf(where, sizeof(where), "%s:2: line is longer", f->conf);
	assert_non_null(strstr(log, where));
	free(log);
	free(text);
	/* a file without a final newline is fine */
	write_conf(f, "tcti = mssim");
	assert_int_equal(config_load_file(f->conf, &cfg), CKR_OK);
	assert_string_equal(cfg->tcti, "mssim");
	config_free(cfg);
}

static void test_env_overrides(void **state)
{
	struct fixture *f = *state;
	struct tpmha_config *cfg = NULL;

	write_conf(f, "store = /from/file\ntcti = from-file\nlog_level = error\n");
	setenv("TPMHA_CONF", f->conf, 1);
	assert_string_equal(config_default_path(), f->conf);
	assert_int_equal(config_load(&cfg), CKR_OK);
	assert_string_equal(cfg->path, f->conf);
	assert_string_equal(cfg->store_dir, "/from/file");
	assert_string_equal(cfg->tcti, "from-file");
	assert_int_equal(cfg->log_level, LOG_LEVEL_ERROR);
	config_free(cfg);

	setenv("TPMHA_TCTI", "swtpm:port=9999", 1);
	setenv("TPMHA_STORE", "/from/env", 1);
	setenv("TPMHA_LOG_LEVEL", "debug", 1);
	assert_int_equal(config_load(&cfg), CKR_OK);
	assert_string_equal(cfg->store_dir, "/from/env");
	assert_string_equal(cfg->tcti, "swtpm:port=9999");
	assert_int_equal(cfg->log_level, LOG_LEVEL_DEBUG);
	config_free(cfg);

	/* empty variables do not override */
	setenv("TPMHA_TCTI", "", 1);
	setenv("TPMHA_STORE", "", 1);
	setenv("TPMHA_LOG_LEVEL", "", 1);
	assert_int_equal(config_load(&cfg), CKR_OK);
	assert_string_equal(cfg->store_dir, "/from/file");
	assert_string_equal(cfg->tcti, "from-file");
	assert_int_equal(cfg->log_level, LOG_LEVEL_ERROR);
	config_free(cfg);

	/* but bad ones fail, with a log line */
	setenv("TPMHA_STORE", "relative", 1);
	assert_int_equal(config_load(&cfg), CKR_FUNCTION_FAILED);
	setenv("TPMHA_STORE", "", 1);
	setenv("TPMHA_LOG_LEVEL", "chatty", 1);
	assert_int_equal(config_load(&cfg), CKR_FUNCTION_FAILED);
	{
		char *log = unit_log_read(f->log);
		assert_non_null(strstr(log, "TPMHA_STORE"));
		assert_non_null(strstr(log, "TPMHA_LOG_LEVEL"));
		free(log);
	}
	/* the environment does not rescue a bad file */
	setenv("TPMHA_LOG_LEVEL", "info", 1);
	write_conf(f, "log_level = chatty\n");
	assert_int_equal(config_load(&cfg), CKR_FUNCTION_FAILED);
	/* config_load_file does not read the environment */
	write_conf(f, "tcti = from-file\n");
	setenv("TPMHA_TCTI", "from-env", 1);
	assert_int_equal(config_load_file(f->conf, &cfg), CKR_OK);
	assert_string_equal(cfg->tcti, "from-file");
	config_free(cfg);
}

static void test_missing_files(void **state)
{
	struct fixture *f = *state;
	struct tpmha_config *cfg = NULL;
	char missing[4200], *log;

	/* a file someone named must exist */
	snprintf(missing, sizeof(missing), "%s/nope.conf", f->dir);
	setenv("TPMHA_CONF", missing, 1);
	assert_int_equal(config_load(&cfg), CKR_FUNCTION_FAILED);
	log = unit_log_read(f->log);
	assert_non_null(strstr(log, missing));
	assert_int_equal(unit_log_lines(f->log), 1);
	free(log);
	assert_int_equal(config_load_file(missing, &cfg), CKR_FUNCTION_FAILED);

	/* the built-in default may be absent: then defaults */
	unsetenv("TPMHA_CONF");
	assert_string_equal(config_default_path(), TPMHA_SYSCONFDIR "/tpmha/tpmha.conf");
	setenv("TPMHA_CONF", "", 1);
	assert_string_equal(config_default_path(), TPMHA_SYSCONFDIR "/tpmha/tpmha.conf");
	if (access(config_default_path(), F_OK) == 0) {
		skip();
		return;
	}
	setenv("TPMHA_TCTI", "mssim:port=1", 1);
	assert_int_equal(config_load(&cfg), CKR_OK);
	assert_null(cfg->path);
	assert_string_equal(cfg->store_dir, TPMHA_DEFAULT_STORE);
	assert_string_equal(cfg->tcti, "mssim:port=1"); /* the environment still applies */
	config_free(cfg);
}

/* A path that opens but does not read (a directory) is not an empty configuration. */
static void test_directory_as_config(void **state)
{
	struct fixture *f = *state;
	struct tpmha_config *cfg = NULL;
	char *log;

	setenv("TPMHA_CONF", f->dir, 1);
	if (config_load(&cfg) == CKR_OK) {
		config_free(cfg);
		fail_msg("TPMHA_CONF=%s (a directory) loaded as defaults", f->dir);
	}
	log = unit_log_read(f->log);
	assert_non_null(strstr(log, f->dir));
	free(log);
}

static void test_log_levels(void **state)
{
	(void)state;
	assert_int_equal(log_level_parse("none"), LOG_LEVEL_NONE);
	assert_int_equal(log_level_parse("error"), LOG_LEVEL_ERROR);
	assert_int_equal(log_level_parse("warning"), LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("warn"), LOG_LEVEL_WARN);
	assert_int_equal(log_level_parse("INFO"), LOG_LEVEL_INFO);
	assert_int_equal(log_level_parse("Debug"), LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("4"), LOG_LEVEL_DEBUG);
	assert_int_equal(log_level_parse("44"), -1);
	assert_int_equal(log_level_parse(""), -1);
	assert_int_equal(log_level_parse(NULL), -1);
	assert_int_equal(log_set_target("file:/nonexistent-dir/x/y.log"), -1);
	log_write(LOG_LEVEL_ERROR, __func__, "after a file that does not open (to stderr)");
	assert_int_equal(log_set_target("stderr"), 0);
}

/* A refused target must leave a working one behind. In a child: a crash inside
 * log_write() would leave the log lock held for the rest of this program. */
static void test_log_refused_target(void **state)
{
	struct fixture *f = *state;
	char target[4200];
	int status = 0;
	pid_t pid;

	snprintf(target, sizeof(target), "file:%s/second.log", f->dir);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		/* cmocka's handlers would carry on with the parent's tests in here */
		signal(SIGSEGV, SIG_DFL);
		signal(SIGBUS, SIG_DFL);
		signal(SIGABRT, SIG_DFL);
		if (log_set_target(target) != 0)
			_exit(2);
		if (log_set_target("bogus") != -1)
			_exit(3);
		log_write(LOG_LEVEL_ERROR, "test", "after a refused target");
		_exit(0);
	}
	assert_int_equal(waitpid(pid, &status, 0), pid);
	if (!WIFEXITED(status))
		fail_msg("log_write() after log_set_target(\"bogus\") died of signal %d", WTERMSIG(status));
	assert_int_equal(WEXITSTATUS(status), 0);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_every_key, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_lines, setup, teardown),
		cmocka_unit_test_setup_teardown(test_long_line, setup, teardown),
		cmocka_unit_test_setup_teardown(test_env_overrides, setup, teardown),
		cmocka_unit_test_setup_teardown(test_missing_files, setup, teardown),
		cmocka_unit_test_setup_teardown(test_directory_as_config, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_levels, setup, teardown),
		cmocka_unit_test_setup_teardown(test_log_refused_target, setup, teardown),
	};

	unit_log_quiet();
	return cmocka_run_group_tests_name("conf", tests, NULL, NULL);
}
