/* tpmha-bench: shared pieces of the benchmark (not a test).
 *
 * One measured "job" is an operation run by N threads (or N processes), each
 * with its own context: warm-up first, then every operation timed alone with
 * CLOCK_MONOTONIC into a sample array allocated before the loop. The job's
 * ops/s is all operations over the wall time from the common start to the
 * common end; the latencies are percentiles of all samples together. */
#ifndef TPMHA_BENCH_BENCH_H
#define TPMHA_BENCH_BENCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <openssl/types.h>

#define BENCH_ERR_MAX 256

struct bench_opts {
	const char *module;      /* path of the PKCS#11 module */
	const char *token;       /* token label (NULL: the first initialized token) */
	const char *pin;         /* user PIN */
	const char *tcti;        /* TCTI of the same TPM for the ESYS floor (NULL: no floor) */
	const char *rsa_label;   /* key pair labels in the token */
	const char *ec_label;
	const char *only;        /* run only the jobs whose name contains this */
	const char *json_out;    /* also write JSON here */
	bool json;               /* JSON on stdout instead of the table */
	bool callgrind;          /* short runs, 1 thread, one dump per job */
	unsigned threads[4];     /* thread counts to run (0-terminated) */
	size_t warmup;           /* untimed operations per thread before each job */
	size_t iters;            /* timed operations per thread: sign/decrypt */
	size_t login_iters;      /* ... login cycle */
	size_t find_iters;       /* ... find */
	size_t nobjects;         /* data objects for the find jobs */
};

struct bench_result {
	char name[32];           /* "rsa-sign", "login-cycle", ... */
	char impl[16];           /* "module", "esys-pw", "esys-hmac" */
	char what[96];           /* one line saying what exactly was measured */
	unsigned threads;
	bool procs;              /* threads were processes */
	bool ok;
	bool skipped;            /* not run; err says why */
	char err[BENCH_ERR_MAX];
	size_t ops;
	double wall_s;
	double ops_per_s;
	double mean_ms, p50_ms, p90_ms, p99_ms, max_ms;
	double cpu_us_per_op;    /* client (this process) CPU per operation */
};

#define BENCH_MAX_RESULTS 64
struct bench_results {
	struct bench_result r[BENCH_MAX_RESULTS];
	size_t n;
	char machine[256];
	char module[256];
	char tpm[128];
};

/* An operation: 0 on success, else an error written to err. */
typedef int (*bench_op_fn)(void *tctx, char *err, size_t errlen);

struct bench_job {
	const char *name, *impl, *what;
	unsigned threads;
	size_t warmup, iters;
	/* Per thread: make its context (its own session...) before the clock starts.
	 * NULL return with err set is a failure. NULL init: tctx = arg. */
	void *(*thread_init)(void *arg, unsigned idx, char *err, size_t errlen);
	bench_op_fn op;
	void (*thread_fini)(void *tctx); /* NULL fine */
	void *arg;
};

/* Run job in threads; fills *out (out->ok false and out->err on failure). */
void bench_run_threads(const struct bench_job *job, struct bench_result *out);
/* Run job in job->threads forked processes (thread_init runs in each child). */
void bench_run_procs(const struct bench_job *job, struct bench_result *out);
/* A result slot, name/impl/threads filled in; NULL when full. */
struct bench_result *bench_result_new(struct bench_results *rs, const char *name,
				      const char *impl, unsigned threads);
const struct bench_result *bench_result_find(const struct bench_results *rs, const char *name,
					     const char *impl, unsigned threads);
bool bench_selected(const struct bench_opts *o, const char *name, const char *impl);

/* report.c */
void bench_report_table(const struct bench_results *rs, const struct bench_opts *o);
int bench_report_json(const struct bench_results *rs, const struct bench_opts *o, const char *path);
void bench_machine(char *buf, size_t len);

/* module.c: everything through the PKCS#11 module (finalized on return). */
int bench_module(const struct bench_opts *o, struct bench_results *rs);
/* esys.c: the floor through ESYS on o->tcti (after the module let go of the TPM). */
int bench_esys(const struct bench_opts *o, struct bench_results *rs);

/* swcrypto.c: software RSA/EC with OpenSSL, to prepare inputs and check outputs. */
EVP_PKEY *sw_rsa_public(const uint8_t *n, size_t n_len, const uint8_t *e, size_t e_len);
/* point: uncompressed 04||x||y on P-256 */
EVP_PKEY *sw_ec_p256_public(const uint8_t *point, size_t len);
int sw_oaep_sha256_encrypt(EVP_PKEY *pub, const uint8_t *msg, size_t len, uint8_t *out,
			   size_t *out_len);
/* sig over SHA-256 digest, PKCS#1 v1.5 */
bool sw_rsa_pkcs1_verify(EVP_PKEY *pub, const uint8_t digest[32], const uint8_t *sig, size_t len);
/* raw r||s (32+32) over a 32-byte digest */
bool sw_ecdsa_verify(EVP_PKEY *pub, const uint8_t digest[32], const uint8_t *rs, size_t len);
/* The SHA-256 DigestInfo prefix (19 bytes). */
extern const uint8_t sw_sha256_digestinfo_prefix[19];

void bench_errf(char *err, size_t len, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif
