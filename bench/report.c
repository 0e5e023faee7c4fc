/* Output: the table people read, the targets of issue 2 with met/missed, and
 * the same as JSON for scripts. */
#include "config.h"

#include <stdio.h>
#include <string.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "bench/bench.h"

void bench_machine(char *buf, size_t len)
{
	struct utsname u;
	char model[128] = "unknown CPU", line[256];
	FILE *f = fopen("/proc/cpuinfo", "r");

	if (f) {
		while (fgets(line, sizeof(line), f))
			if (!strncmp(line, "model name", 10)) {
				char *p = strchr(line, ':');

				if (p) {
					snprintf(model, sizeof(model), "%s", p + 2);
					model[strcspn(model, "\n")] = 0;
				}
				break;
			}
		fclose(f);
	}
	if (uname(&u) != 0)
		memset(&u, 0, sizeof(u));
	snprintf(buf, len, "%s %s %s, %s, %ld CPUs", u.sysname, u.release, u.machine, model,
		 sysconf(_SC_NPROCESSORS_ONLN));
}

/* --- targets --- */

struct target {
	char name[80];
	double value, goal;
	const char *unit;        /* "x", "ms" */
	bool at_most;            /* met when value <= goal (else value >= goal) */
	bool known;              /* both figures were measured */
	bool met;
	bool reference;          /* no goal: shown for information */
};

#define MAX_TARGETS 48

static void add(struct target *t, size_t *n, const char *name, double value, double goal,
		const char *unit, bool at_most, bool known, bool reference)
{
	struct target *x;

	if (*n >= MAX_TARGETS)
		return;
	x = &t[(*n)++];
	snprintf(x->name, sizeof(x->name), "%s", name);
	x->value = value;
	x->goal = goal;
	x->unit = unit;
	x->at_most = at_most;
	x->known = known;
	x->reference = reference;
	x->met = known && (at_most ? value <= goal : value >= goal);
}

static const struct bench_result *ok_result(const struct bench_results *rs, const char *name,
					    const char *impl, unsigned threads)
{
	const struct bench_result *r = bench_result_find(rs, name, impl, threads);

	return r && r->ok ? r : NULL;
}

static size_t targets(const struct bench_results *rs, const struct bench_opts *o, struct target *t)
{
	static const struct {
		const char *name;
		double goal;
	} ratio[] = { { "rsa-sign", 1.15 }, { "rsa-oaep-decrypt", 1.15 }, { "ecdsa-sign", 1.5 } };
	static const char *const scaling[] = { "rsa-sign", "rsa-oaep-decrypt", "ecdsa-sign",
					       "find-all", "find-one", "login-cycle" };
	size_t n = 0;
	char name[80];
	unsigned many = 0;

	for (const unsigned *p = o->threads; *p; p++)
		if (*p > 1)
			many = *p;
	for (size_t i = 0; i < sizeof(ratio) / sizeof(ratio[0]); i++) {
		const struct bench_result *m = ok_result(rs, ratio[i].name, "module", 1);
		const struct bench_result *pw = ok_result(rs, ratio[i].name, "esys-pw", 1);
		const struct bench_result *hm = ok_result(rs, ratio[i].name, "esys-hmac", 1);

		if (!m && !pw)
			continue;
		snprintf(name, sizeof(name), "%s: module p50 / ESYS password p50", ratio[i].name);
		add(t, &n, name, m && pw ? m->p50_ms / pw->p50_ms : 0, ratio[i].goal, "x", true,
		    m && pw, false);
		snprintf(name, sizeof(name), "%s: module p50 / ESYS HMAC+enc p50", ratio[i].name);
		add(t, &n, name, m && hm ? m->p50_ms / hm->p50_ms : 0, 0, "x", true, m && hm, true);
	}
	{
		const struct bench_result *l = ok_result(rs, "login-cycle", "module", 1);

		if (l || bench_result_find(rs, "login-cycle", "module", 1))
			add(t, &n, "login-cycle: p50", l ? l->p50_ms : 0, 6.0, "ms", true, l, false);
	}
	for (size_t i = 0; many && i < sizeof(scaling) / sizeof(scaling[0]); i++) {
		const struct bench_result *one = ok_result(rs, scaling[i], "module", 1);
		const struct bench_result *par = ok_result(rs, scaling[i], "module", many);
		const char *unit = !strcmp(scaling[i], "login-cycle") ? "proc" : "thr";

		if (!one && !par)
			continue;
		snprintf(name, sizeof(name), "%s: ops/s %u %s / 1 %s", scaling[i], many, unit, unit);
		add(t, &n, name, one && par ? par->ops_per_s / one->ops_per_s : 0, 1.0, "x", false,
		    one && par, false);
		snprintf(name, sizeof(name), "%s: p99 / p50 at %u %s", scaling[i], many, unit);
		add(t, &n, name, par ? par->p99_ms / par->p50_ms : 0, 3.0, "x", true, par, false);
	}
	return n;
}

/* --- table --- */

