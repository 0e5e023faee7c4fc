/* JSON output: just enough of a writer for --json, with correct string escaping
 * (labels are arbitrary UTF-8 from the token). Pretty-printed, two spaces. */
#include "config.h"

#include <string.h>

#include "tools/cli.h"

void jw_start(struct jw *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = true;
}

void jw_finish(struct jw *j)
{
	fputc('\n', j->f);
}

static void indent(struct jw *j)
{
	fputc('\n', j->f);
	for (int i = 0; i < j->depth; i++)
		fputs("  ", j->f);
}

static void quoted(FILE *f, const char *s)
{
	fputc('"', f);
	for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
		switch (*p) {
		case '"': fputs("\\\"", f); break;
		case '\\': fputs("\\\\", f); break;
		case '\n': fputs("\\n", f); break;
		case '\r': fputs("\\r", f); break;
		case '\t': fputs("\\t", f); break;
		default:
			if (*p < 0x20 || *p == 0x7f)
				fprintf(f, "\\u%04x", *p);
			else
				fputc(*p, f);
		}
	}
	fputc('"', f);
}

/* The comma, line break and key before a value. */
static void member(struct jw *j, const char *key)
{
	if (j->depth > 0) {
		if (!j->first[j->depth])
			fputc(',', j->f);
		indent(j);
	}
	j->first[j->depth] = false;
	if (key) {
		quoted(j->f, key);
		fputs(": ", j->f);
	}
}

static void open_with(struct jw *j, const char *key, char ch)
{
	member(j, key);
	fputc(ch, j->f);
	if (j->depth + 1 < JW_MAX_DEPTH)
		j->depth++; /* deeper than our output ever goes: stay well-formed enough */
	j->first[j->depth] = true;
	j->closer[j->depth] = ch == '{' ? '}' : ']';
}

void jw_object(struct jw *j, const char *key)
{
	open_with(j, key, '{');
}

void jw_array(struct jw *j, const char *key)
{
	open_with(j, key, '[');
}

void jw_end(struct jw *j)
{
	bool empty = j->first[j->depth];
	char close = j->closer[j->depth];

	j->depth--;
	if (!empty)
		indent(j);
	fputc(close, j->f);
}

void jw_string(struct jw *j, const char *key, const char *value)
{
	member(j, key);
	if (value)
		quoted(j->f, value);
	else
		fputs("null", j->f);
}

void jw_uint(struct jw *j, const char *key, unsigned long long value)
{
	member(j, key);
	fprintf(j->f, "%llu", value);
}

void jw_bool(struct jw *j, const char *key, bool value)
{
	member(j, key);
	fputs(value ? "true" : "false", j->f);
}
