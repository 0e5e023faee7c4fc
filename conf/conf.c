#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/secret.h"
#include "conf/conf.h"

#define DEFAULT_CONF TPMHA_SYSCONFDIR "/tpmha/tpmha.conf"

const char *config_default_path(void)
{
	const char *env = getenv("TPMHA_CONF");
	return env && *env ? env : DEFAULT_CONF;
}

static CK_RV set_string(char **field, const char *value)
{
	char *copy = strdup(value);

	if (!copy)
		return CKR_HOST_MEMORY;
	free(*field);
	*field = copy;
	return CKR_OK;
}

static int hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	c = tolower(c);
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

/* "text" is taken as bytes; "hex:0011..." as hex. */
static const char *parse_secret(const char *value, struct config_secret *out)
{
	size_t n;

	memset(out, 0, sizeof(*out));
	if (strncmp(value, "hex:", 4) == 0) {
		value += 4;
		n = strlen(value);
		if (n % 2)
			return "hex value has an odd number of digits";
		if (n / 2 > CONFIG_SECRET_MAX)
			return "secret is longer than 64 bytes";
		for (size_t i = 0; i < n / 2; i++) {
			int hi = hexval(value[2 * i]), lo = hexval(value[2 * i + 1]);
			if (hi < 0 || lo < 0)
				return "hex value has a non-hex digit";
			out->value[i] = (uint8_t)(hi << 4 | lo);
		}
		out->len = n / 2;
	} else {
		n = strlen(value);
		if (n > CONFIG_SECRET_MAX)
			return "secret is longer than 64 bytes";
		memcpy(out->value, value, n);
		out->len = n;
	}
	out->set = true;
	return NULL;
}

static const char *parse_host_port(const char *value, char **host, unsigned *port)
{
	const char *colon = strrchr(value, ':');
	char *end;
	unsigned long p;

	if (!colon || colon == value)
		return "expected host:port";
	errno = 0;
	p = strtoul(colon + 1, &end, 10);
	if (errno || *end || p == 0 || p > 65535)
		return "the port is not a number from 1 to 65535";
	free(*host);
	*host = strndup(value, (size_t)(colon - value));
	if (!*host)
		return "out of memory";
	*port = (unsigned)p;
	return NULL;
}

/* Apply one key; NULL on success, else what is wrong. */
static const char *config_apply(struct tpmha_config *cfg, const char *key, const char *value)
{
	if (strcmp(key, "store") == 0) {
		if (value[0] != '/')
			return "store must be an absolute path";
		return set_string(&cfg->store_dir, value) == CKR_OK ? NULL : "out of memory";
	}
	if (strcmp(key, "tcti") == 0)
		return set_string(&cfg->tcti, value) == CKR_OK ? NULL : "out of memory";
	if (strcmp(key, "tpm_version") == 0) {
		if (strcmp(value, "2.0") == 0 || strcmp(value, "2") == 0)
			cfg->tpm_version = 20;
		else if (strcmp(value, "1.2") == 0)
			cfg->tpm_version = 12;
		else
			return "tpm_version must be 2.0 or 1.2";
		return NULL;
	}
	if (strcmp(key, "tcsd") == 0)
		return parse_host_port(value, &cfg->tcsd_host, &cfg->tcsd_port);
	if (strcmp(key, "owner_auth") == 0)
		return parse_secret(value, &cfg->owner_auth);
	if (strcmp(key, "srk_auth") == 0)
		return parse_secret(value, &cfg->srk_auth);
	if (strcmp(key, "log") == 0) {
		if (strcmp(value, "stderr") && strcmp(value, "syslog") &&
		    (strncmp(value, "file:/", 6) != 0))
			return "log must be stderr, syslog or file:/absolute/path";
		return set_string(&cfg->log_target, value) == CKR_OK ? NULL : "out of memory";
	}
	if (strcmp(key, "log_level") == 0) {
		int level = log_level_parse(value);
		if (level < 0)
			return "log_level must be none, error, warning, info or debug";
		cfg->log_level = (enum log_level)level;
		return NULL;
	}
	if (strcmp(key, "max_loaded_keys") == 0) {
		char *end;
		unsigned long n;
		errno = 0;
		n = strtoul(value, &end, 10);
		if (errno || *end || n > 1000)
			return "max_loaded_keys must be a number from 0 to 1000";
		cfg->max_loaded_keys = (unsigned)n;
		return NULL;
	}
	return "unknown key";
}

static char *trim(char *s)
{
	char *end;

	while (isspace((unsigned char)*s))
		s++;
	end = s + strlen(s);
	while (end > s && isspace((unsigned char)end[-1]))
		*--end = '\0';
	return s;
}

