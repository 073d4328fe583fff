/*
 * Baseline for scripts/bench-system: browse a service type and resolve every instance until
 * COUNT distinct instances are resolved, with nothing but the daemon's own dns_sd.h API and a
 * poll(2) loop. Prints "elapsed_ms=<ms> resolved=<n> cpu_ms=<ms>", timed from just before
 * DNSServiceBrowse to the COUNT-th resolve reply (the same span the Rust counterpart,
 * examples/bench_browse_resolve.rs, measures).
 *
 *   cc -O2 -o browse_resolve browse_resolve.c $(pkg-config --cflags --libs avahi-compat-libdns_sd)
 *   ./browse_resolve _bench._tcp 200
 *
 * cpu_ms is the process's user+system CPU time (all threads, including the library's helper
 * threads) at that point.
 *
 * Avahi reports each instance once per IP protocol: like the Rust API, an instance (name,
 * interface) is resolved once. A resolve is one-shot: its ref is deallocated after the first
 * answer (outside the callback).
 */
#include <dns_sd.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#define MAX_OPS 8192

struct op {
    DNSServiceRef ref;
    int done;                       /* resolve answered: deallocate after ProcessResult */
    char name[kDNSServiceMaxDomainName];
    uint32_t interface;
};

static struct op *ops[MAX_OPS];
static int n_ops;
static int resolved;
static int failed;

/* Instances already being resolved (name + interface). */
static struct seen { char name[kDNSServiceMaxDomainName]; uint32_t interface; } *seen;
static int n_seen;

static double now_ms(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
}

static void DNSSD_API resolve_reply(DNSServiceRef sd, DNSServiceFlags flags, uint32_t interface,
                                    DNSServiceErrorType err, const char *fullname,
                                    const char *host, uint16_t port, uint16_t txt_len,
                                    const unsigned char *txt, void *context) {
    struct op *op = context;
    (void)sd; (void)flags; (void)interface; (void)fullname; (void)host; (void)port;
    (void)txt_len; (void)txt;
    if (op->done)
        return;
    op->done = 1;
    if (err == kDNSServiceErr_NoError)
        resolved++;
    else
        failed++;
}

static void DNSSD_API browse_reply(DNSServiceRef sd, DNSServiceFlags flags, uint32_t interface,
                                   DNSServiceErrorType err, const char *name,
                                   const char *regtype, const char *domain, void *context) {
    (void)sd; (void)context;
    if (err != kDNSServiceErr_NoError) {
        fprintf(stderr, "browse error %d\n", err);
        exit(1);
    }
    if (!(flags & kDNSServiceFlagsAdd))
        return;
    for (int i = 0; i < n_seen; i++)
        if (seen[i].interface == interface && strcmp(seen[i].name, name) == 0)
            return;
    if (n_ops >= MAX_OPS) {
        fprintf(stderr, "too many operations\n");
        exit(1);
    }
    snprintf(seen[n_seen].name, sizeof seen[n_seen].name, "%s", name);
    seen[n_seen++].interface = interface;
    struct op *op = calloc(1, sizeof *op);
    if (!op)
        exit(1);
    snprintf(op->name, sizeof op->name, "%s", name);
    op->interface = interface;
    DNSServiceErrorType e = DNSServiceResolve(&op->ref, 0, interface, name, regtype, domain,
                                              resolve_reply, op);
    if (e != kDNSServiceErr_NoError) {
        fprintf(stderr, "DNSServiceResolve(%s): %d\n", name, e);
        free(op);
        failed++;
        return;
    }
    ops[n_ops++] = op;
}

int main(int argc, char **argv) {
    const char *type = argc > 1 ? argv[1] : "_bench._tcp";
    int count = argc > 2 ? atoi(argv[2]) : 200;
    seen = calloc(MAX_OPS, sizeof *seen);
    if (!seen)
        return 1;

    double start = now_ms();
    struct op browse = {0};
    DNSServiceErrorType e = DNSServiceBrowse(&browse.ref, 0, 0, type, NULL, browse_reply, NULL);
    if (e != kDNSServiceErr_NoError) {
        fprintf(stderr, "DNSServiceBrowse: %d\n", e);
        return 1;
    }

    static struct pollfd pfds[MAX_OPS + 1];
    static struct op *polled[MAX_OPS + 1];
    while (resolved < count) {
        int n = 0;
        pfds[n] = (struct pollfd){.fd = DNSServiceRefSockFD(browse.ref), .events = POLLIN};
        polled[n++] = &browse;
        for (int i = 0; i < n_ops; i++) {
            pfds[n] = (struct pollfd){.fd = DNSServiceRefSockFD(ops[i]->ref), .events = POLLIN};
            polled[n++] = ops[i];
        }
        int r = poll(pfds, n, 10000);
        if (r < 0 && errno != EINTR) {
            perror("poll");
            return 1;
        }
        if (r == 0) {
            fprintf(stderr, "stalled: %d resolved, %d failed, %d pending\n", resolved, failed,
                    n_ops);
            return 1;
        }
        for (int i = 0; i < n; i++) {
            if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            /* Avahi's socket can wake spuriously; ProcessResult blocks with nothing pending. */
            struct pollfd again = {.fd = pfds[i].fd, .events = POLLIN};
            if (poll(&again, 1, 0) <= 0)
                continue;
            e = DNSServiceProcessResult(polled[i]->ref);
            if (e != kDNSServiceErr_NoError) {
                fprintf(stderr, "DNSServiceProcessResult: %d\n", e);
                return 1;
            }
        }
        /* Deallocate answered resolves (not from inside their callback). */
        int kept = 0;
        for (int i = 0; i < n_ops; i++) {
            if (ops[i]->done) {
                DNSServiceRefDeallocate(ops[i]->ref);
                free(ops[i]);
            } else {
                ops[kept++] = ops[i];
            }
        }
        n_ops = kept;
    }
    double elapsed = now_ms() - start;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    double cpu = (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1e3 +
                 (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e3;
    printf("elapsed_ms=%.1f resolved=%d cpu_ms=%.1f\n", elapsed, resolved, cpu);
    fflush(stdout);
    for (int i = 0; i < n_ops; i++)
        DNSServiceRefDeallocate(ops[i]->ref);
    DNSServiceRefDeallocate(browse.ref);
    return failed ? 2 : 0;
}
