/* tpmha-bench: how fast is the module, and how close to the TPM's own speed?
 *
 * Measures the module under test (dlopen'ed: --module) through PKCS#11, then
 * the same TPM operations straight through ESYS on the same TPM (--tcti), one
 * after the other (swtpm serves one connection at a time), and prints a table
 * (or JSON) with the targets of issue 2. bench/run-bench.sh prepares a TPM, a
 * token and its keys and runs this; see bench/RESULTS.md. */
#include "config.h"

#include <getopt.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench/bench.h"

/* Table order: module first, then the floors; operations in a fixed order;
 * fewer threads first. */
static int rank(const char *s, const char *const *list)
{
	int i = 0;

	for (; list[i]; i++)
		if (!strcmp(s, list[i]))
			break;
	return i;
}

static int cmp_result(const void *a, const void *b)
{
	static const char *const impls[] = { "module", "esys-pw", "esys-hmac", NULL };
	static const char *const names[] = { "rsa-sign", "rsa-oaep-decrypt", "ecdsa-sign",
					     "find-all", "find-one", "login-cycle", NULL };
	const struct bench_result *x = a, *y = b;
	int d = rank(x->impl, impls) - rank(y->impl, impls);

	if (!d)
		d = rank(x->name, names) - rank(y->name, names);
	if (!d)
		d = (int)x->threads - (int)y->threads;
	return d;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: tpmha-bench [options]\n"
		"  --module PATH          PKCS#11 module (default $TPMHA_MODULE, else the build\n"
		"                         tree's .libs/tpmha-pkcs11.so)\n"
		"  --token LABEL          token to use (default: the first initialized one)\n"
		"  --pin PIN              user PIN (default $TPMHA_BENCH_PIN, else userpin1234)\n"
		"  --rsa-label L          RSA-2048 key pair label (default bench-rsa)\n"
		"  --ec-label L           EC P-256 key pair label (default bench-ec)\n"
		"                         (key pairs missing from the token are generated)\n"
		"  --tcti TCTI            the same TPM for the ESYS floor (default $TPMHA_TCTI;\n"
		"                         none: no floor)\n"
		"  --no-floor, --no-module  skip one side\n"
		"  --threads LIST         thread counts, e.g. 1,4 (default 1,4)\n"
		"  --warmup N             untimed ops per thread before each job (default 50)\n"
		"  --iterations N         timed sign/decrypt ops per thread (default 2000)\n"
		"  --login-iterations N   timed login cycles per process (default 1000)\n"
		"  --find-iterations N    timed find cycles per thread (default 2000)\n"
		"  --objects N            data objects the find jobs search (default 1000;\n"
		"                         created once as public token objects; 0: no find)\n"
		"  --only SUBSTR          only jobs whose NAME/IMPL contains SUBSTR\n"
		"                         (e.g. rsa-sign, /module, esys-hmac)\n"
		"  --json                 JSON on stdout instead of the table\n"
		"  --json-out FILE        also write the JSON to FILE\n"
		"  --callgrind            short single-thread runs for valgrind --tool=callgrind\n"
		"                         --collect-atstart=no: one dump per job, its trigger\n"
		"                         naming the job and its op count (run-bench.sh --callgrind)\n");
}

