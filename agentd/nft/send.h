/*
 * One batch to the kernel (send.c): the socket's buffers sized for it,
 * every page in one datagram, one acknowledgement per message read, and
 * a refused message named by the rule or the elements it carried.
 */
#ifndef KK_NFT_SEND_H
#define KK_NFT_SEND_H

#include "nft.h"

/* how long the nftables socket waits for the kernel's answers */
#define KK_NFT_RECV_TIMEOUT_MS	2000

int kk_nft_send_batch(struct kk_nft *n, const struct kk_nft_batch *b);

#endif
