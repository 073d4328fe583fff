/*
 * Publisher for scripts/bench-system: registers COUNT services "Bench NNN" of TYPE through
 * DNSServiceRegister on the local daemon, prints "ready <n>" once the daemon confirmed all of
 * them, then keeps them up until killed.
 *
 *   cc -O2 -o publish_many publish_many.c $(pkg-config --cflags --libs avahi-compat-libdns_sd)
 *   ./publish_many _bench._tcp 200
 *
 * Avahi's compatibility library makes one thread and one D-Bus connection per ref; the lab's
 * D-Bus allows 4096 connections.
 */
#include <arpa/inet.h>
#include <dns_sd.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int confirmed;

static void DNSSD_API register_reply(DNSServiceRef sd, DNSServiceFlags flags,
                                     DNSServiceErrorType err, const char *name,
                                     const char *regtype, const char *domain, void *context) {
    (void)sd; (void)flags; (void)regtype; (void)domain; (void)context;
    if (err != kDNSServiceErr_NoError) {
        fprintf(stderr, "register %s: %d\n", name ? name : "?", err);
        exit(1);
    }
    confirmed++;
}

int main(int argc, char **argv) {
    const char *type = argc > 1 ? argv[1] : "_bench._tcp";
    int count = argc > 2 ? atoi(argv[2]) : 200;
    DNSServiceRef *refs = calloc(count, sizeof *refs);
    struct pollfd *pfds = calloc(count, sizeof *pfds);
    if (!refs || !pfds)
        return 1;
    for (int i = 0; i < count; i++) {
        char name[64];
        char txt[64];
        snprintf(name, sizeof name, "Bench %03d", i);
        int len = snprintf(txt + 1, sizeof txt - 1, "index=%d", i);
        txt[0] = (char)len;
        DNSServiceErrorType e = DNSServiceRegister(&refs[i], 0, 0, name, type, NULL, NULL,
                                                   htons(10000 + i), len + 1, txt,
                                                   register_reply, NULL);
        if (e != kDNSServiceErr_NoError) {
            fprintf(stderr, "DNSServiceRegister(%s): %d\n", name, e);
            return 1;
        }
        pfds[i] = (struct pollfd){.fd = DNSServiceRefSockFD(refs[i]), .events = POLLIN};
    }
    int announced = 0;
    for (;;) {
        int r = poll(pfds, count, -1);
        if (r < 0 && errno != EINTR) {
            perror("poll");
            return 1;
        }
        for (int i = 0; i < count; i++) {
            if (!(pfds[i].revents & (POLLIN | POLLHUP | POLLERR)))
                continue;
            struct pollfd again = {.fd = pfds[i].fd, .events = POLLIN};
            if (poll(&again, 1, 0) <= 0)
                continue;
            if (DNSServiceProcessResult(refs[i]) != kDNSServiceErr_NoError) {
                fprintf(stderr, "daemon gone\n");
                return 1;
            }
        }
        if (!announced && confirmed >= count) {
            printf("ready %d\n", confirmed);
            fflush(stdout);
            announced = 1;
        }
    }
}
