/*
 * peer.c: the libzmq side of tickcast's benchmark harness (tickcast bench).
 *
 * The same runs as tickcast's own publisher and subscriber, through
 * Debian's libzmq: a PUB (XPUB, so it can see its subscribers) and a SUB,
 * two frames per message (topic, payload), payloads of the size of the
 * tickcast message they stand in for. The payload header, which
 * bench/payload.go must agree with:
 *
 *   [0:8]   intended send time, ns since the Unix epoch (int64, LE)
 *   [8:16]  index of the message's first tick (int64): >= 0 measured,
 *           < 0 warm-up, INT64_MIN: the end of the run
 *   [16:20] ticks the message stands for (uint32)
 *
 *   peer pub --endpoint E [--rate R --warmup-ticks W --ticks M --pace P]
 *            [--warmup-ns N --duration-ns N --batch K] --size S --subs N
 *            --hwm H --deadline-ns D --lateness-file F [--cpus LIST] [--pgm-rate KBPS]
 *   peer sub --endpoint E --deadline-ns D --latency-file F
 *            --max-samples N [--cpus LIST] [--pgm-rate KBPS]
 *
 * Events are JSON lines on stdout, as the Go children write them:
 * {"event":"listening"|"ready"|"result"|"error", ...}. A publisher starts
 * when it reads "go" on stdin. Latencies (subscriber) and pacing lateness
 * (publisher) are written as raw int64 LE nanoseconds to the given files,
 * one per measured tick, from arrays allocated before the run: nothing is
 * allocated on the measured path.
 *
 * Build: gcc -O2 -o peer peer.c -lzmq
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#define HEADER 20
#define TOPIC "BENCH"
#define END_INDEX INT64_MIN
#define SLEEP_AHEAD_NS 2000000LL /* as bench.sleepAhead */

