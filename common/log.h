/* Logging: one line per event, to stderr, syslog or a file. */
#ifndef TPMHA_COMMON_LOG_H
#define TPMHA_COMMON_LOG_H

#include <stdarg.h>

enum log_level {
	LOG_LEVEL_NONE = 0,
	LOG_LEVEL_ERROR,
	LOG_LEVEL_WARN,
	LOG_LEVEL_INFO,
	LOG_LEVEL_DEBUG,
};

extern enum log_level log_current_level;

/* Parse "none|error|warning|info|debug" (also 0..4); -1 on anything else. */
int log_level_parse(const char *text);

/* target: "stderr", "syslog" or "file:/path". Returns 0, or -1 if the file cannot be opened. */
int log_set_target(const char *target);
void log_set_level(enum log_level level);
void log_close(void);

void log_write(enum log_level level, const char *func, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* The level test is inline so a disabled debug line costs a compare, not a format. */
#define LOG_AT(level, ...) \
	do { \
		if ((level) <= log_current_level) \
			log_write((level), __func__, __VA_ARGS__); \
	} while (0)
#define LOGE(...) LOG_AT(LOG_LEVEL_ERROR, __VA_ARGS__)
#define LOGW(...) LOG_AT(LOG_LEVEL_WARN, __VA_ARGS__)
#define LOGI(...) LOG_AT(LOG_LEVEL_INFO, __VA_ARGS__)
#define LOGD(...) LOG_AT(LOG_LEVEL_DEBUG, __VA_ARGS__)

#endif