static CK_RV config_defaults(struct tpmha_config **out)
{
	struct tpmha_config *cfg = calloc(1, sizeof(*cfg));

	if (!cfg)
		return CKR_HOST_MEMORY;
	cfg->tpm_version = 20;
	cfg->log_level = LOG_LEVEL_WARN;
	cfg->tcsd_port = 30003;
	if (set_string(&cfg->store_dir, TPMHA_DEFAULT_STORE) != CKR_OK ||
	    set_string(&cfg->tcti, "device:/dev/tpmrm0") != CKR_OK ||
	    set_string(&cfg->tcsd_host, "127.0.0.1") != CKR_OK ||
	    set_string(&cfg->log_target, "stderr") != CKR_OK) {
		config_free(cfg);
		return CKR_HOST_MEMORY;
	}
	*out = cfg;
	return CKR_OK;
}

CK_RV config_load_file(const char *path, struct tpmha_config **out)
{
	struct tpmha_config *cfg = NULL;
	FILE *f = NULL;
	char line[4096];
	unsigned lineno = 0;
	CK_RV rv;

	rv = config_defaults(&cfg);
	if (rv != CKR_OK)
		return rv;
	if (!path)
		goto done;
	f = fopen(path, "re");
	if (!f) {
		LOGE("%s: cannot read the configuration: %s", path, strerror(errno));
		rv = CKR_FUNCTION_FAILED;
		goto fail;
	}
	rv = set_string(&cfg->path, path);
	if (rv != CKR_OK)
		goto fail;
	while (fgets(line, sizeof(line), f)) {
		char *key, *value, *eq, *text;
		const char *problem;

		lineno++;
		if (!strchr(line, '\n') && !feof(f)) {
			LOGE("%s:%u: line is longer than %zu characters", path, lineno, sizeof(line) - 2);
			rv = CKR_FUNCTION_FAILED;
			goto fail;
		}
		text = trim(line);
		if (*text == '\0' || *text == '#')
			continue;
		eq = strchr(text, '=');
		if (!eq) {
			LOGE("%s:%u: expected 'key = value', got '%s'", path, lineno, text);
			rv = CKR_FUNCTION_FAILED;
			goto fail;
		}
		*eq = '\0';
		key = trim(text);
		value = trim(eq + 1);
		problem = config_apply(cfg, key, value);
		if (problem) {
			LOGE("%s:%u: %s: %s", path, lineno, key, problem);
			rv = CKR_FUNCTION_FAILED;
			goto fail;
		}
	}
	if (ferror(f)) {
		/* A directory opens fine and fails at the first read (EISDIR). */
		LOGE("%s: cannot read the configuration: %s", path, strerror(errno));
		rv = CKR_FUNCTION_FAILED;
		goto fail;
	}
	secret_wipe(line, sizeof(line));
	fclose(f);
done:
	*out = cfg;
	return CKR_OK;
fail:
	secret_wipe(line, sizeof(line));
	if (f)
		fclose(f);
	config_free(cfg);
	return rv;
}

CK_RV config_load(struct tpmha_config **out)
{
	const char *env_conf = getenv("TPMHA_CONF");
	const char *path = config_default_path();
	struct tpmha_config *cfg = NULL;
	const char *env;
	CK_RV rv;

	/* Only the built-in default may be absent; a file someone named must exist. */
	if (!(env_conf && *env_conf)) {
		FILE *probe = fopen(path, "re");
		if (probe)
			fclose(probe);
		else if (errno == ENOENT)
			path = NULL;
	}
	rv = config_load_file(path, &cfg);
	if (rv != CKR_OK)
		return rv;

	env = getenv("TPMHA_TCTI");
	if (env && *env && set_string(&cfg->tcti, env) != CKR_OK)
		goto oom;
	env = getenv("TPMHA_STORE");
	if (env && *env) {
		if (env[0] != '/') {
			LOGE("TPMHA_STORE: store must be an absolute path, got '%s'", env);
			config_free(cfg);
			return CKR_FUNCTION_FAILED;
		}
		if (set_string(&cfg->store_dir, env) != CKR_OK)
			goto oom;
	}
	env = getenv("TPMHA_LOG_LEVEL");
	if (env && *env) {
		int level = log_level_parse(env);
		if (level < 0) {
			LOGE("TPMHA_LOG_LEVEL: must be none, error, warning, info or debug, got '%s'", env);
			config_free(cfg);
			return CKR_FUNCTION_FAILED;
		}
		cfg->log_level = (enum log_level)level;
	}
	*out = cfg;
	return CKR_OK;
oom:
	config_free(cfg);
	return CKR_HOST_MEMORY;
}

void config_free(struct tpmha_config *cfg)
{
	if (!cfg)
		return;
	free(cfg->path);
	free(cfg->store_dir);
	free(cfg->tcti);
	free(cfg->tcsd_host);
	free(cfg->log_target);
	secret_wipe(&cfg->owner_auth, sizeof(cfg->owner_auth));
	secret_wipe(&cfg->srk_auth, sizeof(cfg->srk_auth));
	free(cfg);
}