static const char *opt(int argc, char **argv, const char *name, const char *def) {
	for (int i = 2; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return def;
}

static int64_t opt_i64(int argc, char **argv, const char *name, int64_t def) {
	const char *v = opt(argc, argv, name, NULL);
	return v ? strtoll(v, NULL, 10) : def;
}

static int64_t now_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void put_i64(unsigned char *b, int64_t v) {
	uint64_t u = (uint64_t)v;
	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(u >> (8 * i));
}

static int64_t get_i64(const unsigned char *b) {
	uint64_t u = 0;
	for (int i = 0; i < 8; i++)
		u |= (uint64_t)b[i] << (8 * i);
	return (int64_t)u;
}

static void put_u32(unsigned char *b, uint32_t v) {
	for (int i = 0; i < 4; i++)
		b[i] = (unsigned char)(v >> (8 * i));
}

static uint32_t get_u32(const unsigned char *b) {
	return (uint32_t)b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

static void fail(const char *what) {
	printf("{\"event\":\"error\",\"error\":\"libzmq peer: %s: %s\"}\n", what, zmq_strerror(errno));
	fflush(stdout);
	exit(1);
}

static void pin(const char *list) {
	if (!list || !*list)
		return;
	cpu_set_t set;
	CPU_ZERO(&set);
	char buf[256];
	snprintf(buf, sizeof buf, "%s", list);
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		int a = atoi(tok), b = a;
		char *dash = strchr(tok, '-');
		if (dash)
			b = atoi(dash + 1);
		for (int c = a; c <= b; c++)
			CPU_SET(c, &set);
	}
	/* Before zmq_ctx_new: libzmq's I/O threads inherit the mask. */
	if (sched_setaffinity(0, sizeof set, &set) != 0)
		fail("sched_setaffinity");
}

static void write_samples(const char *path, const int64_t *v, int64_t n) {
	FILE *f = fopen(path, "wb");
	if (!f)
		fail("open samples file");
	unsigned char b[8];
	for (int64_t i = 0; i < n; i++) {
		put_i64(b, v[i]);
		fwrite(b, 1, 8, f);
	}
	fclose(f);
}

static void proc_json(const char *cpus) {
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	printf("\"proc\":{\"cpu_user_s\":%.6f,\"cpu_system_s\":%.6f,\"max_rss_kib\":%ld",
	       ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6,
	       ru.ru_maxrss);
	if (cpus && *cpus)
		printf(",\"cpus\":[%s]", cpus); /* a plain list "0,1"; ranges are expanded by the harness */
	printf("}");
}

static int is_pgm(const char *ep) { return strncmp(ep, "pgm://", 6) == 0 || strncmp(ep, "epgm://", 7) == 0; }

static void send_msg(void *sock, unsigned char *payload, size_t size, int64_t intended, int64_t index,
                     uint32_t ticks) {
	put_i64(payload, intended);
	put_i64(payload + 8, index);
	put_u32(payload + 16, ticks);
	while (zmq_send(sock, TOPIC, strlen(TOPIC), ZMQ_SNDMORE) < 0)
		if (errno != EINTR && errno != EAGAIN)
			fail("zmq_send");
	while (zmq_send(sock, payload, size, 0) < 0)
		if (errno != EINTR && errno != EAGAIN)
			fail("zmq_send");
}

static int64_t pace_wait(int64_t due, const char *mode) {
	for (;;) {
		int64_t now = now_ns();
		if (now >= due)
			return now;
		if (strcmp(mode, "spin") == 0)
			continue;
		if (strcmp(mode, "hybrid") == 0 && due - now > SLEEP_AHEAD_NS) {
			int64_t d = due - now - SLEEP_AHEAD_NS;
			struct timespec ts = {d / 1000000000LL, d % 1000000000LL};
			nanosleep(&ts, NULL);
			continue;
		}
		sched_yield();
	}
}

static int pub(int argc, char **argv) {
	const char *ep = opt(argc, argv, "--endpoint", NULL);
	double rate = atof(opt(argc, argv, "--rate", "0"));
	int64_t warm = opt_i64(argc, argv, "--warmup-ticks", 0), ticks = opt_i64(argc, argv, "--ticks", 0);
	int64_t warm_ns = opt_i64(argc, argv, "--warmup-ns", 0), dur_ns = opt_i64(argc, argv, "--duration-ns", 0);
	int64_t size = opt_i64(argc, argv, "--size", HEADER), batch = opt_i64(argc, argv, "--batch", 1);
	int64_t subs = opt_i64(argc, argv, "--subs", 1), hwm = opt_i64(argc, argv, "--hwm", 10000);
	int64_t deadline = opt_i64(argc, argv, "--deadline-ns", 0);
	const char *pace = opt(argc, argv, "--pace", "hybrid");
	const char *late_path = opt(argc, argv, "--lateness-file", NULL);
	const char *cpus = opt(argc, argv, "--cpus", "");
	if (!ep || !late_path)
		fail("pub needs --endpoint and --lateness-file");
	if (size < HEADER)
		size = HEADER;
	pin(cpus);

	unsigned char *payload = calloc(1, size);
	int64_t *late = calloc(ticks > 0 ? ticks : 1, sizeof(int64_t));
	void *ctx = zmq_ctx_new();
	void *sock = zmq_socket(ctx, ZMQ_XPUB);
	int one = 1, linger = 10000, h = (int)hwm;
	zmq_setsockopt(sock, ZMQ_XPUB_VERBOSE, &one, sizeof one); /* every subscriber's subscription */
	zmq_setsockopt(sock, ZMQ_SNDHWM, &h, sizeof h);
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	if (rate <= 0) /* a flood is flow-controlled: block at the HWM instead of dropping */
		zmq_setsockopt(sock, ZMQ_XPUB_NODROP, &one, sizeof one);
	if (is_pgm(ep)) {
		int kbps = (int)opt_i64(argc, argv, "--pgm-rate", 1000000), ivl = 2000;
		zmq_setsockopt(sock, ZMQ_RATE, &kbps, sizeof kbps); /* the default, 100 kbit/s, is a trickle */
		zmq_setsockopt(sock, ZMQ_RECOVERY_IVL, &ivl, sizeof ivl);
		if (zmq_connect(sock, ep) != 0)
			fail("zmq_connect");
		printf("{\"event\":\"listening\",\"endpoint\":\"%s\"}\n", ep);
	} else {
		if (zmq_bind(sock, ep) != 0)
			fail("zmq_bind");
		char bound[512];
		size_t n = sizeof bound;
		zmq_getsockopt(sock, ZMQ_LAST_ENDPOINT, bound, &n);
		printf("{\"event\":\"listening\",\"endpoint\":\"%s\"}\n", bound);
	}
	fflush(stdout);

	char line[64];
	if (!fgets(line, sizeof line, stdin) || strncmp(line, "go", 2) != 0)
		fail("no go from the parent");
	if (!is_pgm(ep)) { /* PGM carries no subscriptions upstream: the warm-up covers the join */
		int got = 0, tmo = 100;
		zmq_setsockopt(sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
		for (int64_t until = now_ns() + 5000000000LL; got < subs && now_ns() < until;) {
			unsigned char sub[256];
			int n = zmq_recv(sock, sub, sizeof sub, 0);
			if (n > 0 && sub[0] == 1)
				got++;
		}
	}

	int64_t sent = 0, wsent = 0, first_int = 0, last_int = 0, last_act = 0, msgs = 0, bytes = 0;
	const int64_t msg_bytes = (int64_t)strlen(TOPIC) + size;
	if (rate > 0) {
		double period = 1e9 / rate;
		int64_t start = now_ns() + 20000000LL, total = warm + ticks; /* as bench.startDelay */
		first_int = start + (int64_t)((double)warm * period);
		for (int64_t i = 0; i < total;) {
			int64_t now = pace_wait(start + (int64_t)((double)i * period), pace);
			/* every tick due by now leaves, each with its own intended time */
			while (i < total && start + (int64_t)((double)i * period) <= now) {
				int64_t intended = start + (int64_t)((double)i * period);
				send_msg(sock, payload, size, intended, i - warm, 1);
				msgs++;
				bytes += msg_bytes;
				if (i >= warm) {
					late[sent++] = now - intended;
					last_int = intended;
					last_act = now;
				} else {
					wsent++;
				}
				i++;
				now = now_ns();
			}
			if (deadline && now > deadline)
				break;
		}
	} else {
		int64_t t0 = now_ns(), warm_end = t0 + warm_ns, end = warm_end + dur_ns;
		int64_t index = -((int64_t)1 << 40);
		for (;;) {
			int64_t now = now_ns();
			if (now >= end || (deadline && now > deadline))
				break;
			if (now >= warm_end && index < 0) {
				index = 0;
				first_int = now;
			}
			send_msg(sock, payload, size, now, index, (uint32_t)batch);
			msgs++;
			bytes += msg_bytes;
			if (index >= 0) {
				sent += batch;
				last_int = last_act = now;
			} else {
				wsent += batch;
			}
			index += batch;
			if (index >= 0 && first_int == 0)
				first_int = now;
		}
	}
	for (int k = 0; k < 3; k++) { /* the end marker; more than one for lossy transports */
		send_msg(sock, payload, size, now_ns(), END_INDEX, 0);
		struct timespec ts = {0, 1000000};
		nanosleep(&ts, NULL);
	}
	zmq_close(sock); /* lingers until the queues drain (10 s at most) */
	zmq_ctx_term(ctx);
	write_samples(late_path, late, rate > 0 ? sent : 0);

	printf("{\"event\":\"result\",\"result\":{\"sent\":%" PRId64 ",\"warmup_sent\":%" PRId64
	       ",\"first_intended\":%" PRId64 ",\"last_intended\":%" PRId64 ",\"last_actual\":%" PRId64
	       ",\"messages\":%" PRId64 ",\"bytes\":%" PRId64 ",\"lateness_file\":\"%s\",",
	       sent, wsent, first_int, last_int, last_act, msgs, bytes, late_path);
	proc_json(cpus);
	printf("}}\n");
	fflush(stdout);
	return 0;
}

static int sub(int argc, char **argv) {
	const char *ep = opt(argc, argv, "--endpoint", NULL);
	int64_t deadline = opt_i64(argc, argv, "--deadline-ns", 0);
	int64_t max_samples = opt_i64(argc, argv, "--max-samples", 0);
	const char *lat_path = opt(argc, argv, "--latency-file", NULL);
	const char *cpus = opt(argc, argv, "--cpus", "");
	if (!ep || !lat_path)
		fail("sub needs --endpoint and --latency-file");
	pin(cpus);

	int64_t *lat = calloc(max_samples > 0 ? max_samples : 1, sizeof(int64_t));
	void *ctx = zmq_ctx_new();
	void *sock = zmq_socket(ctx, ZMQ_SUB);
	int tmo = 100, linger = 0;
	zmq_setsockopt(sock, ZMQ_RCVTIMEO, &tmo, sizeof tmo);
	zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
	zmq_setsockopt(sock, ZMQ_SUBSCRIBE, TOPIC, strlen(TOPIC));
	if (is_pgm(ep)) {
		int kbps = (int)opt_i64(argc, argv, "--pgm-rate", 1000000), ivl = 2000;
		zmq_setsockopt(sock, ZMQ_RATE, &kbps, sizeof kbps);
		zmq_setsockopt(sock, ZMQ_RECOVERY_IVL, &ivl, sizeof ivl);
	}
	if (zmq_connect(sock, ep) != 0)
		fail("zmq_connect");
	printf("{\"event\":\"ready\"}\n");
	fflush(stdout);

	int64_t received = 0, warm = 0, first = 0, last = 0, min_int = 0, msgs = 0, bytes = 0, skew = 0, n = 0;
	int ended = 0;
	zmq_msg_t topic, body;
	zmq_msg_init(&topic);
	zmq_msg_init(&body);
	while (!deadline || now_ns() < deadline) {
		if (zmq_msg_recv(&topic, sock, 0) < 0) {
			if (errno == EAGAIN || errno == EINTR)
				continue;
			fail("zmq_msg_recv");
		}
		if (!zmq_msg_more(&topic))
			continue;
		if (zmq_msg_recv(&body, sock, 0) < 0)
			fail("zmq_msg_recv");
		int64_t now = now_ns();
		if (zmq_msg_size(&body) < HEADER)
			continue;
		const unsigned char *b = zmq_msg_data(&body);
		int64_t intended = get_i64(b), index = get_i64(b + 8);
		uint32_t ticks = get_u32(b + 16);
		if (index == END_INDEX) {
			ended = 1;
			break;
		}
		if (index < 0) {
			warm += ticks;
			continue;
		}
		int64_t l = now - intended;
		if (l < 0)
			skew += ticks;
		if (received == 0)
			first = now, min_int = intended;
		if (intended < min_int)
			min_int = intended;
		received += ticks;
		last = now;
		msgs++;
		bytes += (int64_t)zmq_msg_size(&topic) + (int64_t)zmq_msg_size(&body);
		if (n < max_samples) /* one sample per message, standing for its ticks (paced: one) */
			lat[n++] = l;
	}
	zmq_msg_close(&topic);
	zmq_msg_close(&body);
	zmq_close(sock);
	zmq_ctx_term(ctx);
	write_samples(lat_path, lat, n);

	printf("{\"event\":\"result\",\"result\":{\"received\":%" PRId64 ",\"warmup_received\":%" PRId64
	       ",\"first_recv\":%" PRId64 ",\"last_recv\":%" PRId64 ",\"min_intended\":%" PRId64
	       ",\"recv_messages\":%" PRId64 ",\"recv_bytes\":%" PRId64 ",\"clock_skew\":%" PRId64
	       ",\"ended\":%s,\"latency_file\":\"%s\",",
	       received, warm, first, last, min_int, msgs, bytes, skew, ended ? "true" : "false", lat_path);
	proc_json(cpus);
	printf("}}\n");
	fflush(stdout);
	return 0;
}

int main(int argc, char **argv) {
	if (argc >= 2 && strcmp(argv[1], "version") == 0) {
		int major, minor, patch;
		zmq_version(&major, &minor, &patch);
		printf("%d.%d.%d\n", major, minor, patch);
		return 0;
	}
	if (argc >= 2 && strcmp(argv[1], "pub") == 0)
		return pub(argc, argv);
	if (argc >= 2 && strcmp(argv[1], "sub") == 0)
		return sub(argc, argv);
	fprintf(stderr, "usage: peer version | pub --endpoint E ... | sub --endpoint E ...\n");
	return 2;
}
