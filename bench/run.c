/* Running a job in threads or processes, and turning samples into figures.
 *
 * Sequence per job: every worker makes its context and warms up; all meet at a
 * barrier ("ready"); the main thread notes the wall clock and releases them
 * ("go"); each worker runs its timed loop, one clock_gettime pair per operation
 * into its preallocated sample array, its own CPU clock read around the loop
 * (and, under valgrind, callgrind's collection switched on for the loop only);
 * all meet again ("done"), the main thread reads the wall clock (and dumps
 * callgrind's counters for the job: exactly its timed operations).
 * Contexts are torn down after that, outside the measurement. */
#include "config.h"

#include <errno.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<valgrind/callgrind.h>)
#include <valgrind/callgrind.h>
#define BENCH_HAVE_CALLGRIND 1
#endif
#endif
#ifndef BENCH_HAVE_CALLGRIND
#define CALLGRIND_TOGGLE_COLLECT
#define CALLGRIND_DUMP_STATS_AT(s) ((void)(s))
#endif

#include "bench/bench.h"

void bench_errf(char *err, size_t len, const char *fmt, ...)
{
	va_list ap;

	if (!err || !len)
		return;
	va_start(ap, fmt);
	vsnprintf(err, len, fmt, ap);
	va_end(ap);
}

