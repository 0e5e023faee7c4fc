/* Helpers the cmocka unit tests share: scratch directories outside the source tree,
 * and capturing the module's log lines to check what a failure said. */
#ifndef TPMHA_TESTS_UNIT_H
#define TPMHA_TESTS_UNIT_H

#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/log.h"

static inline int unit_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* A fresh directory under $TMPDIR (or /tmp); free with unit_tmpdir_free(). */
static inline char *unit_tmpdir(void)
{
	const char *base = getenv("TMPDIR");
	char *dir;

	if (!base || !*base)
		base = "/tmp";
	dir = malloc(strlen(base) + 32);
	if (!dir)
		abort();
	sprintf(dir, "%s/tpmha-unit.XXXXXX", base);
	if (!mkdtemp(dir))
		abort();
	return dir;
}

static inline void unit_tmpdir_free(char *dir)
{
	if (!dir)
		return;
	if (!getenv("TPMHA_UNIT_KEEP"))
		nftw(dir, unit_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	free(dir);
}

/* Point the module's log at a file in dir (level: what to capture). */
static inline char *unit_log_capture(const char *dir, enum log_level level)
{
	char *path = malloc(strlen(dir) + 16);
	char *target = malloc(strlen(dir) + 24);

	if (!path || !target)
		abort();
	sprintf(path, "%s/log.txt", dir);
	sprintf(target, "file:%s", path);
	remove(path);
	if (log_set_target(target) != 0)
		abort();
	free(target);
	log_set_level(level);
	return path;
}

/* The whole log file as a string (empty if none); free() it. */
static inline char *unit_log_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text;
	long n;

	if (!f)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	fseek(f, 0, SEEK_SET);
	text = calloc(1, (size_t)n + 1);
	if (!text || fread(text, 1, (size_t)n, f) != (size_t)n)
		abort();
	fclose(f);
	return text;
}

/* Number of lines in the log. */
static inline int unit_log_lines(const char *path)
{
	char *text = unit_log_read(path);
	int n = 0;

	for (char *p = text; *p; p++)
		n += *p == '\n';
	free(text);
	return n;
}

static inline void unit_log_quiet(void)
{
	log_close();
	log_set_level(getenv("TPMHA_UNIT_LOG") ? LOG_LEVEL_DEBUG : LOG_LEVEL_NONE);
}

#endif
