#include "config.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <syslog.h>
#include <unistd.h>

#include "common/log.h"

enum log_level log_current_level = LOG_LEVEL_WARN;

static enum { TARGET_STDERR, TARGET_SYSLOG, TARGET_FILE } log_target = TARGET_STDERR;
static FILE *log_file;
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;

static const char *const level_names[] = {
	[LOG_LEVEL_NONE] = "none",
	[LOG_LEVEL_ERROR] = "error",
	[LOG_LEVEL_WARN] = "warning",
	[LOG_LEVEL_INFO] = "info",
	[LOG_LEVEL_DEBUG] = "debug",
};

int log_level_parse(const char *text)
{
	if (!text)
		return -1;
	for (int i = LOG_LEVEL_NONE; i <= LOG_LEVEL_DEBUG; i++)
		if (strcasecmp(text, level_names[i]) == 0)
			return i;
	if (strcasecmp(text, "warn") == 0)
		return LOG_LEVEL_WARN;
	if (text[0] >= '0' && text[0] <= '4' && text[1] == '\0')
		return text[0] - '0';
	return -1;
}

void log_set_level(enum log_level level)
{
	log_current_level = level;
}

int log_set_target(const char *target)
{
	int rc = 0;

	pthread_mutex_lock(&log_lock);
	if (log_file) {
		fclose(log_file);
		log_file = NULL;
	}
	if (!target || strcmp(target, "stderr") == 0) {
		log_target = TARGET_STDERR;
	} else if (strcmp(target, "syslog") == 0) {
		log_target = TARGET_SYSLOG;
	} else if (strncmp(target, "file:", 5) == 0) {
		log_file = fopen(target + 5, "ae");
		if (log_file) {
			setvbuf(log_file, NULL, _IOLBF, 0);
			log_target = TARGET_FILE;
		} else {
			log_target = TARGET_STDERR;
			rc = -1;
		}
	} else {
		log_target = TARGET_STDERR; /* the file target's FILE is closed above */
		rc = -1;
	}
	pthread_mutex_unlock(&log_lock);
	return rc;
}

void log_close(void)
{
	pthread_mutex_lock(&log_lock);
	if (log_file)
		fclose(log_file);
	log_file = NULL;
	log_target = TARGET_STDERR;
	pthread_mutex_unlock(&log_lock);
}

void log_write(enum log_level level, const char *func, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);

	pthread_mutex_lock(&log_lock);
	switch (log_target) {
	case TARGET_SYSLOG: {
		static const int prio[] = { LOG_ERR, LOG_ERR, LOG_WARNING, LOG_INFO, LOG_DEBUG };
		syslog(LOG_USER | prio[level], "tpmha: %s: %s", func, msg);
		break;
	}
	case TARGET_FILE:
		fprintf(log_file, "tpmha[%ld] %s: %s: %s\n", (long)getpid(), level_names[level], func, msg);
		break;
	case TARGET_STDERR:
		fprintf(stderr, "tpmha[%ld] %s: %s: %s\n", (long)getpid(), level_names[level], func, msg);
		break;
	}
	pthread_mutex_unlock(&log_lock);
}
