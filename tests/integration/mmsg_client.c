/* sendmmsg/recvmmsg on an unconnected UDP socket, as libuv batches datagrams: sends "TEXT 1" and "TEXT 2" to
 * HOST:PORT in one sendmmsg, receives the two replies with recvmmsg, and prints
 * {"sent", "replies": [...], "sources": ["ip:port", ...]}. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

int main(int argc, char** argv)
{
    if (argc != 4) {
        fprintf(stderr, "usage: mmsg_client HOST PORT TEXT\n");
        return 2;
    }
    struct addrinfo hints;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = AF_INET;
    hints.ai_socktype = SOCK_DGRAM;
    struct addrinfo* to = NULL;
    if (getaddrinfo(argv[1], argv[2], &hints, &to) != 0) {
        printf("{\"error\": \"getaddrinfo\"}\n");
        return 1;
    }
    const int fd = socket(AF_INET, SOCK_DGRAM, 0);
    char text[2][256];
    struct iovec out[2];
    struct mmsghdr messages[2];
    memset(messages, 0, sizeof messages);
    for (int i = 0; i < 2; ++i) {
        snprintf(text[i], sizeof text[i], "%s %d", argv[3], i + 1);
        out[i].iov_base = text[i];
        out[i].iov_len = strlen(text[i]);
        messages[i].msg_hdr.msg_name = to->ai_addr;
        messages[i].msg_hdr.msg_namelen = to->ai_addrlen;
        messages[i].msg_hdr.msg_iov = &out[i];
        messages[i].msg_hdr.msg_iovlen = 1;
    }
    const int sent = sendmmsg(fd, messages, 2, 0);
    char reply[2][512];
    struct iovec in[2];
    struct sockaddr_in from[2];
    struct mmsghdr replies[2];
    memset(replies, 0, sizeof replies);
    for (int i = 0; i < 2; ++i) {
        in[i].iov_base = reply[i];
        in[i].iov_len = sizeof reply[i] - 1;
        replies[i].msg_hdr.msg_name = &from[i];
        replies[i].msg_hdr.msg_namelen = sizeof from[i];
        replies[i].msg_hdr.msg_iov = &in[i];
        replies[i].msg_hdr.msg_iovlen = 1;
    }
    int got = 0;
    while (got < 2) {
        struct pollfd p = {fd, POLLIN, 0};
        if (poll(&p, 1, 5000) <= 0)
            break;
        const int n = recvmmsg(fd, replies + got, 2 - got, MSG_DONTWAIT, NULL);
        if (n > 0)
            got += n;
    }
    printf("{\"sent\": %d, \"replies\": [", sent);
    for (int i = 0; i < got; ++i) {
        reply[i][replies[i].msg_len] = 0;
        printf("%s\"%s\"", i ? ", " : "", reply[i]);
    }
    printf("], \"sources\": [");
    for (int i = 0; i < got; ++i) {
        char ip[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &from[i].sin_addr, ip, sizeof ip);
        printf("%s\"%s:%u\"", i ? ", " : "", ip, ntohs(from[i].sin_port));
    }
    printf("]}\n");
    freeaddrinfo(to);
    close(fd);
    return got == 2 ? 0 : 1;
}