static int parse_size(const char *s, size_t *out)
{
	char *end;
	unsigned long long v = strtoull(s, &end, 10);

	if (!*s || *end || v > 100000000ull)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int parse_threads(const char *s, unsigned *out, size_t max)
{
	size_t n = 0;
	char *end;

	while (*s) {
		unsigned long v = strtoul(s, &end, 10);

		if (end == s || v < 1 || v > 16 || n + 1 >= max)
			return -1;
		out[n++] = (unsigned)v;
		s = *end == ',' ? end + 1 : end;
		if (*end && *end != ',')
			return -1;
	}
	out[n] = 0;
	return n ? 0 : -1;
}

/* ../.libs/tpmha-pkcs11.so next to this program's folder (bench/). */
static const char *default_module(char *buf, size_t len)
{
	char exe[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);

	if (getenv("TPMHA_MODULE"))
		return getenv("TPMHA_MODULE");
	if (n <= 0)
		return ".libs/tpmha-pkcs11.so";
	exe[n] = 0;
	snprintf(buf, len, "%s/../.libs/tpmha-pkcs11.so", dirname(exe));
	return buf;
}

enum { O_MODULE = 256, O_TOKEN, O_PIN, O_RSA, O_EC, O_TCTI, O_NOFLOOR, O_NOMODULE, O_THREADS,
       O_WARMUP, O_ITERS, O_LOGIN, O_FIND, O_OBJECTS, O_ONLY, O_JSON, O_JSONOUT, O_CALLGRIND };

int main(int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "module", required_argument, NULL, O_MODULE },
		{ "token", required_argument, NULL, O_TOKEN },
		{ "pin", required_argument, NULL, O_PIN },
		{ "rsa-label", required_argument, NULL, O_RSA },
		{ "ec-label", required_argument, NULL, O_EC },
		{ "tcti", required_argument, NULL, O_TCTI },
		{ "no-floor", no_argument, NULL, O_NOFLOOR },
		{ "no-module", no_argument, NULL, O_NOMODULE },
		{ "threads", required_argument, NULL, O_THREADS },
		{ "warmup", required_argument, NULL, O_WARMUP },
		{ "iterations", required_argument, NULL, O_ITERS },
		{ "login-iterations", required_argument, NULL, O_LOGIN },
		{ "find-iterations", required_argument, NULL, O_FIND },
		{ "objects", required_argument, NULL, O_OBJECTS },
		{ "only", required_argument, NULL, O_ONLY },
		{ "json", no_argument, NULL, O_JSON },
		{ "json-out", required_argument, NULL, O_JSONOUT },
		{ "callgrind", no_argument, NULL, O_CALLGRIND },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 },
	};
	static struct bench_results rs;
	char modbuf[PATH_MAX + 32];
	struct bench_opts o = {
		.pin = getenv("TPMHA_BENCH_PIN") ? getenv("TPMHA_BENCH_PIN") : "userpin1234",
		.tcti = getenv("TPMHA_TCTI"),
		.rsa_label = "bench-rsa", .ec_label = "bench-ec",
		.threads = { 1, 4, 0 },
		.warmup = 50, .iters = 2000, .login_iters = 1000, .find_iters = 2000, .nobjects = 1000,
	};
	bool no_floor = false, no_module = false, set_threads = false, set_warmup = false;
	bool set_iters = false, set_login = false, set_find = false;
	int c, status = 0;

	o.module = default_module(modbuf, sizeof(modbuf));
	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		int bad = 0;

		switch (c) {
		case O_MODULE: o.module = optarg; break;
		case O_TOKEN: o.token = optarg; break;
		case O_PIN: o.pin = optarg; break;
		case O_RSA: o.rsa_label = optarg; break;
		case O_EC: o.ec_label = optarg; break;
		case O_TCTI: o.tcti = optarg; break;
		case O_NOFLOOR: no_floor = true; break;
		case O_NOMODULE: no_module = true; break;
		case O_THREADS:
			bad = parse_threads(optarg, o.threads, sizeof(o.threads) / sizeof(o.threads[0]));
			set_threads = true;
			break;
		case O_WARMUP: bad = parse_size(optarg, &o.warmup); set_warmup = true; break;
		case O_ITERS: bad = parse_size(optarg, &o.iters) || !o.iters; set_iters = true; break;
		case O_LOGIN:
			bad = parse_size(optarg, &o.login_iters) || !o.login_iters;
			set_login = true;
			break;
		case O_FIND:
			bad = parse_size(optarg, &o.find_iters) || !o.find_iters;
			set_find = true;
			break;
		case O_OBJECTS: bad = parse_size(optarg, &o.nobjects); break;
		case O_ONLY: o.only = optarg; break;
		case O_JSON: o.json = true; break;
		case O_JSONOUT: o.json_out = optarg; break;
		case O_CALLGRIND: o.callgrind = true; break;
		case 'h': usage(stdout); return 0;
		default: usage(stderr); return 2;
		}
		if (bad) {
			fprintf(stderr, "tpmha-bench: bad value for --%s: %s\n",
				longopts[c - O_MODULE].name, optarg);
			return 2;
		}
	}
	if (optind != argc) {
		usage(stderr);
		return 2;
	}
	if (o.callgrind) {
		/* under callgrind everything is ~50x slower on the client side */
		if (!set_threads)
			o.threads[1] = 0;
		if (!set_warmup)
			o.warmup = 3;
		if (!set_iters)
			o.iters = 20;
		if (!set_login)
			o.login_iters = 5;
		if (!set_find)
			o.find_iters = 20;
	}
	bench_machine(rs.machine, sizeof(rs.machine));
	snprintf(rs.module, sizeof(rs.module), "%s", o.module);

	if (!no_module && bench_module(&o, &rs) != 0)
		status = 1;
	if (!no_floor && o.tcti) {
		if (bench_esys(&o, &rs) != 0)
			status = 1;
	} else if (!no_floor) {
		fprintf(stderr, "tpmha-bench: no --tcti (or $TPMHA_TCTI): no ESYS floor\n");
	}
	for (size_t i = 0; i < rs.n; i++)
		if (!rs.r[i].ok && !rs.r[i].skipped)
			status = 1;
	qsort(rs.r, rs.n, sizeof(rs.r[0]), cmp_result);
	if (o.json)
		bench_report_json(&rs, &o, NULL);
	else
		bench_report_table(&rs, &o);
	if (o.json_out && bench_report_json(&rs, &o, o.json_out) != 0)
		status = 1;
	return status;
}
