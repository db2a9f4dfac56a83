/* Name resolution as a container does it: "dns serve" answers every A query on 127.0.0.1:53 with
 * 10.20.30.40 (at most 8 queries); "dns resolve NAME" is glibc getaddrinfo (hosts file, then the
 * nameserver of /etc/resolv.conf), printing the first IPv4 address. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netdb.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
int main(int argc, char **argv)
{
	if (argc == 3 && strcmp(argv[1], "resolve") == 0) {
		struct addrinfo hints = { .ai_family = AF_INET, .ai_socktype = SOCK_STREAM }, *res;
		int r = getaddrinfo(argv[2], NULL, &hints, &res);
		if (r) { printf("%s: %s\n", argv[2], gai_strerror(r)); return 1; }
		char ip[32];
		inet_ntop(AF_INET, &((struct sockaddr_in *)res->ai_addr)->sin_addr, ip, sizeof ip);
		printf("%s: %s\n", argv[2], ip);
		return 0;
	}
	int s = socket(AF_INET, SOCK_DGRAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(53), .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	if (bind(s, (struct sockaddr *)&a, sizeof a) < 0) { perror("bind"); return 1; }
	printf("serving\n");
	fflush(stdout);
	for (int served = 0; served < 8;) {
		unsigned char q[512];
		struct sockaddr_in from;
		socklen_t fl = sizeof from;
		ssize_t n = recvfrom(s, q, sizeof q, 0, (struct sockaddr *)&from, &fl);
		if (n < 12) continue;
		size_t qend = 12;
		while (qend < (size_t)n && q[qend]) qend += q[qend] + 1;
		qend += 5; /* the name's 0, QTYPE, QCLASS */
		if (qend > (size_t)n) continue;
		int is_a = q[qend - 4] == 0 && q[qend - 3] == 1;
		unsigned char r[600];
		memcpy(r, q, qend);
		r[2] = 0x81; r[3] = 0x80; /* a response, recursion available, no error */
		r[6] = 0; r[7] = is_a; r[8] = r[9] = r[10] = r[11] = 0;
		size_t len = qend;
		if (is_a) {
			unsigned char ans[] = { 0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 10, 20, 30, 40 };
			memcpy(r + len, ans, sizeof ans);
			len += sizeof ans;
		}
		sendto(s, r, len, 0, (struct sockaddr *)&from, fl);
		served++;
	}
	return 0;
}