static inline uint64_t now_ns(clockid_t clk)
{
	struct timespec ts;

	clock_gettime(clk, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* What one worker (thread or process) shares with the main thread. */
struct worker {
	const struct bench_job *job;
	unsigned idx;
	pthread_barrier_t *ready, *go, *done;
	uint64_t *samples;       /* job->iters entries */
	size_t nsamples;
	uint64_t cpu_ns;         /* this worker's CPU time in its timed loop */
	int failed;
	char err[BENCH_ERR_MAX];
};

/* The timed loop. Kept out of line under one name so profilers can find it
 * (callgrind --toggle-collect=bench_timed_loop works as well as the client
 * requests above). */
__attribute__((noinline)) size_t bench_timed_loop(const struct bench_job *job, void *tctx,
						  uint64_t *samples, size_t iters, char *err,
						  size_t errlen);
__attribute__((noinline)) size_t bench_timed_loop(const struct bench_job *job, void *tctx,
						  uint64_t *samples, size_t iters, char *err,
						  size_t errlen)
{
	size_t i;

	for (i = 0; i < iters; i++) {
		uint64_t t0 = now_ns(CLOCK_MONOTONIC);

		if (job->op(tctx, err, errlen) != 0)
			break;
		samples[i] = now_ns(CLOCK_MONOTONIC) - t0;
	}
	return i;
}

/* A worker's life; the barriers are passed even on failure, so nobody hangs. */
static void worker_body(struct worker *w)
{
	const struct bench_job *job = w->job;
	void *tctx = job->arg;
	bool have_ctx = false;

	if (job->thread_init) {
		tctx = job->thread_init(job->arg, w->idx, w->err, sizeof(w->err));
		have_ctx = tctx != NULL;
		if (!tctx)
			w->failed = 1;
	}
	for (size_t i = 0; !w->failed && i < job->warmup; i++)
		if (job->op(tctx, w->err, sizeof(w->err)) != 0)
			w->failed = 1;
	pthread_barrier_wait(w->ready);
	pthread_barrier_wait(w->go);
	if (!w->failed) {
		/* each worker reads its own CPU clock: another thread's running time
		 * is only brought up to date at its next tick or context switch */
		uint64_t c0 = now_ns(CLOCK_THREAD_CPUTIME_ID);

		CALLGRIND_TOGGLE_COLLECT; /* callgrind's collection state is per thread */
		w->nsamples = bench_timed_loop(job, tctx, w->samples, job->iters, w->err,
					       sizeof(w->err));
		CALLGRIND_TOGGLE_COLLECT;
		w->cpu_ns = now_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
		if (w->nsamples != job->iters)
			w->failed = 1;
	}
	pthread_barrier_wait(w->done);
	if (have_ctx && job->thread_fini)
		job->thread_fini(tctx);
}

static void *worker_thread(void *arg)
{
	worker_body(arg);
	return NULL;
}

static int cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct_ms(const uint64_t *v, size_t n, double p)
{
	size_t k = (size_t)ceil(p * (double)n);

	if (k < 1)
		k = 1;
	if (k > n)
		k = n;
	return (double)v[k - 1] / 1e6;
}

/* Figures from all samples (sorted in place; they sit one after another). */
static void summarize(struct bench_result *r, uint64_t *all, size_t n, uint64_t wall_ns,
		      uint64_t cpu_ns)
{
	double sum = 0;

	qsort(all, n, sizeof(*all), cmp_u64);
	for (size_t i = 0; i < n; i++)
		sum += (double)all[i];
	r->ops = n;
	r->wall_s = (double)wall_ns / 1e9;
	r->ops_per_s = wall_ns ? (double)n / r->wall_s : 0;
	r->mean_ms = n ? sum / (double)n / 1e6 : 0;
	r->p50_ms = pct_ms(all, n, 0.50);
	r->p90_ms = pct_ms(all, n, 0.90);
	r->p99_ms = pct_ms(all, n, 0.99);
	r->max_ms = (double)all[n - 1] / 1e6;
	r->cpu_us_per_op = n ? (double)cpu_ns / 1e3 / (double)n : 0;
	r->ok = true;
}

static void fill_names(const struct bench_job *job, struct bench_result *out)
{
	snprintf(out->what, sizeof(out->what), "%s", job->what ? job->what : "");
	out->threads = job->threads;
	out->ok = false;
}

/* The callgrind dump's trigger line; run-bench.sh --callgrind parses
 * "tpmha-bench NAME IMPL THREADS OPS" from it. */
static void dump_name(const struct bench_job *job, size_t ops, char *buf, size_t len)
{
	snprintf(buf, len, "tpmha-bench %s %s %u %zu", job->name, job->impl, job->threads, ops);
}

void bench_run_threads(const struct bench_job *job, struct bench_result *out)
{
	unsigned n = job->threads ? job->threads : 1;
	struct worker *w = calloc(n, sizeof(*w));
	pthread_t *tid = calloc(n, sizeof(*tid));
	uint64_t *all = calloc(job->iters ? (size_t)n * job->iters : 1, sizeof(*all));
	pthread_barrier_t ready, go, done;
	uint64_t t0 = 0, t1, cpu = 0;
	unsigned started = 0;
	char dump[160];

	fill_names(job, out);
	if (!w || !tid || !all || !job->iters) {
		bench_errf(out->err, sizeof(out->err), "out of memory (or no iterations)");
		goto out;
	}
	pthread_barrier_init(&ready, NULL, n + 1);
	pthread_barrier_init(&go, NULL, n + 1);
	pthread_barrier_init(&done, NULL, n + 1);
	for (unsigned i = 0; i < n; i++) {
		w[i] = (struct worker){ .job = job, .idx = i, .ready = &ready, .go = &go,
					.done = &done, .samples = all + (size_t)i * job->iters };
		if (pthread_create(&tid[i], NULL, worker_thread, &w[i]) != 0) {
			/* cannot happen in practice; the barriers would hang, so give up */
			fprintf(stderr, "tpmha-bench: pthread_create failed\n");
			exit(2);
		}
		started++;
	}
	pthread_barrier_wait(&ready);
	t0 = now_ns(CLOCK_MONOTONIC);
	pthread_barrier_wait(&go);
	pthread_barrier_wait(&done);
	t1 = now_ns(CLOCK_MONOTONIC);
	dump_name(job, (size_t)n * job->iters, dump, sizeof(dump));
	CALLGRIND_DUMP_STATS_AT(dump);
	for (unsigned i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
	pthread_barrier_destroy(&ready);
	pthread_barrier_destroy(&go);
	pthread_barrier_destroy(&done);
	for (unsigned i = 0; i < n; i++) {
		if (w[i].failed) {
			bench_errf(out->err, sizeof(out->err), "thread %u: %s", i, w[i].err);
			goto out;
		}
		cpu += w[i].cpu_ns;
	}
	summarize(out, all, (size_t)n * job->iters, t1 - t0, cpu);
out:
	free(all);
	free(tid);
	free(w);
}

/* Processes: the barriers and samples live in one shared anonymous mapping. */
struct shared {
	pthread_barrier_t ready, go, done;
	struct worker w[16];
	uint64_t samples[];
};

void bench_run_procs(const struct bench_job *job, struct bench_result *out)
{
	unsigned n = job->threads ? job->threads : 1;
	size_t size = sizeof(struct shared) + (size_t)n * job->iters * sizeof(uint64_t);
	struct shared *sh;
	pthread_barrierattr_t ba;
	pid_t pid[16];
	unsigned forked = 0;
	uint64_t t0, t1, cpu = 0;

	fill_names(job, out);
	out->procs = true;
	if (n > 16 || !job->iters) {
		bench_errf(out->err, sizeof(out->err), "1 to 16 processes, at least 1 iteration");
		return;
	}
	sh = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (sh == MAP_FAILED) {
		bench_errf(out->err, sizeof(out->err), "mmap: %s", strerror(errno));
		return;
	}
	pthread_barrierattr_init(&ba);
	pthread_barrierattr_setpshared(&ba, PTHREAD_PROCESS_SHARED);
	pthread_barrier_init(&sh->ready, &ba, n + 1);
	pthread_barrier_init(&sh->go, &ba, n + 1);
	pthread_barrier_init(&sh->done, &ba, n + 1);
	pthread_barrierattr_destroy(&ba);
	fflush(NULL);
	for (unsigned i = 0; i < n; i++) {
		sh->w[i] = (struct worker){ .job = job, .idx = i, .ready = &sh->ready, .go = &sh->go,
					    .done = &sh->done,
					    .samples = sh->samples + (size_t)i * job->iters };
		pid[i] = fork();
		if (pid[i] < 0) {
			fprintf(stderr, "tpmha-bench: fork: %s\n", strerror(errno));
			exit(2); /* the barriers would hang */
		}
		if (pid[i] == 0) {
			worker_body(&sh->w[i]);
			_exit(0);
		}
		forked++;
	}
	pthread_barrier_wait(&sh->ready);
	t0 = now_ns(CLOCK_MONOTONIC);
	pthread_barrier_wait(&sh->go);
	pthread_barrier_wait(&sh->done);
	t1 = now_ns(CLOCK_MONOTONIC);
	for (unsigned i = 0; i < forked; i++) {
		int st;

		while (waitpid(pid[i], &st, 0) < 0 && errno == EINTR)
			;
		if ((!WIFEXITED(st) || WEXITSTATUS(st) != 0) && !sh->w[i].failed) {
			sh->w[i].failed = 1;
			bench_errf(sh->w[i].err, sizeof(sh->w[i].err), "process died");
		}
		cpu += sh->w[i].cpu_ns;
	}
	for (unsigned i = 0; i < n; i++)
		if (sh->w[i].failed) {
			bench_errf(out->err, sizeof(out->err), "process %u: %s", i, sh->w[i].err);
			goto out;
		}
	summarize(out, sh->samples, (size_t)n * job->iters, t1 - t0, cpu);
out:
	pthread_barrier_destroy(&sh->ready);
	pthread_barrier_destroy(&sh->go);
	pthread_barrier_destroy(&sh->done);
	munmap(sh, size);
}

struct bench_result *bench_result_new(struct bench_results *rs, const char *name,
				      const char *impl, unsigned threads)
{
	struct bench_result *r;

	if (rs->n >= BENCH_MAX_RESULTS)
		return NULL;
	r = &rs->r[rs->n++];
	memset(r, 0, sizeof(*r));
	snprintf(r->name, sizeof(r->name), "%s", name);
	snprintf(r->impl, sizeof(r->impl), "%s", impl);
	r->threads = threads;
	return r;
}

const struct bench_result *bench_result_find(const struct bench_results *rs, const char *name,
					     const char *impl, unsigned threads)
{
	for (size_t i = 0; i < rs->n; i++)
		if (!strcmp(rs->r[i].name, name) && !strcmp(rs->r[i].impl, impl) &&
		    rs->r[i].threads == threads)
			return &rs->r[i];
	return NULL;
}

bool bench_selected(const struct bench_opts *o, const char *name, const char *impl)
{
	char full[64];

	if (!o->only)
		return true;
	snprintf(full, sizeof(full), "%s/%s", name, impl);
	return strstr(full, o->only) != NULL;
}