void bench_report_table(const struct bench_results *rs, const struct bench_opts *o)
{
	struct target t[MAX_TARGETS];
	size_t nt = targets(rs, o, t);

	printf("machine: %s\n", rs->machine);
	printf("module:  %s%s%s\n", rs->module, rs->tpm[0] ? ", " : "", rs->tpm);
	printf("runs:    %zu warm-up + %zu timed ops per thread (sign/decrypt), %zu (login), "
	       "%zu (find)\n\n",
	       o->warmup, o->iters, o->login_iters, o->find_iters);
	printf("%-17s %-10s %4s %6s %9s %8s %8s %8s %8s %10s\n", "benchmark", "impl", "thr", "ops",
	       "ops/s", "p50 ms", "p90 ms", "p99 ms", "max ms", "cpu us/op");
	for (size_t i = 0; i < rs->n; i++) {
		const struct bench_result *r = &rs->r[i];
		char thr[8];

		snprintf(thr, sizeof(thr), "%u%s", r->threads, r->procs ? "p" : "");
		if (!r->ok) {
			printf("%-17s %-10s %4s %s: %s\n", r->name, r->impl, thr,
			       r->skipped ? "skipped" : "FAILED", r->err);
			continue;
		}
		printf("%-17s %-10s %4s %6zu %9.1f %8.3f %8.3f %8.3f %8.3f %10.1f\n", r->name,
		       r->impl, thr, r->ops, r->ops_per_s, r->p50_ms, r->p90_ms, r->p99_ms,
		       r->max_ms, r->cpu_us_per_op);
	}
	printf("\n(thr: threads, each with its own session; \"4p\": processes. cpu: this "
	       "process's CPU time per op,\n the client side only: the TPM's work is swtpm's.)\n");
	if (nt) {
		printf("\n%-52s %10s %10s  %s\n", "target (issue 2)", "measured", "goal", "result");
		for (size_t i = 0; i < nt; i++) {
			char v[24] = "-", g[24] = "-";

			/* three decimals for ratios, so 0.996x does not read as 1.00x missed */
			if (t[i].known)
				snprintf(v, sizeof(v), "%.*f%s", strcmp(t[i].unit, "x") ? 2 : 3,
					 t[i].value, t[i].unit);
			if (!t[i].reference)
				snprintf(g, sizeof(g), "%s%.2f%s", t[i].at_most ? "<=" : ">=", t[i].goal,
					 t[i].unit);
			printf("%-52s %10s %10s  %s\n", t[i].name, v, g,
			       t[i].reference ? "(reference)" :
			       !t[i].known    ? "not measured" :
			       t[i].met       ? "met" :
						"MISSED");
		}
	}
	printf("\nwhat each row measures:\n");
	for (size_t i = 0; i < rs->n; i++) {
		bool seen = false;

		for (size_t k = 0; k < i; k++)
			if (!strcmp(rs->r[k].name, rs->r[i].name) && !strcmp(rs->r[k].impl, rs->r[i].impl))
				seen = true;
		if (!seen)
			printf("  %-17s %-10s %s\n", rs->r[i].name, rs->r[i].impl, rs->r[i].what);
	}
}

/* --- JSON --- */

static void json_str(FILE *f, const char *s)
{
	fputc('"', f);
	for (; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\')
			fprintf(f, "\\%c", c);
		else if (c < 0x20)
			fprintf(f, "\\u%04x", c);
		else
			fputc(c, f);
	}
	fputc('"', f);
}

int bench_report_json(const struct bench_results *rs, const struct bench_opts *o, const char *path)
{
	struct target t[MAX_TARGETS];
	size_t nt = targets(rs, o, t);
	FILE *f = path ? fopen(path, "w") : stdout;

	if (!f) {
		perror(path);
		return -1;
	}
	fprintf(f, "{\n  \"machine\": ");
	json_str(f, rs->machine);
	fprintf(f, ",\n  \"module\": ");
	json_str(f, rs->module);
	fprintf(f, ",\n  \"token\": ");
	json_str(f, rs->tpm);
	fprintf(f, ",\n  \"warmup\": %zu, \"iterations\": %zu, \"login_iterations\": %zu, "
		   "\"find_iterations\": %zu,\n  \"results\": [",
		o->warmup, o->iters, o->login_iters, o->find_iters);
	for (size_t i = 0; i < rs->n; i++) {
		const struct bench_result *r = &rs->r[i];

		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		json_str(f, r->name);
		fprintf(f, ", \"impl\": ");
		json_str(f, r->impl);
		fprintf(f, ", \"threads\": %u, \"processes\": %s, \"ok\": %s", r->threads,
			r->procs ? "true" : "false", r->ok ? "true" : "false");
		if (!r->ok) {
			fprintf(f, ", \"%s\": ", r->skipped ? "skipped" : "error");
			json_str(f, r->err);
		} else {
			fprintf(f,
				", \"ops\": %zu, \"wall_s\": %.6f, \"ops_per_s\": %.2f, "
				"\"mean_ms\": %.4f, \"p50_ms\": %.4f, \"p90_ms\": %.4f, "
				"\"p99_ms\": %.4f, \"max_ms\": %.4f, \"cpu_us_per_op\": %.2f",
				r->ops, r->wall_s, r->ops_per_s, r->mean_ms, r->p50_ms, r->p90_ms,
				r->p99_ms, r->max_ms, r->cpu_us_per_op);
		}
		fprintf(f, ", \"what\": ");
		json_str(f, r->what);
		fputc('}', f);
	}
	fprintf(f, "\n  ],\n  \"targets\": [");
	for (size_t i = 0; i < nt; i++) {
		fprintf(f, "%s\n    {\"name\": ", i ? "," : "");
		json_str(f, t[i].name);
		if (t[i].known)
			fprintf(f, ", \"measured\": %.4f", t[i].value);
		else
			fprintf(f, ", \"measured\": null");
		fprintf(f, ", \"unit\": \"%s\"", t[i].unit);
		if (t[i].reference)
			fprintf(f, ", \"goal\": null, \"met\": null}");
		else
			fprintf(f, ", \"goal\": \"%s%.2f\", \"met\": %s}", t[i].at_most ? "<=" : ">=",
				t[i].goal, !t[i].known ? "null" : t[i].met ? "true" : "false");
	}
	fprintf(f, "\n  ]\n}\n");
	if (path && fclose(f) != 0) {
		perror(path);
		return -1;
	}
	return 0;
}
