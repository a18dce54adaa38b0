/* SPDX-License-Identifier: MIT */
/*
 * Peer address rules: which peers a listener admits, as allow and deny
 * lists of address prefixes, with systemd's IPAddressAllow=/IPAddressDeny=
 * meaning. A peer whose address matches an allow prefix is admitted;
 * otherwise one that matches a deny prefix is refused; otherwise it is
 * admitted. So "deny any" with "allow 10.1.0.0/16" admits 10.1/16 alone.
 *
 * A prefix is written ADDR/LEN (IPv4 or IPv6), a bare ADDR (/32 or /128),
 * "any" (every address of both families) or "localhost" (127.0.0.0/8 and
 * ::1). Lists are separated by commas or blanks. An IPv4-mapped IPv6 peer
 * (::ffff:a.b.c.d) matches IPv4 prefixes. Each list holds at most
 * RDQ_PREFIX_MAX prefixes, so a check costs at most 2 * RDQ_PREFIX_MAX
 * comparisons, whatever else there is.
 *
 * Shared by rdqd (ep.listen, listen.d) and rdqctl (ep serve's file). No
 * allocation, no logging.
 */
#ifndef RDQ_PROTOCOL_ADDR_PREFIX_H
#define RDQ_PROTOCOL_ADDR_PREFIX_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* Prefixes a list (allow, or deny) holds at most. */
#define RDQ_PREFIX_MAX 64
/* The longest text of a list on the wire: 64 of the longest prefixes, with separators. */
#define RDQ_PREFIX_TEXT_MAX 4096
/* The longest text of one prefix, with its NUL: an IPv6 address and "/128". */
#define RDQ_PREFIX_STRLEN 48

struct rdq_prefix {
	uint8_t addr[16]; /* the network, host bits cleared; IPv4 in the first 4 bytes */
	uint8_t family;	  /* AF_INET, AF_INET6, or AF_UNSPEC for "any" (both) */
	uint8_t len;	  /* bits that must match */
};

struct rdq_prefix_list {
	unsigned n;
	struct rdq_prefix v[RDQ_PREFIX_MAX];
};

/* A listener's rules; immutable once a listener holds them. */
struct rdq_peer_rules {
	struct rdq_prefix_list allow, deny;
};

/*
 * Adds the prefixes of text (len bytes, no NUL needed) to list. Returns 0;
 * -EINVAL with why in err (naming the bad prefix); or -E2BIG when the list
 * would hold more than RDQ_PREFIX_MAX. list is unchanged on failure.
 */
int rdq_prefix_list_add(struct rdq_prefix_list *list, const char *text, size_t len, char *err,
			size_t err_size);

/* Whether peer (AF_INET or AF_INET6; any other matches nothing) matches a prefix of list. */
bool rdq_prefix_list_match(const struct rdq_prefix_list *list, const struct sockaddr *peer);

/* Whether the rules admit peer. NULL rules admit everyone. */
bool rdq_peer_rules_admit(const struct rdq_peer_rules *rules, const struct sockaddr *peer);

/* Whether the rules say anything: some allow or deny prefix. */
bool rdq_peer_rules_any(const struct rdq_peer_rules *rules);

/* Whether a and b hold the same prefixes in the same order (NULL: none). */
bool rdq_peer_rules_equal(const struct rdq_peer_rules *a, const struct rdq_peer_rules *b);

/* Writes p as text ("10.0.0.0/8", "fd00::/8", "any") into buf (RDQ_PREFIX_STRLEN is enough). */
void rdq_prefix_format(const struct rdq_prefix *p, char *buf, size_t size);

/*
 * Writes a peer's address alone into buf (an IPv4-mapped one as IPv4), for
 * a reason the peer reads; "?" when it has none.
 */
void rdq_peer_format(const struct sockaddr *peer, char *buf, size_t size);

#endif
